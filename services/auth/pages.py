"""The login pages: server-rendered HTML (Jinja2, autoescaped), their headers and CSRF.

Every page carries its own strict Content-Security-Policy (no script at all,
one nonce'd style block, forms posted only to the issuer itself or the web
app's origin, which the post-login redirect goes to), refuses framing
(``X-Frame-Options: DENY`` + ``frame-ancestors 'none'``) and is never cached,
so a back button after logout cannot show a signed-in page again.

CSRF: a random token in a cookie scoped to the realm's path (HttpOnly,
SameSite=Strict) and in a hidden field of each form; a POST is accepted only
when both are present and equal (double submit).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from werkzeug.wrappers import Request, Response

from services.auth.domain import REALM_PATH

PLATFORM = "Plateforme Centralisée de Modèles ML"
CSRF_COOKIE = "ML_LOGIN_CSRF"
CSRF_FIELD = "csrf_token"
#: The browser's SSO session (Keycloak's KEYCLOAK_IDENTITY): a random secret
#: whose hash finds the login session.
SSO_COOKIE = "ML_PLATFORM_SSO"

_env = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(["html"]),
    auto_reload=False,
)


def security_headers(nonce: str, form_origins: Iterable[str]) -> dict[str, str]:
    """The headers of every login page."""
    form_action = " ".join(["'self'", *sorted(set(form_origins))])
    csp = (
        "default-src 'none'; "
        f"style-src 'nonce-{nonce}'; "
        "img-src 'self' data:; "
        f"form-action {form_action}; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
    return {
        "Content-Security-Policy": csp,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store, no-cache, must-revalidate, max-age=0",
        "Pragma": "no-cache",
    }


def render(
    template: str, heading: str, *, status: int = 200, form_origins: Iterable[str] = (),
    **context: Any,
) -> Response:
    """A page from ``templates/``, with the page headers."""
    nonce = secrets.token_urlsafe(16)
    html = _env.get_template(template).render(
        platform=PLATFORM, heading=heading, nonce=nonce, **context
    )
    return Response(
        html,
        status=status,
        content_type="text/html; charset=utf-8",
        headers=security_headers(nonce, form_origins),
    )


def message(heading: str, text: str, *, status: int = 200, kind: str = "alert") -> Response:
    """A page with one message (an error page, "vous êtes déconnecté")."""
    return render("message.html", heading, status=status, message=text, kind=kind)


# -- CSRF -------------------------------------------------------------------------


def csrf_token(request: Request) -> str:
    """The browser's CSRF token (from its cookie), or a new one."""
    token = request.cookies.get(CSRF_COOKIE) or ""
    return token if 20 <= len(token) <= 100 else secrets.token_urlsafe(32)


def csrf_valid(request: Request) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE) or ""
    field = request.form.get(CSRF_FIELD) or ""
    return bool(cookie) and hmac.compare_digest(cookie.encode(), field.encode())


def _scope(issuer: str) -> tuple[str, bool]:
    """Cookie path and Secure flag for the issuer's public URL (behind a proxy that
    serves the realm under a prefix, the browser's path is the issuer's)."""
    parts = urlsplit(issuer)
    return (parts.path.rstrip("/") or REALM_PATH), parts.scheme == "https"


def set_cookie(response: Response, name: str, value: str, *, issuer: str,
               same_site: str = "Lax") -> None:
    """A session cookie (no Max-Age) for the realm's pages only, out of scripts' reach."""
    path, secure = _scope(issuer)
    response.set_cookie(name, value, path=path, httponly=True, secure=secure, samesite=same_site)


def clear_cookie(response: Response, name: str, *, issuer: str) -> None:
    path, secure = _scope(issuer)
    response.delete_cookie(name, path=path, httponly=True, secure=secure, samesite="Lax")
