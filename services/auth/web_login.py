"""The browser login of the auth service (Keycloak's layout): the ``/auth`` login page,
the ``authorization_code`` grant, and the browser's end-session (``/logout``).

Mixed into ``AuthService`` (which provides ``users``, ``login``, ``keys``,
``issuer``, ``lockout``, ``dispatch`` and ``_issue`` / ``_verify``).

* ``GET /auth``: a valid request with a live SSO session gets its code at once
  (as Keycloak does); otherwise the French login page.
* ``POST /auth`` (the form, CSRF-checked): the credentials (lockout, events,
  metrics through ``SignInAttempt``), then, for a temporary password, the
  "Mettre à jour le mot de passe" step; then an SSO session, its cookie, and a
  redirect to the client with ``code`` and ``state``.
* Codes are single-use: a replayed code also ends the session it opened.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from jose.exceptions import JOSEError
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from services.auth import browser, domain, pages
from services.auth.attempts import INACTIVE, SignInAttempt
from services.auth.browser import AuthorizeError, AuthorizeRequest
from services.auth.dependencies import Session, verify_password
from services.auth.domain import CodeGrant, OAuthError, User
from services.auth.lockout import locked_message
from services.auth.login_store import digest, new_secret
from shared.mongo import utcnow

log = logging.getLogger(__name__)

LOGIN_HEADING = "Connexion"
UPDATE_HEADING = "Mettre à jour le mot de passe"
TICKET_TYP = "LoginAction"


class BrowserLogin:
    """The browser endpoints; see the module docstring."""

    # -- helpers ------------------------------------------------------------------

    def _public_action(self, request: Request) -> str:
        """This request's URL as the browser knows it (the issuer's public URL)."""
        path = request.path.removeprefix(domain.REALM_PATH)
        query = request.query_string.decode("ascii", "replace")
        return f"{self.issuer.issuer}{path}" + (f"?{query}" if query else "")

    def _form_origins(self) -> list[str]:
        return [
            domain.origin_of(uri)
            for client in self.issuer.clients.values()
            for uri in (*client.redirect_uris, *client.post_logout_redirect_uris)
        ]

    def _page(self, request: Request, template: str, heading: str, *, status: int = 200,
              **context: Any) -> Response:
        """A form page, with its CSRF token in the form and in the cookie."""
        token = pages.csrf_token(request)
        response = pages.render(
            template, heading, status=status, form_origins=self._form_origins(),
            csrf_token=token, action=self._public_action(request),
            **context,
        )
        pages.set_cookie(response, pages.CSRF_COOKIE, token, issuer=self.issuer.issuer,
                         same_site="Strict")
        return response

    def _login_page(self, request: Request, *, error: str | None = None, status: int = 200,
                    username: str = "") -> Response:
        return self._page(request, "login.html", LOGIN_HEADING, status=status, error=error,
                          username=username)

    def _attempt(self, request: Request, client_id: str) -> SignInAttempt:
        return SignInAttempt(self.users, self.login, self.lockout, self.dispatch,
                             client_id=client_id, client_ip=request.remote_addr)

    def _sso_session(self, request: Request) -> Session | None:
        secret = request.cookies.get(pages.SSO_COOKIE)
        if not secret:
            return None
        return self.users.find_sso_session(digest(secret), self.issuer.refresh_ttl_s)

    # -- /auth --------------------------------------------------------------------

    def _authorize(self, request: Request) -> Response:
        try:
            auth = browser.parse_authorize(request.args, self.issuer.clients)
        except AuthorizeError as exc:
            return self._refuse(exc)
        if request.method == "POST":
            return self._login_form(request, auth)
        session = self._sso_session(request) if auth.prompt != "login" else None
        if session is not None and session.client_id == auth.client.client_id:
            user = self.users.find_by_id(session.user_id)
            if user and user.active and not user.password_temporary:
                self.users.set_session_nonce(session.id, auth.nonce)
                return self._send_code(auth, user, session.id)
            self.users.close_session(session.id)  # deactivated meanwhile: sign in again
        if auth.prompt == "none":
            return redirect(auth.redirect(error="login_required", iss=self.issuer.issuer))
        return self._login_page(request)

    def _refuse(self, exc: AuthorizeError) -> Response:
        log.info("authorization request refused: %s", exc)
        if exc.redirect_to:
            return redirect(exc.redirect_to)
        text = {
            "invalid_client": "Client inconnu : la demande de connexion n'est pas valide.",
            "unauthorized_client": "Ce client ne peut pas ouvrir de session dans le navigateur.",
        }.get(exc.error, "Adresse de redirection invalide : la demande de connexion n'est pas "
                         "valide.")
        return pages.message("Erreur", text, status=400)

    def _login_form(self, request: Request, auth: AuthorizeRequest) -> Response:
        if not pages.csrf_valid(request):
            log.info("login form refused: missing or wrong CSRF token")
            return self._login_page(request, error=browser.FORM_EXPIRED, status=400)
        if request.form.get("login_ticket"):
            return self._update_password(request, auth)
        username = domain.normalize_username(request.form.get("username") or "")
        password = request.form.get("password") or ""
        if not username or not password:
            return self._login_page(request, error=browser.MISSING_FIELDS, status=400,
                                    username=username)
        attempt = self._attempt(request, auth.client.client_id)
        outcome = attempt.check(username, password)
        if outcome.retry_after_s:
            response = self._login_page(request, error=locked_message(outcome.retry_after_s),
                                        status=429, username=username)
            response.headers["Retry-After"] = str(outcome.retry_after_s)
            return response
        if outcome.reason == INACTIVE:
            # Said only after the right password, as Keycloak does ("Account is disabled").
            return self._login_page(request, error=browser.ACCOUNT_DISABLED, status=400,
                                    username=username)
        if outcome.user is None:
            return self._login_page(request, error=browser.INVALID_CREDENTIALS, status=401,
                                    username=username)
        if outcome.user.password_temporary:
            return self._update_page(request, outcome.user, self._ticket(request, outcome.user))
        return self._signed_in(request, auth, outcome.user, attempt)

    def _signed_in(self, request: Request, auth: AuthorizeRequest, user: User,
                   attempt: SignInAttempt) -> Response:
        """A new SSO session, its cookie, and the redirect with the code."""
        secret = new_secret()
        session = self.users.open_session(
            user, auth.client.client_id, auth.scope, self.issuer.session_max_s,
            sso_hash=digest(secret), nonce=auth.nonce,
        )
        response = self._send_code(auth, user, session.id)
        pages.set_cookie(response, pages.SSO_COOKIE, secret, issuer=self.issuer.issuer)
        attempt.succeeded(user)
        return response

    def _send_code(self, auth: AuthorizeRequest, user: User, sid: str) -> Response:
        code = self.login.issue_code(
            client_id=auth.client.client_id, redirect_uri=auth.redirect_uri,
            code_challenge=auth.code_challenge, user_id=user.id, sid=sid, scope=auth.scope,
            nonce=auth.nonce, ttl_s=self.issuer.code_ttl_s,
        )
        response = redirect(auth.redirect(code=code, session_state=sid, iss=self.issuer.issuer))
        response.headers.update({"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})
        return response

    # -- temporary password -----------------------------------------------------------

    def _ticket(self, request: Request, user: User) -> str:
        """A signed, short-lived proof that this browser gave ``user``'s right password."""
        now = int(time.time())
        key = self.keys.active()
        claims = {
            "iss": self.issuer.issuer, "aud": self.issuer.issuer, "sub": user.id,
            "typ": TICKET_TYP, "iat": now, "exp": now + self.issuer.login_ttl_s,
            "jti": domain.new_id(), "csrf": digest(pages.csrf_token(request)),
        }
        return domain.sign(claims, key.private, key.kid)

    def _update_page(self, request: Request, user: User, ticket: str, *,
                     errors: list[str] | None = None) -> Response:
        return self._page(request, "update_password.html", UPDATE_HEADING,
                          status=400 if errors else 200, errors=errors or [], ticket=ticket,
                          min_length=self.issuer.password_min_length)

    def _update_password(self, request: Request, auth: AuthorizeRequest) -> Response:
        ticket = request.form.get("login_ticket") or ""
        try:
            claims = self._verify(ticket, typ=TICKET_TYP, audience=self.issuer.issuer,
                                  error=domain.invalid_token)
        except OAuthError:
            claims = {}
        user = self.users.find_by_id(claims.get("sub", ""))
        same_browser = claims.get("csrf") == digest(request.cookies.get(pages.CSRF_COOKIE) or "")
        if not (user and same_browser and user.active and user.password_temporary):
            return self._login_page(request, error=browser.FORM_EXPIRED, status=400)
        new = request.form.get("password_new") or ""
        errors = browser.password_policy_errors(
            new, request.form.get("password_confirm") or "", username=user.username,
            min_length=self.issuer.password_min_length,
        )
        if not errors and verify_password(user.password_hash, new):
            errors.append("Le nouveau mot de passe doit être différent de l'ancien.")
        if errors:
            return self._update_page(request, user, ticket, errors=errors)
        self.users.set_password(user.id, new, temporary=False)
        log.info("user %s replaced a temporary password", user.username)
        return self._signed_in(request, auth, user, self._attempt(request, auth.client.client_id))

    # -- token endpoint: authorization_code -----------------------------------------------

    def _code_grant(self, grant: CodeGrant) -> dict[str, Any]:
        redemption = self.login.redeem_code(grant.code)
        code = redemption.code
        if code is None:
            if redemption.replayed_sid:
                # A code used twice was stolen or leaked: end what it opened.
                log.warning("authorization code replayed: ending session %s",
                            redemption.replayed_sid)
                self.users.close_session(redemption.replayed_sid)
            raise OAuthError("invalid_grant", "Code not valid")
        reason = browser.code_refusal(
            code, client_id=grant.client.client_id, redirect_uri=grant.redirect_uri,
            code_verifier=grant.code_verifier, now=utcnow(),
        )
        if reason:
            raise OAuthError("invalid_grant", reason)
        user = self.users.find_by_id(code.user_id)
        session = self.users.find_session(code.sid)
        if user is None or session is None:
            raise OAuthError("invalid_grant", "Session not active")
        if not user.active:
            self.users.close_sessions_of(user.id)
            raise domain.account_disabled()
        return self._issue(
            user, grant.client.client_id, session.id, code.scope,
            session_started=int(session.started_at.timestamp()), nonce=code.nonce,
        )

    # -- /logout (browser) -------------------------------------------------------------------

    def _end_session(self, request: Request) -> Response:
        """RP-initiated logout: ``id_token_hint``, ``post_logout_redirect_uri``
        (exact match), ``client_id``, ``state``. Without a valid hint the user
        confirms on a page (CSRF-checked), so a link cannot sign anyone out."""
        params = request.values
        hint = params.get("id_token_hint") or ""
        claims: dict[str, Any] = {}
        if hint:
            claims = self._id_token_hint(hint)
            if not claims:
                return pages.message("Erreur", "Paramètre id_token_hint invalide.", status=400)
        client_id = params.get("client_id") or claims.get("azp") or ""
        if claims and client_id != claims.get("azp"):
            return pages.message("Erreur", "Paramètre client_id invalide.", status=400)
        target = params.get("post_logout_redirect_uri") or ""
        client = self.issuer.clients.get(client_id)
        if target and not (client and browser.post_logout_uri_allowed(target, client)):
            return pages.message("Erreur", "Adresse de redirection après déconnexion invalide.",
                                 status=400)
        confirmed = request.method == "POST" and params.get("confirm") == "1"
        if confirmed and not pages.csrf_valid(request):
            return pages.message("Erreur", browser.FORM_EXPIRED, status=400)
        if not claims and not confirmed:
            hidden = {name: params[name] for name in
                      ("client_id", "post_logout_redirect_uri", "state") if params.get(name)}
            return self._page(request, "logout.html", "Déconnexion", hidden=hidden)
        session = self._sso_session(request)
        for sid in {claims.get("sid"), session.id if session else None} - {None}:
            self.users.close_session(sid)
        if target:
            response = redirect(browser.add_query(target, state=params.get("state") or None))
        else:
            response = pages.message("Déconnexion", "Vous êtes déconnecté.", kind="info")
        response.headers["Cache-Control"] = "no-store"
        pages.clear_cookie(response, pages.SSO_COOKIE, issuer=self.issuer.issuer)
        return response

    def _id_token_hint(self, token: str) -> dict[str, Any]:
        """The claims of an ID token this issuer signed (expired or not), else {}."""
        kid = domain.unverified_kid(token)
        key = self.keys.find(kid) if kid else None
        if key is None:
            return {}
        try:
            claims = domain.verify_id_token_hint(token, key.public, issuer=self.issuer.issuer)
        except JOSEError as exc:
            log.info("id_token_hint rejected: %s", exc)
            return {}
        return claims if claims.get("azp") in self.issuer.clients else {}

