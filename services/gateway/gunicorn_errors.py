"""gunicorn's own error answers in the API's JSON envelope.

gunicorn refuses some requests before the Flask app sees them — a request line
longer than ``limit_request_line`` (414), too many or too long headers (431), a
malformed request line (400) — and answers them with a small HTML page. This
module replaces the one function that writes that page (``gunicorn.util.write_error``,
used only by ``Worker.handle_error``) with one writing
``{"error": {"code", "message", "details"}}`` and the security headers of
``services/gateway/headers.py``. gunicorn's limits stay in force: only the answer's
shape changes. Installed by ``gunicorn.conf.py`` (``post_worker_init``).
"""

from __future__ import annotations

import json
import uuid

from gunicorn import util

from services.gateway.headers import error_headers

#: status → API error code of gunicorn's refusals.
CODES = {
    400: "validation_error",
    403: "forbidden",
    414: "uri_too_long",
    417: "expectation_failed",
    431: "header_fields_too_large",
    500: "internal_error",
    501: "not_implemented",
}


def json_error(status_int: int, reason: str, mesg: str) -> bytes:
    """The full HTTP response (status line, headers, body) of a refused request."""
    code = CODES.get(status_int, "http_error")
    message = f"{reason}: {mesg}" if mesg else reason
    body = json.dumps({"error": {"code": code, "message": message[:300], "details": {}}})
    lines = [
        f"HTTP/1.1 {status_int} {reason}",
        "Connection: close",
        "Content-Type: application/json",
        f"Content-Length: {len(body.encode())}",
        f"X-Request-ID: {uuid.uuid4().hex}",
        *(f"{name}: {value}" for name, value in error_headers()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode("latin-1", "replace")


def write_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """Drop-in for ``gunicorn.util.write_error``."""
    util.write_nonblock(sock, json_error(status_int, reason, mesg))


def install() -> None:
    """Make gunicorn answer its own errors in JSON (idempotent)."""
    util.write_error = write_error
