"""The platform's one error module.

A ``PlatformError`` carries an API error code, a message and details. Each
subclass is registered with nameko so it crosses RPC as itself (not as a
``RemoteError``), and ``HTTP_STATUS`` maps codes to the statuses of API.md.
"""

from __future__ import annotations

from typing import Any

from nameko.exceptions import deserialize_to_instance


class PlatformError(Exception):
    code = "internal_error"
    status = 500

    def __init__(self, message: str = "", details: dict[str, Any] | None = None):
        self.message = message or self.code
        self.details = details or {}
        # args is what nameko serialises; keep it JSON-safe and in __init__ order.
        super().__init__(self.message, self.details)

    def to_envelope(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}

    def __str__(self) -> str:
        return self.message


def _register(cls: type[PlatformError]) -> type[PlatformError]:
    return deserialize_to_instance(cls)


@_register
class ValidationError(PlatformError):
    """400: details map field name → list of messages."""

    code, status = "validation_error", 400


@_register
class Unauthorized(PlatformError):
    code, status = "unauthorized", 401


@_register
class Forbidden(PlatformError):
    code, status = "forbidden", 403


@_register
class NotFound(PlatformError):
    code, status = "not_found", 404


@_register
class Conflict(PlatformError):
    code, status = "conflict", 409


@_register
class PayloadTooLarge(PlatformError):
    code, status = "payload_too_large", 413


@_register
class UnsupportedMediaType(PlatformError):
    code, status = "unsupported_media_type", 415


@_register
class InvalidModelFile(PlatformError):
    code, status = "invalid_model_file", 422


@_register
class InvalidInputData(PlatformError):
    code, status = "invalid_input_data", 422


@_register
class RateLimited(PlatformError):
    code, status = "rate_limited", 429


@_register
class ServiceUnavailable(PlatformError):
    code, status = "service_unavailable", 503


_register(PlatformError)

#: Every error an RPC entrypoint may raise on purpose; list it in ``expected_exceptions``.
EXPECTED = (PlatformError,)

HTTP_STATUS: dict[str, int] = {
    cls.code: cls.status
    for cls in (
        PlatformError,
        ValidationError,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        PayloadTooLarge,
        UnsupportedMediaType,
        InvalidModelFile,
        InvalidInputData,
        RateLimited,
        ServiceUnavailable,
    )
}


def validation_error(field: str, message: str) -> ValidationError:
    """A 400 naming one field, e.g. ``validation_error("schedule", "bad cron")``."""
    return ValidationError(f"{field}: {message}", {field: [message]})
