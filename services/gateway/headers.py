"""The ONE place that sets security headers on every gateway response (contract C3).

Every response gets ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``,
``Referrer-Policy: no-referrer`` and a ``Content-Security-Policy`` chosen by the kind
of route:

* ``api`` — ``/api/v1/...`` (JSON) and ``/metrics``: nothing may load or frame it;
  ``Cache-Control: no-store`` (the answers carry user data), except the OpenAPI
  document, which is public;
* ``docs`` — ``/api/v1/docs`` (Swagger UI, vendored, no CDN): its own scripts and
  styles (Swagger UI sets inline styles), fetches to this origin only;
* ``app`` — everything else (the web app of ``services/gateway/webapp.py``): its own
  scripts only, the OIDC issuer for the token calls and the login form.

``Referrer-Policy: no-referrer`` rather than ``strict-origin-when-cross-origin``:
neither the API nor the web app needs the Referer anywhere (OIDC uses explicit
``redirect_uri``/``state``), and URLs of this platform carry ids (executions,
deployments) that need not reach another site, not even as an origin.

Downloads (``attachment()``: model files, results, log downloads) get
``Content-Disposition: attachment`` with an RFC 6266 name (an ASCII fallback plus the
sanitised UTF-8 name in ``filename*``), nosniff and ``no-store``.

``error_headers()`` is what the HTTP server's own error pages (414, 431, see
``gunicorn_worker.py``) send: the ``api`` set.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote, urlsplit

from flask import Flask, Response, current_app, request
from werkzeug.utils import secure_filename

API_PREFIX = "/api/v1"
DOCS_PREFIX = f"{API_PREFIX}/docs"
#: Public, cacheable API documents (no user data).
PUBLIC_API_PATHS = (f"{API_PREFIX}/openapi.json",)

COMMON: dict[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}

API_CSP = "default-src 'none'; frame-ancestors 'none'"
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'none'; object-src 'none'"
)


def app_csp(issuer: str | None) -> str:
    """The web app's policy (C3), the OIDC issuer's origin allowed for fetch and forms."""
    origin = issuer_origin(issuer)
    extra = f" {origin}" if origin else ""
    return (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; "
        f"connect-src 'self'{extra}; form-action 'self'{extra}; "
        "frame-ancestors 'none'; base-uri 'self'; object-src 'none'"
    )


def issuer_origin(issuer: str | None) -> str:
    """``http://localhost:8080/realms/x`` → ``http://localhost:8080`` ('' when unusable)."""
    parts = urlsplit(issuer or "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc}"


def route_kind(path: str) -> str:
    """``api``, ``docs`` or ``app`` for a request path."""
    if path == DOCS_PREFIX or path.startswith(DOCS_PREFIX + "/"):
        return "docs"
    if path == API_PREFIX or path.startswith(API_PREFIX + "/") or path == "/metrics":
        return "api"
    return "app"


def error_headers() -> list[tuple[str, str]]:
    """Headers of an error answered outside Flask (the HTTP server's 414/431)."""
    return [
        *COMMON.items(),
        ("Content-Security-Policy", API_CSP),
        ("Cache-Control", "no-store"),
    ]


def apply(response: Response, path: str, issuer: str | None) -> Response:
    """Set the headers of ``path``'s kind on ``response`` (views never set these)."""
    kind = route_kind(path)
    for name, value in COMMON.items():
        response.headers[name] = value
    if kind == "api":
        response.headers["Content-Security-Policy"] = API_CSP
        if path not in PUBLIC_API_PATHS:
            response.headers["Cache-Control"] = "no-store"
    elif kind == "docs":
        response.headers["Content-Security-Policy"] = DOCS_CSP
    else:
        response.headers["Content-Security-Policy"] = app_csp(issuer)
    return response


# -- downloads -------------------------------------------------------------------

_UNSAFE = re.compile(r'[\x00-\x1f\x7f"\\/;:*?<>|%]')


def download_name(filename: str | None, default: str = "download") -> str:
    """A file name safe to show: no directory, control character, quote or separator
    (``../../etc/passwd`` → ``etc_passwd``; ``résultats.csv`` stays), ≤ 200 characters."""
    name = unicodedata.normalize("NFC", filename or "")
    name = name.replace("\\", "/").strip("/").replace("/", "_")
    name = _UNSAFE.sub("_", name).strip(" ._")
    return name[:200] or default


def content_disposition(filename: str | None) -> str:
    """RFC 6266 ``attachment``: an ASCII ``filename`` and the UTF-8 ``filename*``."""
    name = download_name(filename)
    ascii_name = secure_filename(name)[:200] or "download"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def attachment(response: Response, filename: str | None) -> Response:
    """Mark ``response`` as a download of ``filename`` (never rendered by a browser)."""
    response.headers["Content-Disposition"] = content_disposition(filename)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


# -- registration ----------------------------------------------------------------


def _after(response: Response) -> Response:
    issuer = current_app.config.get("GATEWAY", {}).get("OIDC_ISSUER")
    return apply(response, request.path, issuer)


def init_app(app: Flask) -> None:
    """Set the headers on every response the Flask app sends (errors included)."""
    app.after_request(_after)
