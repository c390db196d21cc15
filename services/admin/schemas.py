"""Request schemas of the admin service (marshmallow 4: ``load`` returns data or raises)."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, fields, validate
from marshmallow import ValidationError as MarshmallowError

from services.admin.domain import WEBHOOK_EVENTS
from shared.errors import ValidationError


class IntegrationCreate(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    url = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    events = fields.List(fields.String(validate=validate.OneOf(WEBHOOK_EVENTS)), required=True,
                         validate=validate.Length(min=1, max=len(WEBHOOK_EVENTS)))
    department = fields.String(allow_none=True, load_default=None,
                               validate=validate.Length(max=200))
    active = fields.Boolean(load_default=True)
    description = fields.String(load_default="", validate=validate.Length(max=2000))


class IntegrationUpdate(IntegrationCreate):
    """Every field optional; only the given ones change."""

    name = fields.String(validate=validate.Length(min=1, max=200))
    url = fields.String(validate=validate.Length(min=1, max=2000))
    events = fields.List(fields.String(validate=validate.OneOf(WEBHOOK_EVENTS)),
                         validate=validate.Length(min=1, max=len(WEBHOOK_EVENTS)))
    department = fields.String(allow_none=True, validate=validate.Length(max=200))
    active = fields.Boolean()
    description = fields.String(validate=validate.Length(max=2000))


class PageQuery(Schema):
    class Meta:
        unknown = RAISE

    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=200))


class AuditQuery(PageQuery):
    user = fields.String(validate=validate.Length(max=200))
    object_type = fields.String(validate=validate.Length(max=64))
    object_id = fields.String(validate=validate.Length(max=200))
    request_id = fields.String(validate=validate.Length(max=200))
    from_ = fields.AwareDateTime(data_key="from")
    to = fields.AwareDateTime()


def load(schema: Schema, data: Any, partial: bool = False) -> dict[str, Any]:
    """``schema.load`` with marshmallow errors turned into the platform's 400."""
    if not isinstance(data, dict):
        raise ValidationError("body must be a JSON object", {"_schema": ["must be an object"]})
    try:
        return schema.load(data, partial=partial)
    except MarshmallowError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        raise ValidationError(f"invalid fields: {', '.join(sorted(messages))}", messages) from None
