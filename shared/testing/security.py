"""Test support of ``tests/security``: the gateway's endpoint inventory and bad tokens.

``inventory(app)`` derives every operation from the OpenAPI document the app serves
and pairs it with the policy action of its view (``services/gateway/policy.py``), so a
new endpoint is in every check the day it lands — and an endpoint missing from the
document, or without ``@requires``/``@public``, is reported by ``inventory_problems``.

``bad_tokens(issuer, role)`` mints, with a ``TokenIssuer``, each kind of token that
must be refused (401): expired, not yet valid, foreign key, ``alg: none``, HS256 keyed
with the public key, unknown ``kid``, wrong ``iss``/``aud``, refresh and ID tokens used
as access tokens, a tampered role claim.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass
from functools import cache
from typing import Any

from services.gateway.policy import POLICY, ROLES

#: What every role may do, per API.md's role matrix (the test's own copy: a change of
#: POLICY that widens an action fails the suite instead of silently passing it).
API_MATRIX: dict[str, frozenset[str]] = {
    "models:read": frozenset(ROLES),
    "deployments:read": frozenset(ROLES),
    "executions:read": frozenset(ROLES),
    "dashboard:read": frozenset(ROLES),
    "reports:read": frozenset(ROLES),
    "me:read": frozenset(ROLES),
    "models:download": frozenset({"admin", "data-scientist"}),
    "models:write": frozenset({"admin", "data-scientist"}),
    "deployments:write": frozenset({"admin", "data-scientist"}),
    "executions:run": frozenset({"admin", "data-scientist", "business-user"}),
}
#: Operations open without a token (API.md: health and the OpenAPI document).
PUBLIC = {("GET", "/api/v1/health"), ("GET", "/api/v1/openapi.json")}
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
ZERO_ID = "0" * 24  # a well-formed id that names nothing


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # OpenAPI form: /api/v1/models/{model_id}
    action: str | None  # None: public
    has_body: bool

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"

    def allowed_roles(self) -> frozenset[str]:
        """Roles API.md lets through (admin-only for administration actions)."""
        if self.action is None:
            return frozenset(ROLES)
        if self.action in API_MATRIX:
            return API_MATRIX[self.action]
        if self.action == "admin" or self.action.endswith(":admin"):
            return frozenset({"admin"})
        return POLICY[self.action]

    def url(self, base: str = "", **ids: str) -> str:
        """The path with each ``{param}`` replaced by ``ids[param]`` (default ZERO_ID)."""
        return base + re.sub(r"\{(\w+)\}", lambda m: ids.get(m.group(1), ZERO_ID), self.path)


def openapi_path(rule: str) -> str:
    """werkzeug ``/models/<model_id>`` or ``<path:filename>`` → OpenAPI ``/models/{model_id}``."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def _views(app) -> dict[tuple[str, str], Any]:
    views = {}
    for rule in app.url_map.iter_rules():
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            views[(method, openapi_path(rule.rule))] = app.view_functions[rule.endpoint]
    return views


def inventory(app) -> list[Endpoint]:
    """Every operation of the app's OpenAPI document, with its policy action."""
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    views = _views(app)
    endpoints = []
    for path, operations in sorted(spec["paths"].items()):
        for method in METHODS:
            operation = operations.get(method.lower())
            if operation is None:
                continue
            view = views.get((method, path))
            action = getattr(view, "_policy_action", None) if view is not None else None
            endpoints.append(Endpoint(method, path, action, "requestBody" in operation))
    return endpoints


def inventory_problems(app) -> list[str]:
    """Operations without a policy, routes missing from the document, policies that
    differ from API.md's matrix."""
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    documented = {
        (method, path)
        for path, operations in spec["paths"].items()
        for method in METHODS
        if method.lower() in operations
    }
    problems = []
    for (method, path), view in sorted(_views(app).items(), key=lambda item: item[0][1]):
        if not path.startswith("/api/v1") or path.startswith("/api/v1/docs"):
            continue
        if (method, path) not in documented and (method, path) not in PUBLIC:
            problems.append(f"{method} {path}: served but not in the OpenAPI document")
        if not hasattr(view, "_policy_action") and (method, path) not in PUBLIC:
            problems.append(f"{method} {path}: neither @requires nor @public")
    for endpoint in inventory(app):
        key = (endpoint.method, endpoint.path)
        if endpoint.action is None and key not in PUBLIC:
            problems.append(f"{endpoint.id}: open without a token")
        if endpoint.action is not None:
            granted = POLICY.get(endpoint.action, frozenset())
            if granted != endpoint.allowed_roles():
                problems.append(
                    f"{endpoint.id}: {endpoint.action} grants {sorted(granted)}, API.md says "
                    f"{sorted(endpoint.allowed_roles())}"
                )
    return problems


# -- tokens ---------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64json(obj: Any) -> str:
    return _b64(json.dumps(obj, separators=(",", ":")).encode())


@cache
def _foreign_key() -> str:
    from shared.testing.tokens import generate_rsa_key

    return generate_rsa_key()[0]


def bad_tokens(issuer, role: str, username: str = "mallory") -> dict[str, str]:
    """kind → a token for ``role`` that the gateway must refuse with 401."""
    now = int(time.time())
    claims = issuer.claims(username, [role])
    mint = issuer.issue_token
    unsigned = f"{_b64json({'alg': 'none', 'typ': 'JWT', 'kid': issuer.kid})}.{_b64json(claims)}."
    hs_header = _b64json({"alg": "HS256", "typ": "JWT", "kid": issuer.kid})
    hs_input = f"{hs_header}.{_b64json(claims)}"
    hs_signature = hmac.new(issuer.public_pem.encode(), hs_input.encode(), hashlib.sha256)
    header, payload, signature = mint(username, ["viewer"]).split(".")
    tampered = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    tampered["realm_access"]["roles"] = [role, "admin"]
    return {
        "garbage": "not-a-jwt",
        "expired": mint(username, [role], exp=now - 60, iat=now - 600, nbf=now - 600),
        "not_yet_valid": mint(username, [role], nbf=now + 3600),
        "foreign_key": mint(username, [role], signing_key=_foreign_key()),
        "alg_none": unsigned,
        "hs256_public_key": f"{hs_input}.{_b64(hs_signature.digest())}",
        "unknown_kid": mint(username, [role], headers={"kid": "no-such-key"}),
        "no_kid": mint(username, [role], headers={"kid": None}),
        "wrong_issuer": mint(username, [role], iss="http://127.0.0.1:9/realms/evil"),
        "wrong_audience": mint(username, [role], aud="account"),
        "no_audience": mint(username, [role], aud=None),
        "no_expiry": mint(username, [role], exp=None),
        "refresh_token": mint(username, [role], typ="Refresh"),
        "id_token": mint(username, [role], typ="ID"),
        "tampered_roles": f"{header}.{_b64json(tampered)}.{signature}",
    }


def is_envelope(body: Any) -> bool:
    """API.md's error envelope: ``{"error": {"code": str, "message": str, "details": {}}}``."""
    if not isinstance(body, dict) or set(body) != {"error"}:
        return False
    error = body["error"]
    return (
        isinstance(error, dict)
        and isinstance(error.get("code"), str)
        and isinstance(error.get("message"), str)
        and isinstance(error.get("details"), dict)
    )
