"""Rules of user administration shared by every user directory (pure, no I/O).

The built-in issuer (services/auth) and the Keycloak directory of the gateway
apply the same password policy and the same last-admin rule, so an admin gets
the same answer from either.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from shared.errors import Conflict, ValidationError

ROLES: tuple[str, ...] = ("admin", "data-scientist", "business-user", "viewer")
ADMIN = "admin"


def password_errors(password: str, username: str, min_length: int) -> list[str]:
    """Why ``password`` is refused for ``username`` (empty list: accepted).

    Policy: at least ``min_length`` characters (``PASSWORD_MIN_LENGTH``), not the
    user name (ignoring case and surrounding spaces).
    """
    errors = []
    if len(password or "") < min_length:
        errors.append(f"Le mot de passe doit contenir au moins {min_length} caractères.")
    if (password or "").strip().lower() == (username or "").strip().lower():
        errors.append("Le mot de passe ne doit pas être identique au nom d'utilisateur.")
    return errors


def check_password(password: str, username: str, min_length: int,
                   field: str = "password") -> None:
    """``ValidationError`` naming ``field`` when the password breaks the policy."""
    errors = password_errors(password, username, min_length)
    if errors:
        raise ValidationError(f"invalid {field}", {field: errors})


def removes_admin(user: Mapping[str, Any], changes: Mapping[str, Any]) -> bool:
    """Whether ``changes`` make an active admin stop being one (demotion or deactivation)."""
    was = user.get("role") == ADMIN and bool(user.get("active", True))
    role = changes.get("role", user.get("role"))
    active = changes.get("active", user.get("active", True))
    return was and not (role == ADMIN and bool(active))


def check_last_admin(user: Mapping[str, Any], changes: Mapping[str, Any],
                     active_admins: Iterable[str]) -> None:
    """``Conflict`` when ``changes`` would leave the platform without an active admin.

    ``active_admins``: the ids of every active admin (``user`` included when it is one).
    """
    if not removes_admin(user, changes):
        return
    others = [uid for uid in active_admins if uid != user.get("id")]
    if not others:
        raise Conflict(
            "the last active admin cannot be deactivated or demoted",
            {"user_id": user.get("id"), "rule": "last_active_admin"},
        )


def revokes_tokens(user: Mapping[str, Any], changes: Mapping[str, Any]) -> bool:
    """A change after which the user's live tokens must stop working: deactivation
    or a new role (their tokens carry the old role)."""
    deactivated = bool(user.get("active", True)) and changes.get("active") is False
    new_role = "role" in changes and changes["role"] != user.get("role")
    return deactivated or new_role


def matches(user: Mapping[str, Any], q: str | None, role: str | None,
            active: bool | None) -> bool:
    """The list filters: ``q`` (every word is in the user name, e-mail or names,
    ignoring case), ``role``, ``active``."""
    if role and user.get("role") != role:
        return False
    if active is not None and bool(user.get("active", True)) != active:
        return False
    if q:
        text = " ".join(str(user.get(k) or "") for k in
                        ("username", "email", "first_name", "last_name")).lower()
        return all(word in text for word in q.lower().split())
    return True
