"""One mapping from every failure to the error envelope of API.md.

* ``shared.errors.PlatformError`` (raised here or arriving over RPC as itself)
  → its code and ``HTTP_STATUS[code]``;
* werkzeug's HTTP errors (404, 405, 413, 415, ...) → the matching API code;
  flask-smorest/webargs validation errors never reach here as 422: our parser
  (``web.Parser``) raises ``ValidationError`` (400) directly;
* anything else → 500 ``internal_error`` naming the request id; the traceback
  goes to the log, never to the client.

Also: the request id (``X-Request-ID``) of every request, put on every
response and on every log line of the gateway.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from flask import Flask, Response, g, has_request_context, jsonify, request
from werkzeug.exceptions import HTTPException

from shared import logs
from shared.errors import HTTP_STATUS, PlatformError
from shared.logs import LOG_FORMAT  # noqa: F401  (re-exported for the gateway's callers)
from shared.mongo import as_platform_error

log = logging.getLogger(__name__)

#: werkzeug status → API error code (statuses not listed keep a generic code).
HTTP_CODES: dict[int, str] = {
    400: "validation_error",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "service_unavailable",
}

# A client-supplied id is echoed only when it is short and harmless in logs and headers.
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def envelope(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> Response:
    response = jsonify(envelope(code, message, details))
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="ml-platform"'
    return response


def current_request_id() -> str:
    if has_request_context():
        return getattr(g, "request_id", None) or "-"
    return "-"


class RequestIdFilter(logs.RequestIdFilter):
    """Adds ``request_id`` (of the Flask request being served, else ``-``) to every record."""

    def __init__(self, name: str = "") -> None:
        super().__init__(current_request_id, name)


def configure_logging(level: str = "INFO") -> None:
    """Root handler with the request id on every line (gunicorn's own loggers included);
    the records also go to the system logs (« Journaux système », ``shared.logship``)."""
    logs.configure_logging(current_request_id, level, ship_as="gateway")


def _assign_request_id() -> None:
    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if _SANE_REQUEST_ID.match(incoming) else uuid.uuid4().hex


def _echo_request_id(response: Response) -> Response:
    response.headers["X-Request-ID"] = current_request_id()
    if response.status_code >= 400 and request.path.startswith("/api/"):
        # One line per refused or failed API call: the system logs find it by request id.
        code = response.status_code
        log.log(logging.WARNING if code >= 500 else logging.INFO, "%s %s answered %d",
                request.method, request.path, code)
    return response


def handle_platform_error(exc: PlatformError) -> Response:
    status = HTTP_STATUS.get(exc.code, getattr(exc, "status", 500))
    if status >= 500:
        log.warning("%s: %s", exc.code, exc.message)
    details = exc.details if isinstance(exc.details, dict) else {"detail": exc.details}
    return error_response(status, exc.code, exc.message, details)


def handle_http_exception(exc: HTTPException) -> Response:
    status = exc.code or 500
    if status >= 500:
        return handle_unexpected(exc)
    code = HTTP_CODES.get(status, "http_error")
    details: dict[str, Any] = {}
    data = getattr(exc, "data", None) or {}
    messages = data.get("messages") or data.get("errors")
    if isinstance(messages, dict):
        # webargs nests messages under their location ({"json": {...}}): flatten.
        for value in messages.values():
            if isinstance(value, dict):
                details.update(value)
        status, code = 400, "validation_error"
    message = data.get("message") or exc.description or code
    if status == 413:
        message = "request body larger than the upload limit"
    response = error_response(status, code, message, details)
    if status == 405 and getattr(exc, "valid_methods", None):
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


def handle_unexpected(exc: BaseException) -> Response:
    platform_error = as_platform_error(exc)  # the database down: 503, not 500
    if isinstance(platform_error, PlatformError):
        return handle_platform_error(platform_error)
    request_id = current_request_id()
    log.error(
        "unhandled error on %s %s",
        request.method,
        request.path,
        exc_info=(type(exc), exc, exc.__traceback__),
    )
    return error_response(
        500,
        "internal_error",
        f"internal error (request id {request_id})",
        {"request_id": request_id},
    )


def init_app(app: Flask) -> None:
    """Register the request id hooks and every error handler (after flask-smorest's)."""
    app.before_request(_assign_request_id)
    app.after_request(_echo_request_id)
    app.register_error_handler(PlatformError, handle_platform_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
