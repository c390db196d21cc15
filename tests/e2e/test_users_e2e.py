"""Utilisateurs through the whole platform (the ``stack`` fixture, as ``make run``):
an admin creates a user, the user signs in, and changing their role or deactivating
them ends their live access token within seconds (the gateway's deny-list fed by the
auth service's ``user_updated`` event) and their refresh token (auth side). Also the
password policy, duplicates, the last admin, temporary passwords and unlocking."""

from __future__ import annotations

import time
import uuid

import pytest
import requests

pytestmark = pytest.mark.e2e

ADMIN = ("admin", "admin123")
#: "within seconds": generous on a loaded machine, still far below a token's lifetime.
REVOCATION_WITHIN_S = 10


def _admin(stack) -> dict:
    return stack.auth(stack.token(*ADMIN))


def _grant(stack, username: str, password: str) -> requests.Response:
    return requests.post(f"{stack.issuer}/protocol/openid-connect/token", timeout=15, data={
        "grant_type": "password", "client_id": "ml-platform-cli",
        "username": username, "password": password})


def _refresh(stack, refresh_token: str) -> requests.Response:
    return requests.post(f"{stack.issuer}/protocol/openid-connect/token", timeout=15, data={
        "grant_type": "refresh_token", "client_id": "ml-platform-cli",
        "refresh_token": refresh_token})


def _me(stack, token: str) -> requests.Response:
    return requests.get(stack.api("/me"), headers=stack.auth(token), timeout=15)


def _until_refused(stack, token: str) -> float:
    started = time.monotonic()
    while _me(stack, token).status_code == 200:
        assert time.monotonic() - started < REVOCATION_WITHIN_S, "token still accepted"
        time.sleep(0.2)
    assert _me(stack, token).status_code == 401
    return time.monotonic() - started


def _create(stack, **fields) -> dict:
    body = {"username": f"u{uuid.uuid4().hex[:8]}", "email": "u@example.com",
            "first_name": "Ana", "last_name": "Lopes", "role": "data-scientist",
            "password": "correct-horse-1", "temporary": False, **fields}
    response = requests.post(stack.api("/users"), headers=_admin(stack), json=body, timeout=15)
    assert response.status_code == 201, response.text
    return response.json()


def test_role_change_and_deactivation_revoke_live_tokens(stack):
    user = _create(stack)
    assert "password" not in user and "password_hash" not in user
    assert (user["role"], user["active"], user["locked"]) == ("data-scientist", True, False)

    tokens = _grant(stack, user["username"], "correct-horse-1").json()
    assert _me(stack, tokens["access_token"]).json()["roles"] == ["data-scientist"]

    patched = requests.patch(stack.api(f"/users/{user['id']}"), headers=_admin(stack),
                             json={"role": "viewer"}, timeout=15)
    assert patched.status_code == 200 and patched.json()["role"] == "viewer"
    _until_refused(stack, tokens["access_token"])
    refused = _refresh(stack, tokens["refresh_token"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"

    time.sleep(1.1)  # iat is in whole seconds: a token of the revocation's second is refused
    again = _grant(stack, user["username"], "correct-horse-1").json()
    assert _me(stack, again["access_token"]).json()["roles"] == ["viewer"]

    off = requests.patch(stack.api(f"/users/{user['id']}"), headers=_admin(stack),
                         json={"active": False}, timeout=15)
    assert off.status_code == 200 and off.json()["active"] is False
    _until_refused(stack, again["access_token"])
    assert _refresh(stack, again["refresh_token"]).status_code == 400
    assert _grant(stack, user["username"], "correct-horse-1").status_code in (400, 401)

    listed = requests.get(stack.api("/users"), headers=_admin(stack), timeout=15,
                          params={"q": user["username"], "active": "false"}).json()
    assert [u["id"] for u in listed["items"]] == [user["id"]]
    reactivated = requests.patch(stack.api(f"/users/{user['id']}"), headers=_admin(stack),
                                 json={"active": True}, timeout=15)
    assert reactivated.status_code == 200
    time.sleep(1.1)
    assert _me(stack, _grant(stack, user["username"], "correct-horse-1").json()
               ["access_token"]).status_code == 200


def test_rules_password_policy_duplicates_last_admin(stack):
    headers = _admin(stack)
    base = {"username": f"p{uuid.uuid4().hex[:8]}", "role": "viewer"}
    short = requests.post(stack.api("/users"), headers=headers, timeout=15,
                          json={**base, "password": "abc"})
    assert short.status_code == 400 and "password" in short.json()["error"]["details"]
    same = requests.post(stack.api("/users"), headers=headers, timeout=15,
                         json={**base, "password": base["username"].upper()})
    assert same.status_code == 400 and "password" in same.json()["error"]["details"]
    assert "abc" not in stack.output()
    bad_role = requests.post(stack.api("/users"), headers=headers, timeout=15,
                             json={**base, "role": "root", "password": "long-enough-1"})
    assert bad_role.status_code == 400 and "role" in bad_role.json()["error"]["details"]
    _create(stack, username=base["username"])
    dup = requests.post(stack.api("/users"), headers=headers, timeout=15,
                        json={**base, "password": "long-enough-1"})
    assert dup.status_code == 409

    admins = requests.get(stack.api("/users"), headers=headers, timeout=15,
                          params={"role": "admin", "active": "true"}).json()["items"]
    if len(admins) == 1:  # the demo admin alone: it cannot leave
        for change in ({"active": False}, {"role": "viewer"}):
            last = requests.patch(stack.api(f"/users/{admins[0]['id']}"), headers=headers,
                                  json=change, timeout=15)
            assert last.status_code == 409, last.text

    viewer = stack.auth(stack.token("viewer", "password123"))
    assert requests.get(stack.api("/users"), headers=viewer, timeout=15).status_code == 403
    assert requests.get(stack.api("/users"), timeout=15).status_code == 401


def test_temporary_password_reset_and_unlock(stack):
    user = _create(stack, temporary=True)
    assert user["password_temporary"] is True
    # A temporary password opens no session for scripts: it is changed on the login page.
    assert _grant(stack, user["username"], "correct-horse-1").status_code == 400

    reset = requests.post(stack.api(f"/users/{user['id']}/reset-password"),
                          headers=_admin(stack), timeout=15,
                          json={"password": "new-secret-42", "temporary": False})
    assert reset.status_code == 200 and reset.json()["password_temporary"] is False
    assert _grant(stack, user["username"], "new-secret-42").status_code == 200
    weak = requests.post(stack.api(f"/users/{user['id']}/reset-password"),
                         headers=_admin(stack), json={"password": "x"}, timeout=15)
    assert weak.status_code == 400 and "password" in weak.json()["error"]["details"]

    for _ in range(5):
        _grant(stack, user["username"], "wrong-password")
    locked = requests.get(stack.api(f"/users/{user['id']}"), headers=_admin(stack),
                          timeout=15).json()
    assert locked["locked"] is True and locked["locked_until"]
    assert _grant(stack, user["username"], "new-secret-42").status_code == 429
    unlocked = requests.post(stack.api(f"/users/{user['id']}/unlock"), headers=_admin(stack),
                             timeout=15)
    assert unlocked.status_code == 200 and unlocked.json()["locked"] is False
    assert _grant(stack, user["username"], "new-secret-42").status_code == 200
