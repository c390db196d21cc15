"""The auth service as a running nameko container (real broker, real embedded DB).

Tokens are checked the way the gateway will check them: against the issuer's
JWKS, key chosen by ``kid``, RS256 pinned, ``iss``/``aud``/``exp`` required.
"""

from __future__ import annotations

import eventlet
import pytest
import requests
from jose import jwk, jwt
from nameko.standalone.rpc import ClusterRpcProxy
from nameko.testing.utils import find_free_port, get_extension
from prometheus_client import REGISTRY

from services.auth import domain
from services.auth.dependencies import KeyRepository
from services.auth.service import AuthService
from shared.errors import NotFound

pytestmark = pytest.mark.service

DEMO = {user.username: user for user in domain.DEMO_USERS}


class Issuer:
    """A started auth container and an HTTP client for its OIDC endpoints."""

    def __init__(self, container, base: str, issuer: str):
        self.container = container
        self.base = base  # where this container listens
        self.issuer = issuer  # what it writes in tokens (the same for all replicas)
        self.oidc = f"{base}{domain.REALM_PATH}/protocol/openid-connect"

    def token(self, **form) -> requests.Response:
        return requests.post(f"{self.oidc}/token", data=form, timeout=10)

    def login(
        self,
        username: str,
        password: str | None = None,
        client_id: str = domain.CLIENT_CLI,
        **extra,
    ) -> requests.Response:
        password = DEMO[username].password if password is None else password
        return self.token(
            grant_type="password",
            client_id=client_id,
            username=username,
            password=password,
            **extra,
        )

    def refresh(self, refresh_token: str, client_id: str = domain.CLIENT_CLI) -> requests.Response:
        return self.token(
            grant_type="refresh_token", client_id=client_id, refresh_token=refresh_token
        )

    def jwks(self) -> dict:
        return requests.get(f"{self.oidc}/certs", timeout=10).json()

    def verify(self, token: str, audience: str = domain.DEFAULT_AUDIENCE) -> dict:
        """Verify as the gateway will: key by kid from the JWKS, strict options."""
        kid = jwt.get_unverified_header(token)["kid"]
        (key,) = [k for k in self.jwks()["keys"] if k["kid"] == kid]
        return jwt.decode(
            token,
            jwk.construct(key, "RS256"),
            algorithms=["RS256"],
            issuer=self.issuer,
            audience=audience,
            options={"require_exp": True, "require_aud": True, "require_iat": True},
        )

    def userinfo(self, token: str) -> requests.Response:
        return requests.get(
            f"{self.oidc}/userinfo", timeout=10, headers={"Authorization": f"Bearer {token}"}
        )

    @property
    def keys(self) -> KeyRepository:
        return get_extension(self.container, KeyRepository)


@pytest.fixture
def start_issuer(container_factory, service_config):
    """Start an auth container (on a free port unless told); each call is a new container
    on the same database and vhost."""

    def start(port: int | None = None, **overrides) -> Issuer:
        port = port or find_free_port()
        base = f"http://127.0.0.1:{port}"
        config = {
            **service_config,
            "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}",
            "OIDC_ISSUER": f"{base}{domain.REALM_PATH}",
            **overrides,
        }
        container = container_factory(AuthService, config)
        container.start()
        return Issuer(container, base, config["OIDC_ISSUER"])

    return start


@pytest.fixture
def issuer(start_issuer) -> Issuer:
    return start_issuer()


def token_requests(grant_type: str, outcome: str) -> float:
    return (
        REGISTRY.get_sample_value(
            "ml_auth_token_requests_total", {"grant_type": grant_type, "outcome": outcome}
        )
        or 0.0
    )


# -- discovery and keys -------------------------------------------------------------


def test_discovery_document(issuer):
    response = requests.get(f"{issuer.issuer}/.well-known/openid-configuration", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    doc = response.json()
    assert doc["issuer"] == issuer.issuer
    assert doc["token_endpoint"] == f"{issuer.oidc}/token"
    assert doc["jwks_uri"] == f"{issuer.oidc}/certs"
    assert doc["userinfo_endpoint"] == f"{issuer.oidc}/userinfo"
    assert doc["end_session_endpoint"] == f"{issuer.oidc}/logout"
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert {"password", "refresh_token"} <= set(doc["grant_types_supported"])
    # The advertised endpoints are the ones served.
    assert requests.get(doc["jwks_uri"], timeout=10).status_code == 200


def test_jwks_lists_one_rs256_signing_key(issuer):
    (key,) = issuer.jwks()["keys"]
    assert key["kty"] == "RSA"
    assert key["alg"] == "RS256"
    assert key["use"] == "sig"
    assert key["kid"] and key["n"] and key["e"] == "AQAB"
    assert "d" not in key and "p" not in key  # never the private parts


# -- password grant -------------------------------------------------------------------


@pytest.mark.parametrize("username", list(DEMO))
def test_password_grant_for_each_demo_user(issuer, username):
    response = issuer.login(username)
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 300
    assert body["refresh_expires_in"] == 1800
    assert body["scope"] == "profile email"

    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "RS256" and header["typ"] == "JWT"
    assert header["kid"] == issuer.jwks()["keys"][0]["kid"]

    claims = issuer.verify(body["access_token"])
    demo = DEMO[username]
    assert claims["iss"] == issuer.issuer
    assert claims["aud"] == ["ml-platform-api", "account"]
    assert claims["exp"] - claims["iat"] == 300
    assert claims["typ"] == "Bearer"
    assert claims["azp"] == domain.CLIENT_CLI
    assert claims["realm_access"] == {"roles": [demo.role]}
    assert claims["preferred_username"] == username
    assert claims["email"] == demo.email
    assert (claims["given_name"], claims["family_name"]) == (demo.first_name, demo.last_name)
    assert claims["name"] == f"{demo.first_name} {demo.last_name}"
    assert claims["sub"] and claims["jti"]

    info = issuer.userinfo(body["access_token"])
    assert info.status_code == 200
    assert info.json()["sub"] == claims["sub"]
    assert info.json()["preferred_username"] == username
    assert info.json()["realm_access"] == {"roles": [demo.role]}


def test_openid_scope_adds_an_id_token(issuer):
    body = issuer.login("admin", scope="openid").json()
    assert issuer.verify(body["access_token"])["azp"] == domain.CLIENT_CLI
    assert body["scope"] == "openid profile email"
    id_claims = issuer.verify(body["id_token"], audience=domain.CLIENT_CLI)
    assert id_claims["typ"] == "ID" and id_claims["preferred_username"] == "admin"


def test_web_client_has_no_password_grant(issuer):
    # ml-platform-web signs in through the login page only (code + PKCE, contract C1).
    response = issuer.login("admin", client_id=domain.CLIENT_WEB)
    assert (response.status_code, response.json()["error"]) == (400, "unsupported_grant_type")


def test_username_is_case_insensitive(issuer):
    assert issuer.login("Admin", "admin123").status_code == 200


def test_wrong_password_and_unknown_user_get_the_same_answer(issuer):
    before = token_requests("password", "invalid_grant")
    wrong = issuer.login("admin", "admin124")
    unknown = issuer.login("nobody-here", "admin123")
    assert wrong.status_code == unknown.status_code == 401
    assert (
        wrong.json()
        == unknown.json()
        == {"error": "invalid_grant", "error_description": "Invalid user credentials"}
    )
    assert token_requests("password", "invalid_grant") == before + 2


# -- refresh grant ------------------------------------------------------------------------


def test_refresh_grant_issues_new_tokens(issuer):
    first = issuer.login("datascientist").json()
    refresh_claims = jwt.get_unverified_claims(first["refresh_token"])
    assert refresh_claims["typ"] == "Refresh"
    before = token_requests("refresh_token", "success")

    response = issuer.refresh(first["refresh_token"])
    assert response.status_code == 200, response.text
    second = response.json()
    claims = issuer.verify(second["access_token"])
    assert claims["preferred_username"] == "datascientist"
    assert claims["realm_access"] == {"roles": ["data-scientist"]}
    assert claims["jti"] != issuer.verify(first["access_token"])["jti"]
    assert claims["sid"] == refresh_claims["sid"]  # same login session
    assert token_requests("refresh_token", "success") == before + 1
    # The new refresh token works as well.
    assert issuer.refresh(second["refresh_token"]).status_code == 200


def test_refresh_is_verified_strictly(issuer):
    tokens = issuer.login("business").json()
    # An access token is not a refresh token.
    response = issuer.refresh(tokens["access_token"])
    assert (response.status_code, response.json()["error"]) == (400, "invalid_grant")
    # A refresh token belongs to the client it was issued to.
    response = issuer.refresh(tokens["refresh_token"], client_id=domain.CLIENT_WEB)
    assert (response.status_code, response.json()["error"]) == (400, "invalid_grant")
    # Tampered payload: signature check fails.
    head, payload, sig = tokens["refresh_token"].split(".")
    response = issuer.refresh(f"{head}.{payload}x.{sig}")
    assert (response.status_code, response.json()["error"]) == (400, "invalid_grant")
    response = issuer.refresh("garbage")
    assert (response.status_code, response.json()["error"]) == (400, "invalid_grant")


def test_logout_ends_the_session(issuer):
    tokens = issuer.login("viewer").json()
    response = requests.post(
        f"{issuer.oidc}/logout",
        timeout=10,
        data={"client_id": domain.CLIENT_CLI, "refresh_token": tokens["refresh_token"]},
    )
    assert response.status_code == 204
    response = issuer.refresh(tokens["refresh_token"])
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_grant", "error_description": "Session not active"}


# -- deactivated users ----------------------------------------------------------------------


def test_deactivated_user_gets_no_token_and_cannot_refresh(issuer, mongo_db):
    tokens = issuer.login("viewer").json()
    mongo_db.users.update_one({"username": "viewer"}, {"$set": {"active": False}})

    response = issuer.login("viewer")
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_grant", "error_description": "Account disabled"}
    assert "access_token" not in response.json()
    # The wrong password still gets the uniform answer: disabled is not revealed to guessers.
    assert issuer.login("viewer", "wrong").status_code == 401

    response = issuer.refresh(tokens["refresh_token"])
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert issuer.userinfo(tokens["access_token"]).status_code == 401

    # Re-activated: the old session was ended, a new login works.
    mongo_db.users.update_one({"username": "viewer"}, {"$set": {"active": True}})
    assert issuer.refresh(tokens["refresh_token"]).status_code == 400
    assert issuer.login("viewer").status_code == 200


# -- malformed requests -------------------------------------------------------------------------


def test_unknown_client(issuer):
    response = issuer.login("admin", client_id="somebody-else")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_unsupported_grant(issuer):
    before = token_requests("unsupported", "unsupported_grant_type")
    response = issuer.token(grant_type="client_credentials", client_id=domain.CLIENT_CLI)
    assert response.status_code == 400
    assert response.json() == {
        "error": "unsupported_grant_type",
        "error_description": "Unsupported grant_type",
    }
    assert token_requests("unsupported", "unsupported_grant_type") == before + 1


@pytest.mark.parametrize("missing", ["grant_type", "client_id", "username", "password"])
def test_missing_fields(issuer, missing):
    form = {
        "grant_type": "password",
        "client_id": domain.CLIENT_CLI,
        "username": "admin",
        "password": "admin123",
    }
    del form[missing]
    response = issuer.token(**form)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert missing in response.json()["error_description"]


def test_json_body_is_not_a_form(issuer):
    response = requests.post(
        f"{issuer.oidc}/token",
        timeout=10,
        json={
            "grant_type": "password",
            "client_id": domain.CLIENT_CLI,
            "username": "admin",
            "password": "admin123",
        },
    )
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")


def test_userinfo_without_or_with_bad_token(issuer):
    response = requests.get(f"{issuer.oidc}/userinfo", timeout=10)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    refresh = issuer.login("admin").json()["refresh_token"]
    assert issuer.userinfo(refresh).status_code == 401  # a refresh token is no access token
    assert issuer.userinfo("x.y.z").status_code == 401


# -- persistence, rotation, replicas ------------------------------------------------------------


def test_key_and_sessions_survive_a_restart(start_issuer, mongo_db):
    first = start_issuer()
    kid = first.jwks()["keys"][0]["kid"]
    tokens = first.login("admin").json()
    first.container.stop()

    # Same port, so the same issuer URL: a restart, as in production.
    second = start_issuer(port=int(first.base.rsplit(":", 1)[1]))
    assert [key["kid"] for key in second.jwks()["keys"]] == [kid]
    assert mongo_db.signing_keys.count_documents({}) == 1
    assert mongo_db.users.count_documents({}) == len(DEMO)  # demo users made once
    # A token issued before the restart is still good, and so is its session.
    assert second.userinfo(tokens["access_token"]).status_code == 200
    response = second.refresh(tokens["refresh_token"])
    assert response.status_code == 200
    assert jwt.get_unverified_header(response.json()["access_token"])["kid"] == kid


def test_two_replicas_starting_together(start_issuer, mongo_db):
    # Replicas listen on their own ports but share one public issuer URL.
    port = find_free_port()
    shared_issuer = f"http://127.0.0.1:{port}{domain.REALM_PATH}"
    replicas = [
        eventlet.spawn(start_issuer, port=port),
        eventlet.spawn(start_issuer, OIDC_ISSUER=shared_issuer),
    ]
    a, b = (replica.wait() for replica in replicas)
    assert mongo_db.users.count_documents({}) == len(DEMO)
    assert mongo_db.signing_keys.count_documents({}) == 1
    assert a.jwks() == b.jwks()
    # A token from one replica is refreshed by the other.
    tokens = a.login("business").json()
    assert b.refresh(tokens["refresh_token"]).status_code == 200


def test_key_rotation_keeps_old_tokens_valid(issuer):
    old_kid = issuer.jwks()["keys"][0]["kid"]
    old = issuer.login("admin").json()
    new_kid = issuer.keys.rotate()
    assert new_kid != old_kid
    assert [key["kid"] for key in issuer.jwks()["keys"]] == [new_kid, old_kid]
    fresh = issuer.login("admin").json()
    assert jwt.get_unverified_header(fresh["access_token"])["kid"] == new_kid
    issuer.verify(fresh["access_token"])
    issuer.verify(old["access_token"])
    assert issuer.userinfo(old["access_token"]).status_code == 200

    issuer.keys.retire(old_kid)
    assert [key["kid"] for key in issuer.jwks()["keys"]] == [new_kid]
    assert issuer.userinfo(old["access_token"]).status_code == 401


# -- RPC ------------------------------------------------------------------------------------------


def test_get_user_and_list_users(issuer, service_config):
    with ClusterRpcProxy(service_config, timeout=10) as cluster:
        user = cluster.auth.get_user("datascientist")
        assert user["username"] == "datascientist"
        assert user["role"] == "data-scientist"
        assert user["roles"] == ["data-scientist"]
        assert user["email"] == "datascientist@example.com"
        assert user["active"] is True
        assert user["password_temporary"] is False
        assert user["created_at"].endswith("Z")
        assert "password_hash" not in user and "password" not in user

        users = cluster.auth.list_users()
        assert [u["username"] for u in users] == sorted(DEMO)
        assert all("password_hash" not in u for u in users)
        assert {u["id"] for u in users} >= {user["id"]}

        with pytest.raises(NotFound):
            cluster.auth.get_user("nobody")


# -- browsers ----------------------------------------------------------------------------------


def test_cors_for_the_web_app_origin_only(issuer):
    web = {"Origin": "http://localhost:3000"}
    preflight = requests.options(
        f"{issuer.oidc}/userinfo",
        timeout=10,
        headers={
            **web,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    token = issuer.login("admin").json()["access_token"]
    info = requests.get(
        f"{issuer.oidc}/userinfo", timeout=10, headers={**web, "Authorization": f"Bearer {token}"}
    )
    assert info.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    # The token endpoint (a simple form POST, no preflight) answers the web app too.
    response = requests.post(
        f"{issuer.oidc}/token",
        timeout=10,
        headers=web,
        data={
            "grant_type": "password",
            "client_id": domain.CLIENT_CLI,
            "username": "viewer",
            "password": "password123",
        },
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    evil = requests.get(f"{issuer.oidc}/certs", timeout=10, headers={"Origin": "http://evil"})
    assert evil.status_code == 200
    assert "Access-Control-Allow-Origin" not in evil.headers
    evil = requests.options(f"{issuer.oidc}/token", timeout=10, headers={"Origin": "http://evil"})
    assert "Access-Control-Allow-Origin" not in evil.headers
    assert "Access-Control-Allow-Methods" not in evil.headers
