"""User administration RPCs of the auth service (the built-in user directory).

The gateway's ``/api/v1/users`` endpoints call these through
``services.gateway.users.BuiltinDirectory``. Every change is dispatched after the
fact (``user_created``, ``user_updated``, ``user_password_reset``,
``user_unlocked``): the admin service audits them, and every gateway replica
feeds its token deny-list from ``user_updated`` (``revoked_at`` set when the
user's live tokens must stop working). Passwords are never returned nor logged.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from nameko.rpc import rpc
from pymongo.errors import DuplicateKeyError

from services.auth import domain
from services.auth.schemas import dump_user
from shared import events, users
from shared.errors import EXPECTED, Conflict, NotFound, ValidationError
from shared.mongo import isoformat

log = logging.getLogger(__name__)

EDITABLE = ("email", "first_name", "last_name", "role", "active")


class UserAdministration:
    """Mixin of ``AuthService``: needs ``users``, ``login``, ``lockout``, ``issuer``,
    ``dispatch``."""

    def _view(self, user: domain.User) -> dict[str, Any]:
        """A user as the API shows it: its fields and its brute-force lockout state."""
        state = self.login.failure_state(user.username, self.lockout)
        return {**dump_user(user), "locked": state.locked_until is not None,
                "locked_until": isoformat(state.locked_until), "failures": state.failures}

    def _find(self, user_id: str) -> domain.User:
        user = self.users.find_by_id(user_id)
        if user is None:
            raise NotFound(f"user {user_id!r} not found", {"id": user_id})
        return user

    @rpc(expected_exceptions=EXPECTED)
    def find_users(self, query: dict[str, Any]) -> dict[str, Any]:
        """A page of users sorted by username: query ``q``, ``role``, ``active``,
        ``page``, ``per_page`` → ``{items, total, page, per_page}`` (``get_user_by_id``'s
        shape)."""
        page, per_page = int(query.get("page") or 1), int(query.get("per_page") or 20)
        found = [user for user in self.users.list_users()
                 if users.matches(dump_user(user), query.get("q"), query.get("role"),
                                  query.get("active"))]
        chosen = found[(page - 1) * per_page:page * per_page]
        return {"items": [self._view(user) for user in chosen], "total": len(found),
                "page": page, "per_page": per_page}

    @rpc(expected_exceptions=EXPECTED)
    def get_user_by_id(self, user_id: str) -> dict[str, Any]:
        """One user: ``{"id", "username", "email", "first_name", "last_name", "role",
        "roles", "active", "password_temporary", "locked", "locked_until", "failures",
        "created_at", "updated_at"}``. NotFound for an unknown id."""
        return self._view(self._find(user_id))

    @rpc(expected_exceptions=EXPECTED)
    def create_user(self, data: dict[str, Any]) -> dict[str, Any]:
        """``{username, email, first_name, last_name, role, password, temporary}`` → the
        user. ValidationError (password policy, role), Conflict (username taken)."""
        username = domain.normalize_username(data.get("username") or "")
        if not username:
            raise ValidationError("invalid username", {"username": ["Champ obligatoire."]})
        if data.get("role") not in users.ROLES:
            raise ValidationError("invalid role", {"role": [f"one of {', '.join(users.ROLES)}"]})
        users.check_password(data.get("password") or "", username,
                             self.issuer.password_min_length)
        try:
            user = self.users.add_user(
                username, data["password"], data["role"], email=data.get("email") or "",
                first_name=data.get("first_name") or "", last_name=data.get("last_name") or "",
                password_temporary=bool(data.get("temporary")))
        except DuplicateKeyError:
            raise Conflict(f"user {username!r} already exists",
                           {"username": ["Ce nom d'utilisateur existe déjà."]}) from None
        log.info("user %s created with role %s", user.username, user.role)
        self.dispatch(events.USER_CREATED, {"user": dump_user(user)})
        return self._view(user)

    @rpc(expected_exceptions=EXPECTED)
    def update_user(self, user_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Edit ``email``, ``first_name``, ``last_name``, ``role``, ``active``. Deactivating
        or changing the role revokes the user's live tokens (``revoked_at``) and ends
        their sessions (refresh tokens stop working). Conflict: the last active admin
        would be deactivated or demoted."""
        changes = {k: v for k, v in changes.items() if k in EDITABLE}
        if "role" in changes and changes["role"] not in users.ROLES:
            raise ValidationError("invalid role", {"role": [f"one of {', '.join(users.ROLES)}"]})
        user = self._find(user_id)
        before = dump_user(user)
        users.check_last_admin(before, changes, self.users.active_admin_ids())
        revoke = users.revokes_tokens(before, changes)
        updated = self.users.update_user(user_id, changes, revoke=revoke)
        if updated is None:
            raise NotFound(f"user {user_id!r} not found", {"id": user_id})
        changed = sorted(k for k in changes if before.get(k) != changes[k])
        log.info("user %s updated (%s)%s", updated.username, ", ".join(changed) or "no change",
                 "; its tokens are revoked" if revoke else "")
        self.dispatch(events.USER_UPDATED, {
            "user": dump_user(updated), "changed": changed,
            "revoked_at": isoformat(updated.revoked_at) if revoke else None})
        return self._view(updated)

    @rpc(expected_exceptions=EXPECTED)
    def reset_password(self, user_id: str, data: dict[str, Any]) -> dict[str, Any]:
        """``{password, temporary}``: a new password (temporary: to be replaced at the
        next browser login). ValidationError naming ``password`` (policy)."""
        user = self._find(user_id)
        users.check_password(data.get("password") or "", user.username,
                             self.issuer.password_min_length)
        temporary = bool(data.get("temporary"))
        self.users.set_password(user.id, data["password"], temporary=temporary)
        log.info("password of user %s reset by an admin", user.username)
        self.dispatch(events.USER_PASSWORD_RESET, {
            "user_id": user.id, "username": user.username, "temporary": temporary})
        return self._view(self._find(user_id))

    @rpc(expected_exceptions=EXPECTED)
    def unlock_user_by_id(self, user_id: str) -> dict[str, Any]:
        """Lift the brute-force lockout of a user (and forget its failures) → the user."""
        user = self._find(user_id)
        unlocked = self.login.reset_failures(user.username)
        self.dispatch(events.USER_UNLOCKED, {
            "user_id": user.id, "username": user.username, "was_locked": unlocked})
        return self._view(user)

    @rpc(expected_exceptions=EXPECTED)
    def revocations_since(self, since: str | None = None) -> list[dict[str, Any]]:
        """``[{"user_id", "username", "revoked_at"}]`` of users whose tokens were revoked
        after ``since`` (ISO time; None: all). A gateway calls it when it (re)connects
        to learn the revocations it missed."""
        after = datetime.fromisoformat(since.replace("Z", "+00:00")) if since else None
        return [{"user_id": user.id, "username": user.username,
                 "revoked_at": isoformat(user.revoked_at)}
                for user in self.users.revocations_since(after)]
