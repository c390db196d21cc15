"""System logs (« Journaux système », guide 8.2; admin only): every service's log
records, shipped by ``shared.logship`` and stored by the admin service, searched by
service, level, text, request id and period, newest first, with a live follow
(``after``: the ``cursor`` of the previous answer)."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from services.gateway.policy import requires
from services.gateway.web import Blueprint, rpc

blp = Blueprint("syslogs", __name__, url_prefix="/api/v1/admin",
                description="System logs of every service (admin only)")

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_DT = {"metadata": {"format": "date-time"}}


class SystemLogSchema(ma.Schema):
    id = ma.fields.String(required=True)
    at = ma.fields.String(required=True, **_DT)
    service = ma.fields.String(required=True, metadata={"example": "registry"})
    level = ma.fields.String(required=True, metadata={"example": "WARNING"})
    message = ma.fields.String(required=True)
    request_id = ma.fields.String(allow_none=True)
    logger = ma.fields.String(allow_none=True)
    host = ma.fields.String(allow_none=True)
    pid = ma.fields.Integer(allow_none=True)


class SystemLogPageSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(SystemLogSchema), required=True)
    total = ma.fields.Integer(required=True)
    page = ma.fields.Integer(required=True)
    per_page = ma.fields.Integer(required=True)
    cursor = ma.fields.String(
        allow_none=True, required=True,
        metadata={"description": "send it as `after` to get only the records stored since"})



class SystemLogQuerySchema(ma.Schema):
    service = ma.fields.String(validate=validate.Length(min=1, max=64),
                               metadata={"example": "registry"})
    level = ma.fields.String(
        validate=validate.OneOf([*LEVELS, *(lv.lower() for lv in LEVELS)],
                                error="must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        metadata={"description": "this level and above", "example": "WARNING"})
    q = ma.fields.String(validate=validate.Length(min=1, max=200),
                         metadata={"description": "text in the message, ignoring case"})
    request_id = ma.fields.String(validate=validate.Length(min=1, max=200))
    from_ = ma.fields.AwareDateTime(data_key="from", metadata={"example": "2026-01-01T00:00:00Z"})
    to = ma.fields.AwareDateTime(metadata={"example": "2026-02-01T00:00:00Z"})
    after = ma.fields.String(validate=validate.Length(min=1, max=64),
                             metadata={"description": "the `cursor` of a previous answer: "
                                                      "only newer records (live follow)"})
    page = ma.fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    per_page = ma.fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


@blp.route("/logs", methods=["GET"])
@requires("logs:admin")
@blp.arguments(SystemLogQuerySchema, location="query")
@blp.response(200, SystemLogPageSchema)
def list_logs(args):
    """System log records of every service, newest first. Filters ``service``,
    ``level`` (that level and above), ``q`` (text, ignoring case), ``request_id``,
    ``from``, ``to``; ``after`` = the previous answer's ``cursor`` for a live follow
    (at most ``per_page`` records stored since, newest first; poll again for more).
    400 names a bad parameter."""
    query = {k: v for k, v in args.items() if k not in ("from_", "to")}
    for key, name in (("from_", "from"), ("to", "to")):
        if args.get(key) is not None:
            query[name] = args[key].isoformat()
    return rpc("admin", "list_logs", query)
