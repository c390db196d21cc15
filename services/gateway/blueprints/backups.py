"""« Sauvegarde et restauration » (API.md, Administration; admin only, ``backups:admin``).

The admin service makes, keeps and restores the backups (``services/admin/backups.py``);
the gateway streams archives in and out of its GridFS bucket ``backups``. An uploaded
archive is checked here as it streams in (manifest, every sha256 and count,
``shared/backup_archive.verify``): a damaged, truncated or foreign file is refused with
400 naming ``file`` before the admin service hears of it, and nothing is kept.
"""

from __future__ import annotations

import hashlib
import os

import marshmallow as ma
from flask import request

from services.gateway.policy import requires
from services.gateway.uploads import attachment_response, file_part, is_multipart, safe_filename
from services.gateway.web import Blueprint, PageQuerySchema, json_body, page_schema, rpc, state
from shared import backup_archive
from shared.errors import ValidationError

blp = Blueprint("backups", __name__, url_prefix="/api/v1/admin",
                description="Sauvegarde et restauration: backups of every service's data and "
                            "every artifact, restored into this platform (admin only)")

_DT = {"metadata": {"format": "date-time"}}
CHUNK = 1024 * 1024


class BackupSummarySchema(ma.Schema):
    models = ma.fields.Integer()
    deployments = ma.fields.Integer()
    executions = ma.fields.Integer()
    users = ma.fields.Integer()
    files = ma.fields.Integer(metadata={"description": "stored files (models, datasets, "
                                                       "results)"})


class BackupSchema(ma.Schema):
    id = ma.fields.String(required=True)
    status = ma.fields.String(required=True, metadata={"enum": ["running", "succeeded",
                                                                "failed"]})
    trigger = ma.fields.String(metadata={"enum": ["manual", "schedule"]})
    created_at = ma.fields.String(required=True, **_DT)
    finished_at = ma.fields.String(allow_none=True, **_DT)
    duration_s = ma.fields.Float(allow_none=True)
    window_s = ma.fields.Float(allow_none=True, metadata={
        "description": "how long mutating requests were answered 503 for the snapshot"})
    created_by = ma.fields.String(allow_none=True)
    size = ma.fields.Integer(allow_none=True, metadata={"description": "bytes of the archive"})
    sha256 = ma.fields.String(allow_none=True, metadata={"description": "of the archive"})
    filename = ma.fields.String(allow_none=True)
    format_version = ma.fields.Integer(allow_none=True)
    counts = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(),
                            metadata={"description": "documents per collection"})
    summary = ma.fields.Nested(BackupSummarySchema, allow_none=True)
    error = ma.fields.String(allow_none=True, metadata={"description": "why it failed"})


BackupPageSchema = page_schema(BackupSchema, "BackupPage")


class RestoreProgressSchema(ma.Schema):
    done = ma.fields.Integer()
    total = ma.fields.Integer()
    collection = ma.fields.String()


class RestoreSchema(ma.Schema):
    id = ma.fields.String(required=True)
    status = ma.fields.String(required=True, metadata={"enum": ["running", "succeeded",
                                                                "failed"]})
    phase = ma.fields.String(metadata={"enum": ["verifying", "pausing", "restoring",
                                                "resuming", "done"]})
    source = ma.fields.Dict(metadata={"description": "{kind: backup, backup_id} or "
                                                     "{kind: upload, filename}"})
    created_at = ma.fields.String(required=True, **_DT)
    finished_at = ma.fields.String(allow_none=True, **_DT)
    duration_s = ma.fields.Float(allow_none=True)
    created_by = ma.fields.String(allow_none=True)
    progress = ma.fields.Nested(RestoreProgressSchema)
    written = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(),
                             allow_none=True)
    backup_created_at = ma.fields.String(allow_none=True, **_DT)
    error = ma.fields.String(allow_none=True)


RestorePageSchema = page_schema(RestoreSchema, "RestorePage")


class RestoreRequestSchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    backup_id = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))


RESTORE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": RestoreRequestSchema},
            "multipart/form-data": {
                "schema": {"type": "object", "required": ["file"],
                           "properties": {"file": {"type": "string", "format": "binary"}}},
            },
        },
    },
}


def _page(args):
    return {k: v for k, v in args.items() if k in ("page", "per_page")}


@blp.route("/backups", methods=["GET"])
@requires("backups:admin")
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, BackupPageSchema)
def list_backups(args):
    """The backups, newest first (date, status, size, counts)."""
    return rpc("admin", "list_backups", _page(args))


@blp.route("/backups", methods=["POST"])
@requires("backups:admin")
@blp.response(202, BackupSchema)
@blp.alt_response(409, description="a backup or a restore is running")
def create_backup():
    """Start a backup now (→ 202, ``status: running``); poll ``GET /admin/backups/{id}``
    until ``succeeded`` or ``failed`` (``error``). For the moment of the snapshot,
    mutating requests are answered 503 with ``Retry-After``."""
    return rpc("admin", "create_backup")


@blp.route("/backups/<backup_id>", methods=["GET"])
@requires("backups:admin")
@blp.response(200, BackupSchema)
def get_backup(backup_id):
    """One backup."""
    return rpc("admin", "get_backup", backup_id)


@blp.route("/backups/<backup_id>/download", methods=["GET"])
@requires("backups:admin")
@blp.response(200, description="the archive (tar.gz: manifest.json + every collection)",
              content_type="application/gzip")
@blp.alt_response(409, description="the backup has not succeeded")
def download_backup(backup_id):
    """Download a succeeded backup's archive."""
    where = rpc("admin", "backup_archive", backup_id)
    handle = state().backup_store().open(where["artifact_id"])
    return attachment_response(handle, handle.length, where["filename"], "application/gzip")


class _Tee:
    """Reads the upload for the checker while copying every byte into GridFS."""

    def __init__(self, source, upload):
        self.source, self.upload = source, upload
        self.size = 0
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.source.read(size if size and size > 0 else CHUNK)
        if data:
            self.upload.write(data)
            self.digest.update(data)
            self.size += len(data)
        return data


def _store_checked_upload():
    """The multipart ``file``, checked while it is stored; ValidationError naming
    ``file`` (nothing kept) when it is not a whole backup of this platform."""
    part = file_part("file")
    if part is None:
        raise ValidationError("a multipart 'file' part is required",
                              {"file": ["Missing data for required field."]})
    filename = safe_filename(part.filename, "backup.tar.gz")
    bucket = state().backup_store().bucket
    upload = bucket.open_upload_stream(filename, metadata={"content_type": "application/gzip",
                                                           "upload": True})
    tee = _Tee(part.stream, upload)
    try:
        manifest = backup_archive.verify(tee)
        while tee.read(CHUNK):
            pass
    except backup_archive.ArchiveRefused as exc:
        upload.abort()
        raise ValidationError(f"file: {exc.message}",
                              {"file": [exc.message], **{k: v for k, v in exc.details.items()
                                                         if k != "file"}}) from None
    except BaseException:
        upload.abort()
        raise
    upload.close()
    store = state().backup_store()
    store.files.update_one({"_id": upload._id},
                           {"$set": {"metadata.sha256": tee.digest.hexdigest()}})
    return {"artifact_id": str(upload._id), "filename": filename,
            "backup_created_at": manifest.get("created_at")}


@blp.route("/restore", methods=["POST"])
@requires("backups:admin")
@blp.doc(**RESTORE_BODY)
@blp.response(202, RestoreSchema)
@blp.alt_response(400, description="not a whole backup of this platform (damaged, "
                                   "truncated, foreign): nothing was changed")
@blp.alt_response(409, description="a backup or a restore is running")
def start_restore():
    """Restore a listed backup (``{"backup_id"}``) or an uploaded archive (multipart
    ``file``) into this platform → 202; poll ``GET /admin/restores/{id}``. Everything
    is checked before anything is overwritten; the audit trail is kept (the restore is
    appended to it)."""
    if is_multipart():
        limit_mb = float(os.environ.get("BACKUP_UPLOAD_MAX_MB") or 10240)
        request.max_content_length = int((limit_mb + 1) * 1024 * 1024)
        source = _store_checked_upload()
        try:
            return rpc("admin", "start_restore", source)
        except BaseException:
            state().backup_store().delete(source["artifact_id"])
            raise
    body = json_body(RestoreRequestSchema())
    return rpc("admin", "start_restore", {"backup_id": body["backup_id"]})


@blp.route("/restores", methods=["GET"])
@requires("backups:admin")
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, RestorePageSchema)
def list_restores(args):
    """The restores, newest first."""
    return rpc("admin", "list_restores", _page(args))


@blp.route("/restores/<restore_id>", methods=["GET"])
@requires("backups:admin")
@blp.response(200, RestoreSchema)
def get_restore(restore_id):
    """One restore: ``status`` running → succeeded | failed, ``phase``, ``progress``."""
    return rpc("admin", "get_restore", restore_id)
