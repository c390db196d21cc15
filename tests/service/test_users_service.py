"""Users administration: the real auth service (its RPCs and its token endpoint) behind
the gateway's ``/api/v1/users`` (Flask test client), on the test's broker vhost and
database; the gateway's revocation feed consumes the real ``user_updated`` events."""

from __future__ import annotations

import logging
import time

import pytest
from nameko.testing.utils import find_free_port

from services.auth import domain
from services.auth.service import AuthService
from shared.testing.gateway import gateway_app, gateway_config

pytestmark = pytest.mark.service

WITHIN_S = 10


@pytest.fixture
def auth_base(container_factory, service_config):
    port = find_free_port()
    base = f"http://127.0.0.1:{port}"
    container = container_factory(AuthService, {
        **service_config, "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}",
        "OIDC_ISSUER": f"{base}{domain.REALM_PATH}", "PASSWORD_MIN_LENGTH": 10})
    container.start()
    return base


@pytest.fixture
def app_config(auth_base, service_config, token_issuer):
    return gateway_config(service_config, token_issuer)


@pytest.fixture
def client(app_config):
    with gateway_app(app_config) as app:
        yield app.test_client()


def _admin(auth):
    return auth("admin", username="admin")


def _create(client, auth, **fields):
    body = {"username": "ana", "email": "ana@example.com", "first_name": "Ana",
            "last_name": "Lopes", "role": "data-scientist", "password": "a-long-secret",
            "temporary": False, **fields}
    response = client.post("/api/v1/users", json=body, headers=_admin(auth))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_create_list_get_edit_and_the_rules(client, auth, caplog):
    caplog.set_level(logging.DEBUG)
    user = _create(client, auth)
    assert not {"password", "password_hash"} & set(user)
    assert (user["username"], user["role"], user["active"]) == ("ana", "data-scientist", True)
    assert "a-long-secret" not in caplog.text

    short = client.post("/api/v1/users", headers=_admin(auth), json={
        "username": "bob", "role": "viewer", "password": "123456789"})
    assert short.status_code == 400
    assert "10" in short.get_json()["error"]["details"]["password"][0]
    same = client.post("/api/v1/users", headers=_admin(auth), json={
        "username": "bobbybobby", "role": "viewer", "password": "BobbyBobby"})
    assert list(same.get_json()["error"]["details"]) == ["password"]
    unknown = client.post("/api/v1/users", headers=_admin(auth), json={
        "username": "bob", "role": "root", "password": "a-long-secret", "extra": 1})
    assert unknown.status_code == 400
    assert {"role", "extra"} <= set(unknown.get_json()["error"]["details"])
    dup = client.post("/api/v1/users", headers=_admin(auth), json={
        "username": "ANA", "role": "viewer", "password": "a-long-secret"})
    assert dup.status_code == 409

    page = client.get("/api/v1/users?role=data-scientist", headers=_admin(auth)).get_json()
    assert {u["username"] for u in page["items"]} == {"datascientist", "ana"}
    assert page["total"] == 2
    found = client.get("/api/v1/users?q=lopes&active=true", headers=_admin(auth)).get_json()
    assert [u["id"] for u in found["items"]] == [user["id"]]
    assert client.get(f"/api/v1/users/{user['id']}", headers=_admin(auth)).status_code == 200
    assert client.get("/api/v1/users/nope", headers=_admin(auth)).status_code == 404

    edited = client.patch(f"/api/v1/users/{user['id']}", headers=_admin(auth),
                          json={"first_name": "Anna", "email": "anna@example.com"})
    assert edited.get_json()["first_name"] == "Anna"

    demo_admin = next(u for u in client.get("/api/v1/users?role=admin", headers=_admin(auth))
                      .get_json()["items"])
    for change in ({"active": False}, {"role": "viewer"}):
        refused = client.patch(f"/api/v1/users/{demo_admin['id']}", headers=_admin(auth),
                               json=change)
        assert refused.status_code == 409, refused.get_json()
    # With a second active admin, the first may go.
    client.patch(f"/api/v1/users/{user['id']}", headers=_admin(auth), json={"role": "admin"})
    assert client.patch(f"/api/v1/users/{demo_admin['id']}", headers=_admin(auth),
                        json={"role": "viewer"}).status_code == 200

    for role in ("data-scientist", "business-user", "viewer"):
        assert client.get("/api/v1/users", headers=auth(role)).status_code == 403
        assert client.post(f"/api/v1/users/{user['id']}/unlock",
                           headers=auth(role)).status_code == 403


def _me(client, token):
    return client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})


def _wait_refused(client, token):
    deadline = time.monotonic() + WITHIN_S
    while _me(client, token).status_code == 200:
        assert time.monotonic() < deadline, "the revoked token is still accepted"
        time.sleep(0.2)
    assert _me(client, token).status_code == 401


def test_revocation_reaches_the_gateway_by_event_and_at_start(client, auth, issue_token,
                                                              app_config):
    user = _create(client, auth)
    token = issue_token("ana", ["data-scientist"], sub=user["id"], iat=int(time.time()) - 2)
    assert _me(client, token).status_code == 200

    client.patch(f"/api/v1/users/{user['id']}", headers=_admin(auth), json={"role": "viewer"})
    _wait_refused(client, token)
    later = issue_token("ana", ["viewer"], sub=user["id"], iat=int(time.time()) + 1)
    assert _me(client, later).status_code == 200

    # A gateway started after the revocation learns it from auth (revocations_since).
    with gateway_app(app_config) as fresh:
        assert _me(fresh.test_client(), token).status_code == 401


def test_refresh_tokens_stop_working_after_deactivation(client, auth, auth_base):
    import requests

    user = _create(client, auth)
    token_url = f"{auth_base}{domain.REALM_PATH}/protocol/openid-connect/token"
    tokens = requests.post(token_url, timeout=10, data={
        "grant_type": "password", "client_id": "ml-platform-cli", "username": "ana",
        "password": "a-long-secret"}).json()
    assert client.patch(f"/api/v1/users/{user['id']}", headers=_admin(auth),
                        json={"active": False}).status_code == 200
    refreshed = requests.post(token_url, timeout=10, data={
        "grant_type": "refresh_token", "client_id": "ml-platform-cli",
        "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 400, refreshed.text

    reset = client.post(f"/api/v1/users/{user['id']}/reset-password", headers=_admin(auth),
                        json={"password": "short"})
    assert list(reset.get_json()["error"]["details"]) == ["password"]
    reset = client.post(f"/api/v1/users/{user['id']}/reset-password", headers=_admin(auth),
                        json={"password": "another-long-one", "temporary": True})
    assert reset.status_code == 200 and reset.get_json()["password_temporary"] is True
    unlocked = client.post(f"/api/v1/users/{user['id']}/unlock", headers=_admin(auth))
    assert unlocked.status_code == 200 and unlocked.get_json()["locked"] is False
