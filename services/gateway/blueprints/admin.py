"""Administration endpoints of API.md (admin only): the audit trail and its CSV export,
and the global settings (« Paramètres globaux »). The admin service validates and
stores; the schemas here shape the requests and document them."""

from __future__ import annotations

import csv
import io

import marshmallow as ma
from flask import Response, stream_with_context
from marshmallow import validate

from services.gateway.headers import attachment
from services.gateway.policy import requires
from services.gateway.web import Blueprint, PageQuerySchema, page_schema, rpc

blp = Blueprint("admin", __name__, url_prefix="/api/v1/admin",
                description="Administration: audit trail and global settings (admin only)")

_DT = {"metadata": {"format": "date-time"}}
EXPORT_MAX_ROWS = 100_000
CSV_COLUMNS = ("at", "user", "action", "object_type", "object_id", "summary", "request_id",
               "client", "id")


# -- schemas --------------------------------------------------------------------


class AuditEventSchema(ma.Schema):
    id = ma.fields.String()
    event = ma.fields.String()
    object_type = ma.fields.String(allow_none=True)
    object_id = ma.fields.String(allow_none=True)
    at = ma.fields.String(**_DT)


class AuditEntrySchema(ma.Schema):
    id = ma.fields.String(required=True)
    at = ma.fields.String(required=True, **_DT)
    user = ma.fields.String(allow_none=True)
    action = ma.fields.String(metadata={"example": "deployment.started"})
    object_type = ma.fields.String(allow_none=True, metadata={"example": "deployment"})
    object_id = ma.fields.String(allow_none=True)
    summary = ma.fields.String(allow_none=True)
    request_id = ma.fields.String(allow_none=True)
    client = ma.fields.String(allow_none=True, metadata={"example": "203.0.113.7"})
    events = ma.fields.List(ma.fields.Nested(AuditEventSchema),
                            metadata={"description": "every event of the request"})


AuditPageSchema = page_schema(AuditEntrySchema, "AuditPage")


class AuditFilterSchema(ma.Schema):
    user = ma.fields.String(validate=validate.Length(max=200))
    object_type = ma.fields.String(validate=validate.Length(max=64),
                                   metadata={"example": "deployment"})
    object_id = ma.fields.String(validate=validate.Length(max=200))
    request_id = ma.fields.String(validate=validate.Length(max=200))
    from_ = ma.fields.AwareDateTime(data_key="from", metadata={"example": "2026-01-01T00:00:00Z"})
    to = ma.fields.AwareDateTime(metadata={"example": "2026-02-01T00:00:00Z"})


class AuditQuerySchema(PageQuerySchema, AuditFilterSchema):
    pass


class SettingsSchema(ma.Schema):
    """Every global setting (PUT: any subset; each is validated, a 400 names it)."""

    class Meta:
        unknown = ma.RAISE

    default_timezone = ma.fields.String(metadata={"example": "Europe/Paris",
                                                  "description": "of new deployments"})
    default_execution_timeout_s = ma.fields.Float(metadata={"example": 3600})
    max_execution_timeout_s = ma.fields.Float(metadata={"example": 86400})
    max_upload_mb = ma.fields.Float(metadata={"example": 200})
    retention_days = ma.fields.Integer(strict=True,
        metadata={"description": "executions older than this are purged with their logs "
                                 "and results; 0 = kept forever"})
    log_retention_days = ma.fields.Integer(strict=True,
        metadata={"description": "logs purged earlier than their execution; 0 = with it"})
    result_retention_days = ma.fields.Integer(strict=True,
        metadata={"description": "results purged earlier than their execution; 0 = with it"})
    login_max_failures = ma.fields.Integer(strict=True, metadata={"example": 5})
    login_lockout_s = ma.fields.Integer(strict=True, metadata={"example": 300})
    webhook_allowed_hosts = ma.fields.List(
        ma.fields.String(), metadata={"description": "host names, IPs or CIDR ranges webhooks "
                                                     "may reach although not public"})
    max_memory_mb = ma.fields.Integer(
        strict=True, metadata={"description": "ceiling of a deployment's or a run's memory_mb"})
    backup_retention_count = ma.fields.Integer(
        strict=True, metadata={"example": 7, "description": "successful backups kept; older "
                                                            "ones are deleted"})
    backup_interval_hours = ma.fields.Integer(
        strict=True, metadata={"example": 24, "description": "a backup every N hours; 0 = only "
                                                             "on demand"})


# -- views ----------------------------------------------------------------------


def _cell(value) -> str:
    """A CSV cell a spreadsheet will not run: text starting like a formula (names and
    summaries come from users) gets a leading apostrophe (OWASP CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _filters(args: dict) -> dict:
    out = {k: v for k, v in args.items() if k not in ("from_", "to")}
    for key, name in (("from_", "from"), ("to", "to")):
        if args.get(key) is not None:
            out[name] = args[key].isoformat()
    return out


@blp.route("/audit", methods=["GET"])
@requires("admin")
@blp.arguments(AuditQuerySchema, location="query")
@blp.response(200, AuditPageSchema)
def list_audit(args):
    """The audit trail, newest first: one entry per change request (who, when, what,
    from where). Filters ``user``, ``object_type``, ``object_id``, ``request_id``,
    ``from``, ``to``.
    Read only: no endpoint edits or deletes an entry."""
    args.pop("sort", None)
    return rpc("admin", "list_audit", _filters(args))


@blp.route("/audit/export", methods=["GET"])
@requires("admin")
@blp.arguments(AuditFilterSchema, location="query")
@blp.response(200, description="CSV, newest first (at most 100,000 rows)",
              content_type="text/csv")
def export_audit(args):
    """The filtered audit trail as a CSV file (same filters as the list)."""
    filters = _filters(args)
    first = rpc("admin", "list_audit", {**filters, "page": 1, "per_page": 200})

    def rows():
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        page, sent, items = 1, 0, first["items"]
        while items and sent < EXPORT_MAX_ROWS:
            for item in items:
                writer.writerow([_cell(item.get(column)) for column in CSV_COLUMNS])
            sent += len(items)
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            if len(items) < 200:
                break
            page += 1
            items = rpc("admin", "list_audit", {**filters, "page": page, "per_page": 200})["items"]
        if buffer.getvalue():
            yield buffer.getvalue()

    response = Response(stream_with_context(rows()), mimetype="text/csv")
    attachment(response, "audit.csv")
    return response


@blp.route("/settings", methods=["GET"])
@requires("settings:admin")
@blp.response(200, SettingsSchema)
def get_settings():
    """Every global setting."""
    return rpc("admin", "get_settings")


@blp.route("/settings", methods=["PUT"])
@requires("settings:admin")
@blp.arguments(SettingsSchema)
@blp.response(200, SettingsSchema)
def put_settings(changes):
    """Change settings (any subset); the services follow without a restart. 400 names
    each bad or unknown key."""
    return rpc("admin", "update_settings", changes)
