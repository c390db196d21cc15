"""The user directory behind ``/api/v1/users``: ONE interface, two implementations.

* ``BuiltinDirectory`` (default, ``USER_DIRECTORY=builtin``): the auth service's
  users, over RPC. Its revocations reach every gateway through ``user_updated``.
* ``KeycloakDirectory`` (``USER_DIRECTORY=keycloak``): Keycloak's Admin REST API
  (``/admin/realms/{realm}/users``, realm role mappings, ``reset-password``,
  ``attack-detection/brute-force/users/{id}``), for a platform that trusts an
  external Keycloak. Settings: ``KEYCLOAK_ADMIN_URL`` (e.g. ``https://kc.example.com``),
  ``KEYCLOAK_REALM`` (``ml-platform``), ``KEYCLOAK_ADMIN_CLIENT_ID`` /
  ``KEYCLOAK_ADMIN_CLIENT_SECRET`` (a confidential client with the realm-management
  roles ``manage-users`` and ``view-users``, client-credentials grant). Its
  revocation path is this gateway's deny-list, fed by the admin action itself.
"""

from __future__ import annotations

from typing import Any, Protocol

from flask import current_app

from services.gateway.keycloak_directory import KeycloakDirectory
from services.gateway.web import rpc


class UserDirectory(Protocol):
    """What the users endpoints need of a directory (users in ``UserSchema``'s shape)."""

    def find(self, query: dict[str, Any]) -> dict[str, Any]: ...
    def get(self, user_id: str) -> dict[str, Any]: ...
    def create(self, data: dict[str, Any]) -> dict[str, Any]: ...
    def update(self, user_id: str, changes: dict[str, Any]) -> dict[str, Any]: ...
    def reset_password(self, user_id: str, data: dict[str, Any]) -> dict[str, Any]: ...
    def unlock(self, user_id: str) -> dict[str, Any]: ...


class BuiltinDirectory:
    """The built-in issuer's users (services/auth ``user_admin``)."""

    def find(self, query: dict[str, Any]) -> dict[str, Any]:
        return rpc("auth", "find_users", query)

    def get(self, user_id: str) -> dict[str, Any]:
        return rpc("auth", "get_user_by_id", user_id)

    def create(self, data: dict[str, Any]) -> dict[str, Any]:
        return rpc("auth", "create_user", data)

    def update(self, user_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        return rpc("auth", "update_user", user_id, changes)

    def reset_password(self, user_id: str, data: dict[str, Any]) -> dict[str, Any]:
        return rpc("auth", "reset_password", user_id, data)

    def unlock(self, user_id: str) -> dict[str, Any]:
        return rpc("auth", "unlock_user_by_id", user_id)


def directory() -> UserDirectory:
    """The directory of this gateway's settings (built once per app)."""
    state = current_app.extensions["gateway"]
    found = getattr(state, "user_directory", None)
    if found is None:
        config = state.config
        if (config.get("USER_DIRECTORY") or "builtin") == "keycloak":
            found = KeycloakDirectory.from_config(config, state.revocations.deny)
        else:
            found = BuiltinDirectory()
        state.user_directory = found
    return found
