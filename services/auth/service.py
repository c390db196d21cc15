"""The auth service: the platform's embedded OpenID Connect issuer.

It serves Keycloak's URL layout under ``/realms/ml-platform`` (discovery,
JWKS, the browser login page, token, userinfo, logout) with Keycloak's claims
and error codes, so the gateway and the web app work unchanged against it or a
real Keycloak, and answers ``get_user`` / ``list_users`` / ``unlock_user`` over
RPC. The browser login itself lives in ``web_login.py``.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from jose.exceptions import JOSEError
from nameko.events import BROADCAST, EventDispatcher, event_handler
from nameko.extensions import DependencyProvider
from nameko.rpc import rpc
from nameko.web.handlers import http
from prometheus_client import Counter
from werkzeug.wrappers import Request, Response

from services.auth import domain, lockout, user_admin
from services.auth.attempts import INACTIVE, SignInAttempt
from services.auth.dependencies import KeyRepository, UserRepository
from services.auth.domain import CodeGrant, IssuerSettings, OAuthError, PasswordGrant, User
from services.auth.lockout import LockoutPolicy
from services.auth.login_store import LoginRepository
from services.auth.schemas import dump_user
from services.auth.web_login import BrowserLogin
from shared import events
from shared.config import DEFAULTS
from shared.errors import EXPECTED
from shared.observability import Observability
from shared.settings import PlatformSettings

log = logging.getLogger(__name__)

TOKEN_REQUESTS = Counter(
    "ml_auth_token_requests_total",
    "Token endpoint requests, by grant type and outcome (success or OAuth2 error code)",
    ["grant_type", "outcome"],
)

OIDC = f"{domain.REALM_PATH}/protocol/openid-connect"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class Issuer(DependencyProvider):
    """The issuer's settings (``OIDC_ISSUER``, audience, token lifetimes) from config."""

    def setup(self) -> None:
        config = self.container.config

        def get(name: str) -> str:
            value = config.get(name)
            return DEFAULTS[name] if value in (None, "") else value

        public_url = str(
            config.get("PUBLIC_URL") or f"http://localhost:{config.get('GATEWAY_PORT') or 3000}"
        ).rstrip("/")
        clients = domain.clients_for(public_url)
        origins = config.get("OIDC_WEB_ORIGINS")
        self.settings = IssuerSettings(
            issuer=str(get("OIDC_ISSUER")).rstrip("/"),
            audience=str(get("OIDC_AUDIENCE")),
            access_ttl_s=int(get("ACCESS_TOKEN_TTL_S")),
            refresh_ttl_s=int(get("REFRESH_TOKEN_TTL_S")),
            web_origins=(
                domain.parse_origins(origins) if origins else domain.web_origins_of(clients)
            ),
            clients=clients,
            public_url=public_url,
            code_ttl_s=int(get("AUTH_CODE_TTL_S")),
            password_min_length=int(get("PASSWORD_MIN_LENGTH")),
        )

    def get_dependency(self, worker_ctx) -> IssuerSettings:
        return self.settings


class Lockout(DependencyProvider):
    """The brute-force thresholds, read through ``LockoutPolicy.from_config`` (contract C2):
    the service's config, overridden by the global settings ``login_max_failures`` and
    ``login_lockout_s`` (``shared.settings``: they change without a restart)."""

    def setup(self) -> None:
        self.config = dict(self.container.config)
        self.settings = next(d for d in self.container.dependencies
                             if isinstance(d, PlatformSettings))
        self._built: tuple[int, LockoutPolicy] | None = None

    def get_dependency(self, worker_ctx) -> LockoutPolicy:
        view = self.settings.view
        if self._built is None or self._built[0] != view.version:
            config = {**self.config, "LOGIN_MAX_FAILURES": view["login_max_failures"],
                      "LOGIN_LOCKOUT_S": view["login_lockout_s"]}
            # A first wait above the configured longest one raises the longest one.
            longest = float(config.get("LOGIN_LOCKOUT_MAX_S") or lockout.DEFAULT_LOCKOUT_MAX_S)
            config["LOGIN_LOCKOUT_MAX_S"] = max(longest, float(view["login_lockout_s"]))
            self._built = (view.version, LockoutPolicy.from_config(config))
        return self._built[1]


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return _json_security_headers(Response(
        json.dumps(body), status=status, headers=headers, content_type="application/json"
    ))


def _json_security_headers(response: Response) -> Response:
    """Headers of every OIDC JSON answer (discovery, certs, token, userinfo, errors):
    never sniffed, framed or sent on as a referrer (the login page sets its own)."""
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Content-Security-Policy"] = "default-src 'none'; frame-ancestors 'none'"
    return response


def _oauth_error(exc: OAuthError, headers: dict[str, str] | None = None) -> Response:
    return _json(exc.body(), exc.status, {**NO_STORE, **exc.headers, **(headers or {})})


def _cors(request: Request, response: Response, settings: IssuerSettings) -> Response:
    """Let the web app's origins read the answer, as Keycloak does for a client's webOrigins."""
    origin = request.headers.get("Origin")
    if origin and origin in settings.web_origins:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = "WWW-Authenticate"
    response.headers.add("Vary", "Origin")
    return response


def _bearer(request: Request) -> str:
    scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise domain.invalid_token("Missing bearer token")
    return token.strip()


# user_admin by module: ``nameko run`` takes every class of this module with entrypoints
# for a service.
class AuthService(BrowserLogin, user_admin.UserAdministration):
    name = "auth"

    users = UserRepository()
    keys = KeyRepository()
    login = LoginRepository()
    issuer: IssuerSettings = Issuer()
    lockout: LockoutPolicy = Lockout()
    platform_settings = PlatformSettings()
    dispatch = EventDispatcher()
    observability = Observability()

    @event_handler("admin", events.SETTINGS_CHANGED, handler_type=BROADCAST,
                   reliable_delivery=False)
    def on_settings_changed(self, payload: dict[str, Any]) -> None:
        """Every replica takes the new global settings (login lockout thresholds)."""
        self.platform_settings.apply(payload)

    # -- OIDC over HTTP -------------------------------------------------------

    @http("GET", f"{domain.REALM_PATH}/.well-known/openid-configuration")
    def openid_configuration(self, request: Request) -> Response:
        """The OIDC discovery document (Keycloak's field names).

        Example: ``{"issuer": "http://localhost:8080/realms/ml-platform",
        "token_endpoint": ".../protocol/openid-connect/token", "jwks_uri": ...}``.
        """
        return _cors(request, _json(domain.openid_configuration(self.issuer.issuer)), self.issuer)

    @http("GET", f"{OIDC}/certs")
    def certs(self, request: Request) -> Response:
        """The JWKS: every signing key not retired, newest first.

        Example: ``{"keys": [{"kid": "...", "kty": "RSA", "alg": "RS256",
        "use": "sig", "n": "...", "e": "AQAB"}]}``.
        """
        return _cors(request, _json(self.keys.jwks()), self.issuer)

    @http("GET,POST", f"{OIDC}/auth")
    def authorize(self, request: Request) -> Response:
        """The authorization endpoint: the French login page (code flow + PKCE S256).

        ``GET ?client_id=ml-platform-web&redirect_uri=...&response_type=code
        &scope=openid&state=...&nonce=...&code_challenge=...&code_challenge_method=S256``
        → the login page (or, within an SSO session, 302 to
        ``redirect_uri?code=...&state=...``); ``POST`` (the form) → 302 with the
        code, or the page again with the error. An unknown client or a
        redirect URI not exactly registered → 400 error page, never a redirect.
        """
        return self._authorize(request)

    @http("POST", f"{OIDC}/token")
    def token(self, request: Request) -> Response:
        """Token endpoint (form-encoded): ``authorization_code`` (with
        ``code_verifier``), ``password`` and ``refresh_token`` grants.

        ``grant_type=password&client_id=ml-platform-cli&username=admin&password=...``
        → 200 ``{"access_token", "refresh_token", "expires_in",
        "refresh_expires_in", "token_type": "Bearer", "scope", ...}``.
        Errors are OAuth2's: 400 ``invalid_request`` / ``unsupported_grant_type``
        / ``invalid_grant``, 401 ``invalid_client``, 401 ``invalid_grant``
        "Invalid user credentials" alike for a wrong password or an unknown user,
        and 429 ``rate_limited`` (``Retry-After``) while the user name is locked.
        """
        return _cors(request, self._token(request), self.issuer)

    def _token(self, request: Request) -> Response:
        form = request.form
        grant_label = domain.grant_type_label(form)
        try:
            grant = domain.parse_token_request(form, self.issuer.clients)
            if isinstance(grant, PasswordGrant):
                body = self._password_grant(grant, request)
            elif isinstance(grant, CodeGrant):
                body = self._code_grant(grant)
            else:
                body = self._refresh_grant(grant)
        except OAuthError as exc:
            TOKEN_REQUESTS.labels(grant_label, exc.error).inc()
            log.info("token request refused: %s %s", grant_label, exc)
            return _oauth_error(exc)
        except Exception:
            # An OAuth client expects a JSON error, and the exception text
            # (database hosts...) is not for it to see.
            TOKEN_REQUESTS.labels(grant_label, "server_error").inc()
            log.exception("token request failed")
            return _json(
                {"error": "server_error", "error_description": "Internal error"}, 500, NO_STORE
            )
        TOKEN_REQUESTS.labels(grant_label, "success").inc()
        return _json(body, 200, NO_STORE)

    @http("GET,POST", f"{OIDC}/userinfo")
    def userinfo(self, request: Request) -> Response:
        """Claims of the user behind a Bearer access token (current user record).

        → 200 ``{"sub", "preferred_username", "email", "given_name",
        "family_name", "name", "realm_access": {"roles": [...]}}``; 401
        ``invalid_token`` (with ``WWW-Authenticate``) for a missing, invalid or
        expired token or a deactivated user.
        """
        return _cors(request, self._userinfo(request), self.issuer)

    def _userinfo(self, request: Request) -> Response:
        try:
            claims = self._verify(
                _bearer(request), typ="Bearer", audience=None, error=domain.invalid_token
            )
            user = self.users.find_by_id(claims["sub"])
            if user is None or not user.active:
                raise domain.invalid_token("User not found or disabled")
        except OAuthError as exc:
            challenge = (
                f'Bearer realm="{domain.REALM}", error="{exc.error}", '
                f'error_description="{exc.description}"'
            )
            return _oauth_error(exc, {"WWW-Authenticate": challenge})
        return _json(domain.userinfo(user), 200, NO_STORE)

    @http("GET,POST", f"{OIDC}/logout")
    def logout(self, request: Request) -> Response:
        """Logout. With a ``refresh_token`` (POST form, scripts): ends its session → 204.

        Otherwise the browser's end-session endpoint: ``id_token_hint``,
        ``post_logout_redirect_uri`` (exact match), ``client_id``, ``state`` → the
        SSO session ends (its refresh tokens stop working), its cookie is cleared,
        302 to the post-logout URI with ``state``; without an id_token_hint the
        user confirms on a page first.
        """
        if request.method == "POST" and "refresh_token" in request.form:
            return _cors(request, self._logout(request.form), self.issuer)
        return self._end_session(request)

    def _logout(self, form) -> Response:
        try:
            client_id = form.get("client_id") or ""
            if client_id not in self.issuer.clients:
                raise domain.invalid_client()
            token = form.get("refresh_token")
            if not token:
                raise OAuthError("invalid_request", "Missing form parameter: refresh_token")
            claims = self._verify_refresh(token, client_id)
        except OAuthError as exc:
            return _oauth_error(exc)
        self.users.close_session(claims["sid"])
        return Response(status=204, headers=NO_STORE)

    @http("OPTIONS", f"{OIDC}/<endpoint>")
    def preflight(self, request: Request, endpoint: str) -> Response:
        """CORS preflight for the web app's origins (userinfo is called with a Bearer header)."""
        response = Response(status=204)
        if request.headers.get("Origin") in self.issuer.web_origins:
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
            response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
            response.headers["Access-Control-Max-Age"] = "3600"
        return _cors(request, response, self.issuer)

    # -- RPC ---------------------------------------------------------------------

    @rpc(expected_exceptions=EXPECTED)
    def get_user(self, username: str) -> dict[str, Any]:
        """One user by username (case-insensitive), without the password hash.

        → ``{"id", "username", "email", "first_name", "last_name", "role",
        "roles": [role], "active", "created_at", "updated_at"}``.
        Raises ``NotFound`` for an unknown username.
        """
        return dump_user(self.users.get_user(username))

    @rpc(expected_exceptions=EXPECTED)
    def list_users(self) -> list[dict[str, Any]]:
        """Every user, sorted by username, in ``get_user``'s shape (no hash)."""
        return [dump_user(user) for user in self.users.list_users()]

    @rpc(expected_exceptions=EXPECTED)
    def unlock_user(self, username: str) -> dict[str, Any]:
        """Lift the brute-force lockout of a user name (and forget its failures).

        → ``{"username", "unlocked": true}`` when it was locked or had failures,
        ``false`` otherwise. Works for any user name, known or not.
        """
        name = domain.normalize_username(username)
        return {"username": name, "unlocked": self.login.reset_failures(name)}

    # -- grants ------------------------------------------------------------------

    def _password_grant(self, grant: PasswordGrant, request: Request) -> dict[str, Any]:
        attempt = SignInAttempt(self.users, self.login, self.lockout, self.dispatch,
                                client_id=grant.client.client_id, client_ip=request.remote_addr)
        outcome = attempt.check(grant.username, grant.password)
        if outcome.retry_after_s:
            raise domain.rate_limited(outcome.retry_after_s)
        # Inactive is said after the password so a guesser learns nothing about the account.
        if outcome.reason == INACTIVE:
            raise domain.account_disabled()
        user = outcome.user
        if user is None:
            raise domain.invalid_credentials()
        if user.password_temporary:
            raise domain.account_not_set_up()
        attempt.succeeded(user)
        session = self.users.open_session(
            user, grant.client.client_id, grant.scope, self.issuer.session_max_s
        )
        return self._issue(
            user,
            grant.client.client_id,
            session.id,
            grant.scope,
            session_started=int(session.started_at.timestamp()),
        )

    def _refresh_grant(self, grant: domain.RefreshGrant) -> dict[str, Any]:
        claims = self._verify_refresh(grant.refresh_token, grant.client.client_id)
        user = self.users.find_by_id(claims["sub"])
        if user is None or not user.active:
            if user is not None:
                self.users.close_sessions_of(user.id)
            raise (
                domain.account_disabled()
                if user
                else domain.invalid_refresh_token("Session not active")
            )
        session = self.users.touch_session(claims["sid"], user.id, grant.client.client_id)
        if session is None:
            raise domain.invalid_refresh_token("Session not active")
        return self._issue(
            user,
            grant.client.client_id,
            session.id,
            session.scope,
            session_started=int(session.started_at.timestamp()),
            nonce=session.nonce,
        )

    def _issue(
        self,
        user: User,
        client_id: str,
        sid: str,
        scope: str,
        *,
        session_started: int,
        nonce: str | None = None,
    ) -> dict[str, Any]:
        settings = self.issuer
        now = int(time.time())
        key = self.keys.active()
        access = domain.access_claims(user, client_id, settings, now=now, sid=sid, scope=scope)
        refresh = domain.refresh_claims(
            user,
            client_id,
            settings,
            now=now,
            sid=sid,
            session_started=session_started,
            scope=scope,
        )
        id_token = None
        if "openid" in scope.split():
            id_token = domain.sign(
                domain.id_token_claims(
                    user, client_id, settings, now=now, sid=sid,
                    auth_time=session_started, nonce=nonce,
                ),
                key.private,
                key.kid,
            )
        return domain.token_response(
            domain.sign(access, key.private, key.kid),
            domain.sign(refresh, key.private, key.kid),
            refresh["exp"],
            settings,
            now=now,
            sid=sid,
            scope=scope,
            id_token=id_token,
        )

    def _verify_refresh(self, token: str, client_id: str) -> dict[str, Any]:
        claims = self._verify(
            token, typ="Refresh", audience=self.issuer.issuer, error=domain.invalid_refresh_token
        )
        if claims.get("azp") != client_id:
            raise domain.invalid_refresh_token(
                "Invalid refresh token. Token client and authorized client don't match"
            )
        if not claims.get("sid"):
            raise domain.invalid_refresh_token()
        return claims

    def _verify(self, token: str, *, typ: str, audience: str | None, error) -> dict[str, Any]:
        # python-jose ignores kid with a key set: pick the key by kid ourselves.
        kid = domain.unverified_kid(token)
        key = self.keys.find(kid) if kid else None
        if key is None:
            raise error()
        try:
            return domain.verify(
                token, key.public, issuer=self.issuer.issuer, audience=audience, typ=typ
            )
        except JOSEError as exc:
            log.info("token rejected: %s", exc)
            raise error() from None
