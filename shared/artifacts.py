"""The artifact store: large bytes (model files, datasets, results) in GridFS.

Bytes stream in both directions in chunks: a file is never held whole in
memory. Messages between services carry only the ``ArtifactRef`` (id,
sha256, size, content type), never the bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any, BinaryIO

import gridfs
from bson import ObjectId
from bson.errors import InvalidId

from shared.errors import NotFound, PayloadTooLarge

CHUNK = 1024 * 1024
BUCKET = "artifacts"


@dataclass
class ArtifactRef:
    id: str
    sha256: str
    size: int
    filename: str
    content_type: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ArtifactStore:
    """GridFS bucket ``artifacts`` (or ``bucket``) of the given pymongo database."""

    def __init__(self, db, bucket: str = BUCKET):
        self.bucket = gridfs.GridFSBucket(db, bucket_name=bucket, chunk_size_bytes=CHUNK - 1024)
        self.files = db[f"{bucket}.files"]

    def put(
        self,
        stream: BinaryIO,
        filename: str,
        content_type: str = "application/octet-stream",
        metadata: dict[str, Any] | None = None,
        max_size: int | None = None,
    ) -> ArtifactRef:
        """Copy ``stream`` into the store chunk by chunk, hashing as it goes.

        Raises ``PayloadTooLarge`` (and stores nothing) past ``max_size`` bytes.
        """
        digest = hashlib.sha256()
        size = 0
        upload = self.bucket.open_upload_stream(
            filename, metadata={**(metadata or {}), "content_type": content_type}
        )
        try:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if max_size is not None and size > max_size:
                    raise PayloadTooLarge(
                        f"file larger than the limit of {max_size} bytes",
                        {"max_bytes": max_size},
                    )
                digest.update(chunk)
                upload.write(chunk)
        except BaseException:
            upload.abort()
            raise
        upload.close()
        self.files.update_one(
            {"_id": upload._id}, {"$set": {"metadata.sha256": digest.hexdigest()}}
        )
        return ArtifactRef(str(upload._id), digest.hexdigest(), size, filename, content_type)

    def put_bytes(self, data: bytes, filename: str, content_type: str = "application/octet-stream"):
        import io

        return self.put(io.BytesIO(data), filename, content_type)

    def open(self, artifact_id: str):
        """A file-like GridOut positioned at the start (streams chunk by chunk)."""
        try:
            return self.bucket.open_download_stream(ObjectId(artifact_id))
        except (gridfs.errors.NoFile, InvalidId, TypeError):
            raise NotFound(f"artifact {artifact_id!r} not found", {"id": artifact_id}) from None

    def iter_chunks(self, artifact_id: str) -> Iterator[bytes]:
        grid_out = self.open(artifact_id)
        try:
            while chunk := grid_out.read(CHUNK):
                yield chunk
        finally:
            grid_out.close()

    def download_to(self, artifact_id: str, path: str) -> None:
        with open(path, "wb") as out:
            for chunk in self.iter_chunks(artifact_id):
                out.write(chunk)

    def delete(self, artifact_id: str | None) -> None:
        if not artifact_id:
            return
        try:
            self.bucket.delete(ObjectId(artifact_id))
        except (gridfs.errors.NoFile, InvalidId):
            pass
