"""Uploads into and downloads out of the artifact store, streamed.

* ``store_upload()``: the multipart ``file`` part (werkzeug spools big parts
  to disk, never whole in memory) or, for any other content type, the raw
  body read from ``request.stream`` chunk by chunk. The store enforces
  ``max_size`` (→ 413 ``payload_too_large``, nothing kept).
* ``download_response()``: a streaming response with ``Content-Length`` and
  ``Content-Disposition: attachment`` naming the sanitised original file.

File names from clients are sanitised (``secure_filename``) and kept only as
metadata; GridFS stores bytes under generated ids (TRAPS.md, "Flask and uploads").
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any
from urllib.parse import quote

from flask import Response, request
from werkzeug.datastructures import FileStorage
from werkzeug.utils import secure_filename

from services.gateway.web import store
from shared.artifacts import ArtifactRef
from shared.errors import ValidationError

log = logging.getLogger(__name__)

OCTET_STREAM = "application/octet-stream"

#: OpenAPI of an upload view (``@blp.doc(**FILE_BODY)``): a multipart ``file`` or a raw body.
FILE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                },
            },
            "application/octet-stream": {
                "schema": {"type": "string", "format": "binary"},
                "description": "raw body; name it with X-Filename or ?filename=",
            },
        },
    },
}

#: OpenAPI parameters naming a raw body (``X-Filename`` header or ``?filename=``).
FILENAME_PARAMETERS: list[dict[str, Any]] = [
    {"in": "header", "name": "X-Filename", "schema": {"type": "string"}, "required": False},
    {"in": "query", "name": "filename", "schema": {"type": "string"}, "required": False},
]


def safe_filename(name: str | None, default: str = "upload.bin") -> str:
    """``secure_filename`` (``../../etc/passwd`` → ``etc_passwd``), never empty."""
    cleaned = secure_filename(name or "")
    return cleaned[:200] or default


def max_upload_bytes() -> int:
    """The global setting ``max_upload_mb`` (services/gateway/settings.py), in bytes."""
    from services.gateway.settings import max_upload_mb

    return int(max_upload_mb() * 1024 * 1024)


def is_multipart() -> bool:
    return request.mimetype == "multipart/form-data"


def file_part(name: str = "file") -> FileStorage | None:
    """The multipart part ``name`` (None when absent)."""
    part = request.files.get(name)
    return part if part is not None and (part.filename or part.stream) else None


def store_file(part: FileStorage, metadata: dict[str, Any] | None = None) -> ArtifactRef:
    """Stream a multipart part into the store."""
    filename = safe_filename(part.filename)
    content_type = part.mimetype or OCTET_STREAM
    return store().put(
        part.stream, filename, content_type, metadata=metadata, max_size=max_upload_bytes()
    )


def store_upload(field: str = "file", metadata: dict[str, Any] | None = None) -> ArtifactRef:
    """Store this request's file: multipart part ``field``, else the raw body.

    Raw bodies take their name from the ``X-Filename`` header or ``?filename=``.
    Raises ``ValidationError`` (400) when there is no file, ``PayloadTooLarge`` (413).
    """
    if is_multipart():
        part = file_part(field)
        if part is None:
            raise ValidationError(
                f"a multipart {field!r} part is required",
                {field: ["Missing data for required field."]},
            )
        return store_file(part, metadata)
    if not request.content_length and request.headers.get("Transfer-Encoding") != "chunked":
        raise ValidationError(
            "the request has no file", {field: ["Missing data for required field."]}
        )
    filename = safe_filename(request.headers.get("X-Filename") or request.args.get("filename"))
    # curl --data-binary says form-urlencoded by default: that is no file type.
    content_type = request.mimetype or OCTET_STREAM
    if content_type == "application/x-www-form-urlencoded":
        content_type = OCTET_STREAM
    # request.stream is bounded by Content-Length / MAX_CONTENT_LENGTH; store() reads it
    # in 1 MiB chunks and stops at max_size.
    return store().put(
        request.stream, filename, content_type, metadata=metadata, max_size=max_upload_bytes()
    )


def discard(artifact: ArtifactRef) -> None:
    """Delete a stored upload nobody will use; a failure is logged, never raised."""
    try:
        store().delete(artifact.id)
    except Exception:
        log.warning("could not delete upload %s", artifact.id, exc_info=True)


@contextmanager
def discarded_on_failure(artifact: ArtifactRef | None) -> Iterator[ArtifactRef | None]:
    """Delete ``artifact`` (if any) when the block raises, then re-raise: a rejected or
    orphaned upload never stays in the store."""
    try:
        yield artifact
    except BaseException:
        if artifact is not None:
            discard(artifact)
        raise


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback and the RFC 5987 UTF-8 name."""
    ascii_name = safe_filename(filename, "download")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(ascii_name)}"


def download_response(artifact_id: str, filename: str, content_type: str | None = None) -> Response:
    """Stream an artifact out of the store (404 ``not_found`` when it is gone)."""
    grid_out = store().open(artifact_id)  # raises NotFound before any byte is sent
    return attachment_response(grid_out, grid_out.length, filename, content_type)


def attachment_response(
    handle: IO[bytes],
    size: int,
    filename: str,
    content_type: str | None = None,
    on_close: Callable[[], None] | None = None,
) -> Response:
    """Stream ``handle`` as an attachment in 1 MiB chunks; it is closed (then
    ``on_close()`` runs) once sent or when the client goes away."""

    def chunks():
        try:
            while chunk := handle.read(1024 * 1024):
                yield chunk
        finally:
            handle.close()
            if on_close is not None:
                on_close()

    response = Response(chunks(), mimetype=content_type or OCTET_STREAM, direct_passthrough=True)
    response.headers["Content-Length"] = str(size)
    response.headers["Content-Disposition"] = content_disposition(filename)
    return response
