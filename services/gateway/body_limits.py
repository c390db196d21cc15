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


def _limit_json_body() -> None:
    if not webargs_core.is_json(request.mimetype):
        return
    limit = limits.json_body_max_bytes()
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(
            f"JSON body of {request.content_length} bytes; at most {limit} bytes"
            " (send bigger inputs as a file)",
            {"body": [f"at most {limit} bytes"]},
        )
    # A chunked body (no Content-Length) stops at the limit while being read.
    request.max_content_length = limit


def init_app(app: Flask) -> None:
    """Register the JSON body limit (before any view parses the body)."""
    app.before_request(_limit_json_body)
