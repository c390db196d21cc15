"""Contract test of ``KeycloakDirectory`` (services/gateway/keycloak_directory.py).

No Keycloak runs here: a small local HTTP server answers as Keycloak's Admin REST API
does, with its documented shapes (UserRepresentation, RoleRepresentation,
CredentialRepresentation, brute-force status, ``Location`` of a created user, 409 on a
taken username, 401 without the service account's bearer token). It checks what the
directory sends and maps; a real Keycloak is not exercised by this suite.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from services.gateway.keycloak_directory import KeycloakDirectory
from services.gateway.revocation import DenyList
from shared.errors import Conflict, ValidationError

pytestmark = pytest.mark.service

REALM = "ml-platform"
ROLES = {name: {"id": f"role-{name}", "name": name, "composite": False, "clientRole": False}
         for name in ("admin", "data-scientist", "business-user", "viewer")}


class FakeKeycloak:
    def __init__(self):
        self.users: dict[str, dict] = {}
        self.roles: dict[str, set[str]] = {}
        self.credentials: dict[str, dict] = {}
        self.failures: dict[str, int] = {}
        self.logouts: list[str] = []
        self.token = uuid.uuid4().hex
        self.add("admin", "admin", enabled=True)

    def add(self, username: str, role: str, enabled: bool = True) -> str:
        user_id = str(uuid.uuid4())
        self.users[user_id] = {"id": user_id, "username": username, "enabled": enabled,
                               "email": f"{username}@example.com", "firstName": username,
                               "lastName": "X", "createdTimestamp": int(time.time() * 1000),
                               "requiredActions": []}
        self.roles[user_id] = {role}
        return user_id


def handler_for(kc: FakeKeycloak):
    admin = f"/admin/realms/{REALM}"

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _reply(self, status: int, body=None, headers: dict | None = None):
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            if body is not None:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self):
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _route(self, method: str):
            path, _, query = self.path.partition("?")
            if path == f"/realms/{REALM}/protocol/openid-connect/token" and method == "POST":
                form = dict(p.split("=", 1) for p in self._body().decode().split("&"))
                if form.get("grant_type") != "client_credentials" or form.get(
                        "client_secret") != "s3cret":
                    return self._reply(401, {"error": "unauthorized_client"})
                return self._reply(200, {"access_token": kc.token, "expires_in": 300,
                                         "token_type": "Bearer"})
            if self.headers.get("Authorization") != f"Bearer {kc.token}":
                return self._reply(401, {"error": "HTTP 401 Unauthorized"})
            if not path.startswith(admin):
                return self._reply(404, {"error": "not found"})
            rest = path[len(admin):]
            body = self._body()
            data = json.loads(body) if body else None
            if rest == "/users" and method == "GET":
                search = dict(p.split("=", 1) for p in query.split("&") if p).get("search")
                found = [u for u in kc.users.values()
                         if not search or search.lower() in u["username"]]
                return self._reply(200, found)
            if rest == "/users" and method == "POST":
                if any(u["username"] == data["username"] for u in kc.users.values()):
                    return self._reply(409, {"errorMessage": "User exists with same username"})
                user_id = kc.add(data["username"], "none", enabled=data["enabled"])
                kc.roles[user_id] = set()
                kc.users[user_id].update({k: data.get(k) for k in ("email", "firstName",
                                                                   "lastName")})
                kc.credentials[user_id] = data["credentials"][0]
                return self._reply(201, None, {
                    "Location": f"http://{self.headers['Host']}{admin}/users/{user_id}"})
            match = re.fullmatch(r"/roles/([^/]+)(/users)?", rest)
            if match and method == "GET":
                role = ROLES.get(match.group(1))
                if role is None:
                    return self._reply(404, {"error": "Could not find role"})
                if match.group(2):
                    return self._reply(200, [u for uid, u in kc.users.items()
                                             if role["name"] in kc.roles[uid]])
                return self._reply(200, role)
            match = re.fullmatch(r"/users/([^/]+)(/.*)?", rest)
            if match and match.group(1) in kc.users:
                user_id, sub = match.group(1), match.group(2) or ""
                if sub == "" and method == "GET":
                    return self._reply(200, kc.users[user_id])
                if sub == "" and method == "PUT":
                    kc.users[user_id].update(data)
                    return self._reply(204)
                if sub == "/role-mappings/realm":
                    if method == "GET":
                        return self._reply(200, [ROLES[r] for r in kc.roles[user_id]])
                    names = {r["name"] for r in data}
                    if method == "POST":
                        kc.roles[user_id] |= names
                    else:
                        kc.roles[user_id] -= names
                    return self._reply(204)
                if sub == "/reset-password" and method == "PUT":
                    assert data["type"] == "password"
                    kc.credentials[user_id] = data
                    return self._reply(204)
                if sub == "/logout" and method == "POST":
                    kc.logouts.append(user_id)
                    return self._reply(204)
            match = re.fullmatch(r"/attack-detection/brute-force/users/([^/]+)", rest)
            if match:
                user_id = match.group(1)
                if method == "DELETE":
                    kc.failures.pop(user_id, None)
                    return self._reply(204)
                failures = kc.failures.get(user_id, 0)
                return self._reply(200, {"numFailures": failures, "disabled": failures >= 3,
                                         "lastIPFailure": "n/a", "lastFailure": 0})
            return self._reply(404, {"error": "User not found"})

        def do_GET(self):
            self._route("GET")

        def do_POST(self):
            self._route("POST")

        def do_PUT(self):
            self._route("PUT")

        def do_DELETE(self):
            self._route("DELETE")

    return Handler


@pytest.fixture
def keycloak():
    kc = FakeKeycloak()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(kc))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    kc.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield kc
    server.shutdown()
    server.server_close()


@pytest.fixture
def directory(keycloak):
    deny = DenyList()
    found = KeycloakDirectory(keycloak.url, REALM, "ml-platform-admin", "s3cret", deny,
                              password_min_length=10)
    found.deny_list = deny
    return found


def test_create_list_and_get_map_keycloak_representations(directory, keycloak):
    user = directory.create({"username": "Ana", "email": "ana@example.com", "first_name": "Ana",
                             "last_name": "Lopes", "role": "data-scientist",
                             "password": "a-long-secret", "temporary": True})
    assert (user["username"], user["role"], user["active"]) == ("ana", "data-scientist", True)
    assert "password" not in user
    assert keycloak.credentials[user["id"]] == {"type": "password", "value": "a-long-secret",
                                                "temporary": True}
    assert keycloak.roles[user["id"]] == {"data-scientist"}
    page = directory.find({"role": "data-scientist", "page": 1, "per_page": 20})
    assert [u["username"] for u in page["items"]] == ["ana"] and page["total"] == 1
    assert directory.find({"q": "ana", "active": False})["total"] == 0
    with pytest.raises(Conflict):
        directory.create({"username": "ana", "role": "viewer", "password": "a-long-secret"})
    with pytest.raises(ValidationError) as caught:
        directory.create({"username": "bob", "role": "viewer", "password": "short"})
    assert list(caught.value.details) == ["password"]


def test_role_change_and_deactivation_revoke_and_log_out(directory, keycloak):
    user = directory.create({"username": "ana", "role": "data-scientist",
                             "password": "a-long-secret"})
    before = int(time.time())
    changed = directory.update(user["id"], {"role": "viewer"})
    assert changed["role"] == "viewer" and keycloak.roles[user["id"]] == {"viewer"}
    assert directory.deny_list.refuses({"sub": user["id"], "iat": before})
    assert keycloak.logouts == [user["id"]]
    off = directory.update(user["id"], {"active": False, "first_name": "Anna"})
    assert off["active"] is False and keycloak.users[user["id"]]["firstName"] == "Anna"
    assert keycloak.logouts == [user["id"], user["id"]]


def test_the_last_active_admin_stays(directory, keycloak):
    (admin_id,) = [uid for uid, roles in keycloak.roles.items() if "admin" in roles]
    for change in ({"active": False}, {"role": "viewer"}):
        with pytest.raises(Conflict):
            directory.update(admin_id, change)
    other = directory.create({"username": "root2", "role": "admin", "password": "a-long-secret"})
    assert directory.update(admin_id, {"role": "viewer"})["role"] == "viewer"
    with pytest.raises(Conflict):
        directory.update(other["id"], {"active": False})


def test_reset_password_and_unlock(directory, keycloak):
    user = directory.create({"username": "ana", "role": "viewer", "password": "a-long-secret"})
    with pytest.raises(ValidationError):
        directory.reset_password(user["id"], {"password": "ana"})
    directory.reset_password(user["id"], {"password": "another-long-one", "temporary": False})
    assert keycloak.credentials[user["id"]]["value"] == "another-long-one"
    keycloak.failures[user["id"]] = 5
    assert directory.get(user["id"])["locked"] is True
    assert directory.unlock(user["id"])["locked"] is False
