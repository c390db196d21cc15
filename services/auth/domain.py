"""Pure logic of the embedded identity provider (no I/O).

The embedded issuer mimics Keycloak's realm ``ml-platform`` (URL layout,
claims, OAuth2 error codes) so the gateway and the web app work unchanged
against either. The constants below are the single source of truth for the
realm: ``deploy/keycloak/realm-ml-platform.json`` is checked against them by
``tests/unit/test_auth_realm_export.py``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from jose import jwt
from jose.backends.base import Key
from jose.exceptions import JOSEError

# -- the realm -----------------------------------------------------------------

REALM = "ml-platform"
REALM_PATH = f"/realms/{REALM}"
ROLES: tuple[str, ...] = ("admin", "data-scientist", "business-user", "viewer")
CLIENT_WEB = "ml-platform-web"
CLIENT_CLI = "ml-platform-cli"
DEFAULT_AUDIENCE = "ml-platform-api"
#: Keycloak always adds the ``account`` audience; tokens from both issuers look alike.
ACCOUNT_AUDIENCE = "account"
ALGORITHM = "RS256"
DEFAULT_SCOPE = "profile email"
#: Upper bound of a login session (Keycloak's "SSO Session Max", 10 h by default).
SESSION_MAX_S = 10 * 3600

GRANT_PASSWORD = "password"
GRANT_REFRESH = "refresh_token"
GRANT_CODE = "authorization_code"
GRANT_TYPES: tuple[str, ...] = (GRANT_CODE, GRANT_PASSWORD, GRANT_REFRESH)
#: PKCE: only S256 (RFC 7636 §4.2); ``plain`` is refused, as the web client demands.
PKCE_METHODS: tuple[str, ...] = ("S256",)
#: The browser-facing URL of the gateway / web app by default (``PUBLIC_URL``).
DEFAULT_PUBLIC_URL = "http://localhost:3000"
#: Where the web app receives the code, and where it lands after logout (contract C1).
WEB_CALLBACK_PATH = "/auth/callback"
WEB_POST_LOGOUT_PATH = "/"


@dataclass(frozen=True)
class Client:
    """A public OIDC client of the realm (no secret: PKCE / direct grants)."""

    client_id: str
    standard_flow: bool
    direct_access_grants: bool
    redirect_uris: tuple[str, ...] = ()
    web_origins: tuple[str, ...] = ()
    post_logout_redirect_uris: tuple[str, ...] = ()

    @property
    def grant_types(self) -> tuple[str, ...]:
        grants = (GRANT_CODE,) if self.standard_flow else ()
        grants += (GRANT_PASSWORD,) if self.direct_access_grants else ()
        return (*grants, GRANT_REFRESH)


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL (a web origin, as CORS compares them)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def clients_for(public_url: str) -> dict[str, Client]:
    """The realm's clients for a platform whose web app answers at ``public_url``.

    ``ml-platform-web`` uses the authorization code flow with PKCE only: its
    redirect and post-logout URIs are exact (no wildcard), derived from the
    public URL so a platform on other ports works too. ``ml-platform-cli``
    (scripts, the SDK) keeps the password grant.
    """
    public = public_url.rstrip("/")
    return {
        CLIENT_WEB: Client(
            CLIENT_WEB,
            standard_flow=True,
            direct_access_grants=False,
            redirect_uris=(f"{public}{WEB_CALLBACK_PATH}",),
            web_origins=(origin_of(public),),
            post_logout_redirect_uris=(f"{public}{WEB_POST_LOGOUT_PATH}",),
        ),
        CLIENT_CLI: Client(CLIENT_CLI, standard_flow=False, direct_access_grants=True),
    }


#: The clients with the default public URL (what the Keycloak realm export ships).
CLIENTS: dict[str, Client] = clients_for(DEFAULT_PUBLIC_URL)


def web_origins_of(clients: Mapping[str, Client]) -> tuple[str, ...]:
    """Browser origins allowed to call the issuer (CORS): the clients' webOrigins."""
    return tuple(sorted({origin for client in clients.values() for origin in client.web_origins}))


WEB_ORIGINS: tuple[str, ...] = web_origins_of(CLIENTS)


def parse_origins(value: str) -> tuple[str, ...]:
    """``OIDC_WEB_ORIGINS``: comma-separated origins, e.g. ``https://ml.example.com``."""
    return tuple(origin.strip().rstrip("/") for origin in value.split(",") if origin.strip())


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    role: str
    first_name: str
    last_name: str
    email: str


#: The demo users of the user guide (section 2.1), created on first start.
DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser("admin", "admin123", "admin", "Camille", "Martin", "admin@example.com"),
    DemoUser(
        "datascientist",
        "password123",
        "data-scientist",
        "Léa",
        "Dubois",
        "datascientist@example.com",
    ),
    DemoUser(
        "business", "password123", "business-user", "Thomas", "Bernard", "business@example.com"
    ),
    DemoUser("viewer", "password123", "viewer", "Julie", "Moreau", "viewer@example.com"),
)


# -- users ---------------------------------------------------------------------


@dataclass
class User:
    """A user of the realm. ``password_hash`` never leaves the service."""

    id: str
    username: str
    email: str
    first_name: str
    last_name: str
    role: str
    active: bool
    password_hash: str = field(repr=False)
    #: Keycloak's ``temporary`` credential: the user must choose a new password
    #: at the next browser login.
    password_temporary: bool = False
    created_at: datetime | None = None
    updated_at: datetime | None = None
    #: Tokens of this user issued before this time are refused (deactivation, new role).
    revoked_at: datetime | None = None

    @property
    def roles(self) -> list[str]:
        return [self.role]

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


def check_role(role: str) -> str:
    """``role`` when it is one of the realm's roles, else ``ValueError``."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    return role


def normalize_username(username: str) -> str:
    """Keycloak stores usernames lower-cased; ``Admin`` logs in as ``admin``."""
    return username.strip().lower()


# -- OAuth2 errors ---------------------------------------------------------------


class OAuthError(Exception):
    """An OAuth2 error response (RFC 6749 §5.2) with Keycloak's wording."""

    def __init__(
        self, error: str, description: str, status: int = 400,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status
        self.headers = headers or {}

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


def invalid_credentials() -> OAuthError:
    # One answer for unknown user and wrong password: no username enumeration.
    return OAuthError("invalid_grant", "Invalid user credentials", 401)


def rate_limited(retry_after_s: int) -> OAuthError:
    """A user name locked by the brute-force protection (429, ``Retry-After``)."""
    return OAuthError(
        "rate_limited",
        f"Too many failed login attempts: try again in {retry_after_s} s",
        429,
        {"Retry-After": str(retry_after_s)},
    )


def account_not_set_up() -> OAuthError:
    """A temporary password: the user must choose a new one in the browser first."""
    return OAuthError("invalid_grant", "Account is not fully set up", 400)


def invalid_client() -> OAuthError:
    return OAuthError("invalid_client", "Invalid client or Invalid client credentials", 401)


def account_disabled() -> OAuthError:
    return OAuthError("invalid_grant", "Account disabled", 400)


def invalid_refresh_token(description: str = "Invalid refresh token") -> OAuthError:
    return OAuthError("invalid_grant", description, 400)


def invalid_token(description: str = "Token verification failed") -> OAuthError:
    return OAuthError("invalid_token", description, 401)


# -- token requests --------------------------------------------------------------


@dataclass(frozen=True)
class PasswordGrant:
    client: Client
    username: str
    password: str
    scope: str


@dataclass(frozen=True)
class RefreshGrant:
    client: Client
    refresh_token: str


@dataclass(frozen=True)
class CodeGrant:
    """``grant_type=authorization_code``: the code, and what it must be bound to."""

    client: Client
    code: str
    redirect_uri: str
    code_verifier: str


def _param(form: Mapping[str, str], name: str) -> str:
    value = form.get(name)
    if value is None or value == "":
        raise OAuthError("invalid_request", f"Missing form parameter: {name}")
    return value


def grant_type_label(form: Mapping[str, str]) -> str:
    """A bounded metrics label for the request's grant type."""
    grant_type = form.get("grant_type")
    if not grant_type:
        return "none"
    return grant_type if grant_type in GRANT_TYPES else "unsupported"


def parse_token_request(
    form: Mapping[str, str], clients: Mapping[str, Client] = CLIENTS
) -> PasswordGrant | RefreshGrant | CodeGrant:
    """Validate a token request's form parameters, in Keycloak's order.

    Raises ``OAuthError``: ``invalid_request`` (400) for a missing parameter,
    ``invalid_client`` (401) for an unknown client, ``unsupported_grant_type``
    (400) for a grant this issuer or this client does not support.
    """
    grant_type = _param(form, "grant_type")
    client_id = _param(form, "client_id")
    client = clients.get(client_id)
    if client is None:
        raise invalid_client()
    if grant_type not in client.grant_types:
        raise OAuthError("unsupported_grant_type", "Unsupported grant_type")
    if grant_type == GRANT_PASSWORD:
        return PasswordGrant(
            client=client,
            username=normalize_username(_param(form, "username")),
            password=_param(form, "password"),
            scope=effective_scope(form.get("scope")),
        )
    if grant_type == GRANT_CODE:
        return CodeGrant(
            client=client,
            code=_param(form, "code"),
            redirect_uri=_param(form, "redirect_uri"),
            # Missing verifier: refused at redemption (PKCE is mandatory), with
            # the code then spent, as a replay would be.
            code_verifier=form.get("code_verifier") or "",
        )
    return RefreshGrant(client=client, refresh_token=_param(form, "refresh_token"))


def effective_scope(requested: str | None) -> str:
    """Keycloak's default scopes plus ``openid`` when asked for (then an id_token is issued)."""
    words = (requested or "").split()
    scopes = (["openid"] if "openid" in words else []) + DEFAULT_SCOPE.split()
    return " ".join(scopes)


# -- claims ----------------------------------------------------------------------


@dataclass(frozen=True)
class IssuerSettings:
    issuer: str
    audience: str = DEFAULT_AUDIENCE
    access_ttl_s: int = 300
    refresh_ttl_s: int = 1800
    session_max_s: int = SESSION_MAX_S
    web_origins: tuple[str, ...] = WEB_ORIGINS
    clients: Mapping[str, Client] = field(default_factory=lambda: CLIENTS)
    public_url: str = DEFAULT_PUBLIC_URL
    #: Lifetime of an authorization code (Keycloak's accessCodeLifespan, 60 s).
    code_ttl_s: int = 60
    #: Lifetime of a login form / update-password step (Keycloak's
    #: accessCodeLifespanLogin; shorter here).
    login_ttl_s: int = 600
    password_min_length: int = 8


def new_id() -> str:
    return str(uuid.uuid4())


def _profile_claims(user: User) -> dict[str, Any]:
    return {
        "preferred_username": user.username,
        "email": user.email,
        "email_verified": True,
        "given_name": user.first_name,
        "family_name": user.last_name,
        "name": user.full_name,
    }


def access_claims(
    user: User,
    client_id: str,
    settings: IssuerSettings,
    *,
    now: int,
    sid: str,
    scope: str = DEFAULT_SCOPE,
    jti: str | None = None,
) -> dict[str, Any]:
    """Claims of an access token, as Keycloak writes them (plus our audience)."""
    return {
        "exp": now + settings.access_ttl_s,
        "iat": now,
        "jti": jti or new_id(),
        "iss": settings.issuer,
        "aud": [settings.audience, ACCOUNT_AUDIENCE],
        "sub": user.id,
        "typ": "Bearer",
        "azp": client_id,
        "sid": sid,
        "acr": "1",
        "realm_access": {"roles": user.roles},
        "scope": scope,
        **_profile_claims(user),
    }


def refresh_claims(
    user: User,
    client_id: str,
    settings: IssuerSettings,
    *,
    now: int,
    sid: str,
    session_started: int,
    scope: str = DEFAULT_SCOPE,
    jti: str | None = None,
) -> dict[str, Any]:
    """Claims of a refresh token: audience is the issuer itself, as in Keycloak.

    Its lifetime slides with each refresh but never outlives the session maximum.
    """
    exp = min(now + settings.refresh_ttl_s, session_started + settings.session_max_s)
    return {
        "exp": exp,
        "iat": now,
        "jti": jti or new_id(),
        "iss": settings.issuer,
        "aud": settings.issuer,
        "sub": user.id,
        "typ": "Refresh",
        "azp": client_id,
        "sid": sid,
        "scope": scope,
    }


def id_token_claims(
    user: User,
    client_id: str,
    settings: IssuerSettings,
    *,
    now: int,
    sid: str,
    auth_time: int | None = None,
    nonce: str | None = None,
) -> dict[str, Any]:
    """Claims of an ID token; ``auth_time`` is when the user signed in (the
    session's start: it stays the same on refresh, as OIDC clients check), and
    ``nonce`` the one of the authorization request, when there was one."""
    claims = {
        "exp": now + settings.access_ttl_s,
        "iat": now,
        "auth_time": now if auth_time is None else auth_time,
        "jti": new_id(),
        "iss": settings.issuer,
        "aud": client_id,
        "sub": user.id,
        "typ": "ID",
        "azp": client_id,
        "sid": sid,
        "acr": "1",
        **_profile_claims(user),
    }
    if nonce:
        claims["nonce"] = nonce
    return claims


def userinfo(user: User) -> dict[str, Any]:
    """The userinfo response for ``user``, from the current user record."""
    return {"sub": user.id, **_profile_claims(user), "realm_access": {"roles": user.roles}}


def token_response(
    access_token: str,
    refresh_token: str,
    refresh_exp: int,
    settings: IssuerSettings,
    *,
    now: int,
    sid: str,
    scope: str,
    id_token: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "access_token": access_token,
        "expires_in": settings.access_ttl_s,
        "refresh_expires_in": max(0, refresh_exp - now),
        "refresh_token": refresh_token,
        "token_type": "Bearer",
        "not-before-policy": 0,
        "session_state": sid,
        "scope": scope,
    }
    if id_token is not None:
        body["id_token"] = id_token
    return body


# -- discovery -------------------------------------------------------------------


def openid_configuration(issuer: str) -> dict[str, Any]:
    """The discovery document, with Keycloak's field names and URL layout."""
    oidc = f"{issuer}/protocol/openid-connect"
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{oidc}/auth",
        "token_endpoint": f"{oidc}/token",
        "userinfo_endpoint": f"{oidc}/userinfo",
        "end_session_endpoint": f"{oidc}/logout",
        "jwks_uri": f"{oidc}/certs",
        "grant_types_supported": list(GRANT_TYPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "code_challenge_methods_supported": list(PKCE_METHODS),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [ALGORITHM],
        "userinfo_signing_alg_values_supported": ["none"],
        "token_endpoint_auth_methods_supported": ["none"],
        "scopes_supported": ["openid", "profile", "email", "roles"],
        "claims_supported": [
            "aud",
            "sub",
            "iss",
            "auth_time",
            "name",
            "given_name",
            "family_name",
            "preferred_username",
            "email",
            "email_verified",
            "acr",
            "realm_access",
        ],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "frontchannel_logout_supported": False,
        "backchannel_logout_supported": False,
    }


# -- keys and tokens ----------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwk_thumbprint(public_jwk: Mapping[str, str]) -> str:
    """RFC 7638 thumbprint of an RSA public JWK: a stable, collision-free ``kid``."""
    canonical = json.dumps(
        {k: public_jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"), sort_keys=True
    )
    return _b64url(hashlib.sha256(canonical.encode()).digest())


def public_jwk(kid: str, public: Mapping[str, str]) -> dict[str, str]:
    """A JWKS entry as Keycloak lists it (kid, kty, alg, use, n, e)."""
    return {
        "kid": kid,
        "kty": "RSA",
        "alg": ALGORITHM,
        "use": "sig",
        "n": public["n"],
        "e": public["e"],
    }


def sign(claims: Mapping[str, Any], key: Key, kid: str) -> str:
    return jwt.encode(dict(claims), key, algorithm=ALGORITHM, headers={"kid": kid, "typ": "JWT"})


def unverified_kid(token: str) -> str | None:
    """The ``kid`` of a token's header, or None when the token is not a JWS."""
    try:
        header = jwt.get_unverified_header(token)
    except JOSEError:
        return None
    kid = header.get("kid")
    return kid if isinstance(kid, str) and header.get("alg") == ALGORITHM else None


def verify(
    token: str, public_key: Key, *, issuer: str, audience: str | None, typ: str
) -> dict[str, Any]:
    """Verify an RS256 token signed by ``public_key``; claims or ``JOSEError``.

    python-jose accepts tokens without ``exp`` or ``aud`` unless told: both are
    required here, as are ``iss`` and the token type (an access token is not a
    refresh token and vice versa).
    """
    options = {
        "require_exp": True,
        "require_iat": True,
        "require_sub": True,
        "verify_aud": audience is not None,
        "require_aud": audience is not None,
        "leeway": 0,
    }
    claims = jwt.decode(
        token, public_key, algorithms=[ALGORITHM], issuer=issuer, audience=audience, options=options
    )
    if claims.get("typ") != typ:
        raise JOSEError(f"token type {claims.get('typ')!r} is not {typ!r}")
    return claims


def verify_id_token_hint(token: str, public_key: Key, *, issuer: str) -> dict[str, Any]:
    """An ``id_token_hint`` (logout): signed by us, an ID token, ``exp`` not checked
    (OIDC RP-Initiated Logout accepts an expired hint, as Keycloak does)."""
    options = {"verify_exp": False, "verify_aud": False, "require_iat": True,
               "require_sub": True, "leeway": 0}
    claims = jwt.decode(token, public_key, algorithms=[ALGORITHM], issuer=issuer, options=options)
    if claims.get("typ") != "ID":
        raise JOSEError(f"token type {claims.get('typ')!r} is not 'ID'")
    return claims
