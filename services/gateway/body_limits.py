"""Bounds on request bodies that are not uploads: a JSON body is at most
``shared.limits.json_body_max_bytes()`` (``MAX_JSON_BODY_KB``), refused with 413
``payload_too_large`` before a byte of it is parsed.

Uploads (multipart, raw files) keep ``MAX_CONTENT_LENGTH`` (``MAX_UPLOAD_MB``); the
non-file parts of a multipart body are bounded by ``MAX_FORM_MEMORY_SIZE``.
"""

from __future__ import annotations

from flask import Flask, request
from webargs import core as webargs_core

from shared import limits
from shared.errors import PayloadTooLarge


def _too_large(size: int | str) -> PayloadTooLarge:
    limit = limits.json_body_max_bytes()
    return PayloadTooLarge(
        f"JSON body of {size} bytes; at most {limit} bytes (send bigger inputs as a file)",
        {"body": [f"at most {limit} bytes"]},
    )


def check_json_size(data: bytes) -> bytes:
    """``data`` (a JSON body or part) unless it is over the limit (413)."""
    if len(data) > limits.json_body_max_bytes():
        raise _too_large(f"more than {limits.json_body_max_bytes()}")
    return data


def _limit_json_body() -> None:
    if not webargs_core.is_json(request.mimetype):
        return
    limit = limits.json_body_max_bytes()
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(request.content_length)
    # A chunked body (no Content-Length) is read up to limit + 1 bytes: one byte more
    # than allowed is how check_json_size tells it was cut (werkzeug truncates quietly).
    request.max_content_length = limit + 1


def init_app(app: Flask) -> None:
    """Register the JSON body limit (before any view parses the body)."""
    app.before_request(_limit_json_body)
