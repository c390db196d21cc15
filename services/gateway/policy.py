"""The role matrix of API.md, in one table, and the decorator that applies it.

Put ``@requires("<action>")`` on every view, directly under ``@blp.route`` so
that authentication and authorisation run before the request body is parsed
(an anonymous caller gets a 401, not a 400 about its body)::

    @blp.route("/models/<model_id>", methods=["PATCH"])
    @requires("models:write")
    @blp.arguments(ModelUpdateSchema)
    @blp.response(200, ModelSchema)
    def update_model(changes, model_id): ...

No token or a bad one → 401 ``unauthorized`` (with ``WWW-Authenticate: Bearer``);
a valid token without one of the action's roles → 403 ``forbidden``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from copy import deepcopy
from typing import Any, TypeVar

from flask import current_app, g, request

from services.gateway.auth import Principal, bearer_token
from shared.errors import Forbidden, Unauthorized

ADMIN = "admin"
DATA_SCIENTIST = "data-scientist"
BUSINESS_USER = "business-user"
VIEWER = "viewer"
ROLES = (ADMIN, DATA_SCIENTIST, BUSINESS_USER, VIEWER)

_EVERYONE = frozenset(ROLES)
_BUILDERS = frozenset({ADMIN, DATA_SCIENTIST})
_RUNNERS = frozenset({ADMIN, DATA_SCIENTIST, BUSINESS_USER})
_ADMINS = frozenset({ADMIN})

#: action → roles allowed. The ONE place the role matrix of API.md lives.
POLICY: dict[str, frozenset[str]] = {
    # read models, deployments, executions, logs, results, dashboard, reports
    "models:read": _EVERYONE,
    "deployments:read": _EVERYONE,
    "executions:read": _EVERYONE,
    "dashboard:read": _EVERYONE,
    "reports:read": _EVERYONE,
    "me:read": _EVERYONE,
    # download a model file
    "models:download": _BUILDERS,
    # create / edit / delete models, upload files
    "models:write": _BUILDERS,
    # create / edit / delete / start / stop deployments (and attach their input)
    "deployments:write": _BUILDERS,
    # run (model or deployment), re-run, cancel, online predict
    "executions:run": _RUNNERS,
    # users, settings, integrations, system logs, backups
    "admin": _ADMINS,
    "users:admin": _ADMINS,
    "settings:admin": _ADMINS,
    "integrations:admin": _ADMINS,
    "logs:admin": _ADMINS,
    "backups:admin": _ADMINS,
}

F = TypeVar("F", bound=Callable[..., Any])


def allowed(action: str, roles: tuple[str, ...] | list[str] | set[str]) -> bool:
    """Whether any of ``roles`` may perform ``action`` (unknown action: nobody)."""
    return bool(POLICY.get(action, frozenset()) & set(roles))


def authenticate() -> Principal:
    """The verified caller of this request (cached on ``g``), else ``Unauthorized``."""
    principal = getattr(g, "principal", None)
    if principal is None:
        token = bearer_token(request.headers.get("Authorization"))
        gateway = current_app.extensions["gateway"]
        principal = gateway.verifier.principal(token)
        revocations = getattr(gateway, "revocations", None)  # a bare test app has none
        if revocations is not None and revocations.refuses(principal.claims):
            raise Unauthorized("token revoked: the user was deactivated or changed role")
        g.principal = principal
    return principal


def current_principal() -> Principal:
    """The principal set by ``@requires`` (use inside a view)."""
    return authenticate()


def authorize(action: str) -> Principal:
    principal = authenticate()
    if not allowed(action, principal.roles):
        raise Forbidden(
            f"{action} needs one of the roles {', '.join(sorted(POLICY[action]))}",
            {"action": action, "required_roles": sorted(POLICY[action])},
        )
    return principal


def requires(action: str) -> Callable[[F], F]:
    """Decorator: the caller must be authenticated and hold a role allowed for ``action``.

    Also documents the bearer security and the 401/403 responses in OpenAPI.
    """
    if action not in POLICY:  # fail at import time, not at request time
        raise KeyError(f"unknown policy action {action!r}; add it to POLICY")

    def decorator(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            authorize(action)
            return func(*args, **kwargs)

        wrapper._apidoc = deepcopy(getattr(func, "_apidoc", {}))  # type: ignore[attr-defined]
        manual = wrapper._apidoc.setdefault("manual_doc", {})  # type: ignore[attr-defined]
        manual.setdefault("security", [{"bearerAuth": []}])
        responses = manual.setdefault("responses", {})
        roles = ", ".join(sorted(POLICY[action]))
        responses.setdefault(
            401, {"description": "no token or a bad token", "content": _ERROR_CONTENT}
        )
        responses.setdefault(
            403, {"description": f"needs one of: {roles}", "content": _ERROR_CONTENT}
        )
        wrapper._policy_action = action  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorator


def public(func: F) -> F:
    """Marks a view as intentionally open (no token): health, OpenAPI."""
    func._policy_action = None  # type: ignore[attr-defined]
    return func


_ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
