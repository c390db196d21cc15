"""``KeycloakDirectory``: the user directory on Keycloak's Admin REST API.

Used when the platform trusts an external Keycloak (``USER_DIRECTORY=keycloak``, see
``users_directory``). Shapes are Keycloak's (UserRepresentation, RoleRepresentation,
CredentialRepresentation, brute-force status); ``tests/service/test_keycloak_directory.py``
is a contract test against a local HTTP server answering with those documented shapes.
The rules (password policy, last active admin) are ``shared.users``'s, as for the
built-in directory. Deactivation and role changes revoke the user's tokens in this
gateway's deny-list and end their Keycloak sessions (``POST /users/{id}/logout``).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

import requests

from services.gateway.revocation import DenyList
from shared import users
from shared.errors import Conflict, NotFound, ServiceUnavailable

ROLES = users.ROLES


def _iso_ms(ms: int | None) -> str | None:
    if not ms:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds") \
        .replace("+00:00", "Z")


class KeycloakDirectory:
    def __init__(self, base_url: str, realm: str, client_id: str, client_secret: str,
                 deny: DenyList, *, password_min_length: int = 8, timeout: float = 10.0):
        self.base = base_url.rstrip("/")
        self.admin = f"{self.base}/admin/realms/{realm}"
        self.token_url = f"{self.base}/realms/{realm}/protocol/openid-connect/token"
        self.client = (client_id, client_secret)
        self.deny = deny
        self.min_length = password_min_length
        self.timeout = timeout
        self._token: tuple[str, float] | None = None
        self._lock = threading.Lock()
        self.http = requests.Session()

    @classmethod
    def from_config(cls, config: dict[str, Any], deny: DenyList) -> KeycloakDirectory:
        return cls(config["KEYCLOAK_ADMIN_URL"], config.get("KEYCLOAK_REALM") or "ml-platform",
                   config["KEYCLOAK_ADMIN_CLIENT_ID"], config["KEYCLOAK_ADMIN_CLIENT_SECRET"],
                   deny, password_min_length=int(config.get("PASSWORD_MIN_LENGTH") or 8))

    # -- HTTP --------------------------------------------------------------------

    def _bearer(self) -> str:
        with self._lock:
            if self._token is None or self._token[1] < time.monotonic():
                response = self._send("POST", self.token_url, auth=None, data={
                    "grant_type": "client_credentials", "client_id": self.client[0],
                    "client_secret": self.client[1]})
                body = response.json()
                self._token = (body["access_token"],
                               time.monotonic() + max(5, int(body.get("expires_in", 60)) - 10))
            return self._token[0]

    def _send(self, method: str, url: str, auth: str | None = "", **kwargs) -> requests.Response:
        headers = {} if auth is None else {"Authorization": f"Bearer {self._bearer()}"}
        try:
            response = self.http.request(method, url, headers=headers, timeout=self.timeout,
                                         **kwargs)
        except requests.RequestException as exc:
            raise ServiceUnavailable("Keycloak did not answer", {"service": "keycloak"}) from exc
        if response.status_code == 404:
            raise NotFound("user not found", {})
        if response.status_code == 409:
            raise Conflict("user already exists",
                           {"username": ["Ce nom d'utilisateur existe déjà."]})
        if response.status_code >= 400:
            raise ServiceUnavailable(f"Keycloak answered {response.status_code}",
                                     {"service": "keycloak"})
        return response

    def _api(self, method: str, path: str, **kwargs) -> requests.Response:
        return self._send(method, f"{self.admin}{path}", **kwargs)

    # -- mapping -----------------------------------------------------------------

    def _role_of(self, user_id: str) -> str:
        names = {role["name"] for role in self._api("GET", f"/users/{user_id}/role-mappings/realm")
                 .json()}
        return next((role for role in ROLES if role in names), "viewer")

    def _view(self, rep: dict[str, Any], role: str | None = None) -> dict[str, Any]:
        status = self._api("GET", f"/attack-detection/brute-force/users/{rep['id']}").json()
        return {"id": rep["id"], "username": rep["username"], "email": rep.get("email") or "",
                "first_name": rep.get("firstName") or "", "last_name": rep.get("lastName") or "",
                "role": role or self._role_of(rep["id"]), "active": bool(rep.get("enabled")),
                "password_temporary": "UPDATE_PASSWORD" in (rep.get("requiredActions") or []),
                "locked": bool(status.get("disabled")), "locked_until": None,
                "failures": int(status.get("numFailures") or 0),
                "created_at": _iso_ms(rep.get("createdTimestamp")), "updated_at": None}

    def _rep(self, user_id: str) -> dict[str, Any]:
        return self._api("GET", f"/users/{user_id}").json()

    def _active_admins(self) -> list[str]:
        members = self._api("GET", "/roles/admin/users", params={"max": 1000}).json()
        return [m["id"] for m in members if m.get("enabled")]

    # -- the directory -------------------------------------------------------------

    def find(self, query: dict[str, Any]) -> dict[str, Any]:
        params = {"briefRepresentation": "false", "max": 1000}
        if query.get("q"):
            params["search"] = query["q"]
        found = []
        for rep in self._api("GET", "/users", params=params).json():
            view = {"username": rep["username"], "email": rep.get("email"),
                    "first_name": rep.get("firstName"), "last_name": rep.get("lastName"),
                    "role": self._role_of(rep["id"]), "active": bool(rep.get("enabled"))}
            if users.matches(view, query.get("q"), query.get("role"), query.get("active")):
                found.append((rep, view["role"]))
        found.sort(key=lambda item: item[0]["username"])
        page, per_page = int(query.get("page") or 1), int(query.get("per_page") or 20)
        chosen = found[(page - 1) * per_page:page * per_page]
        return {"items": [self._view(rep, role) for rep, role in chosen], "total": len(found),
                "page": page, "per_page": per_page}

    def get(self, user_id: str) -> dict[str, Any]:
        return self._view(self._rep(user_id))

    def create(self, data: dict[str, Any]) -> dict[str, Any]:
        username = data["username"].strip().lower()
        users.check_password(data["password"], username, self.min_length)
        response = self._api("POST", "/users", json={
            "username": username, "email": data.get("email") or None,
            "firstName": data.get("first_name"), "lastName": data.get("last_name"),
            "enabled": True, "credentials": [{"type": "password", "value": data["password"],
                                              "temporary": bool(data.get("temporary"))}]})
        user_id = response.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
        self._set_role(user_id, data["role"], current=None)
        return self.get(user_id)

    def _set_role(self, user_id: str, role: str, current: str | None) -> None:
        if current and current != role:
            old = self._api("GET", f"/roles/{current}").json()
            self._api("DELETE", f"/users/{user_id}/role-mappings/realm", json=[old])
        if current != role:
            new = self._api("GET", f"/roles/{role}").json()
            self._api("POST", f"/users/{user_id}/role-mappings/realm", json=[new])

    def update(self, user_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        rep = self._rep(user_id)
        before = {"id": user_id, "role": self._role_of(user_id), "active": rep.get("enabled")}
        users.check_last_admin(before, changes, self._active_admins())
        fields = {"email": "email", "first_name": "firstName", "last_name": "lastName",
                  "active": "enabled"}
        update = {fields[k]: v for k, v in changes.items() if k in fields}
        if update:
            self._api("PUT", f"/users/{user_id}", json={**rep, **update})
        if "role" in changes:
            self._set_role(user_id, changes["role"], before["role"])
        if users.revokes_tokens(before, changes):
            self.deny.revoke(user_id, time.time())
            self._api("POST", f"/users/{user_id}/logout")
        return self.get(user_id)

    def reset_password(self, user_id: str, data: dict[str, Any]) -> dict[str, Any]:
        rep = self._rep(user_id)
        users.check_password(data["password"], rep["username"], self.min_length)
        self._api("PUT", f"/users/{user_id}/reset-password", json={
            "type": "password", "value": data["password"],
            "temporary": bool(data.get("temporary"))})
        return self.get(user_id)

    def unlock(self, user_id: str) -> dict[str, Any]:
        self._rep(user_id)
        self._api("DELETE", f"/attack-detection/brute-force/users/{user_id}")
        return self.get(user_id)
