"""Request schemas of the deployer (marshmallow 4: ``load`` returns data or raises)."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, fields, validate
from marshmallow import ValidationError as MarshmallowError

from shared import limits
from shared.cron import MISFIRE_POLICIES
from shared.errors import ValidationError


class DeploymentCreate(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = fields.String(load_default="", validate=validate.Length(max=5000))
    model_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    parameters = limits.Parameters(load_default=dict)
    schedule = fields.String(
        allow_none=True, load_default=None, validate=validate.Length(max=limits.NAME_MAX)
    )
    timezone = fields.String(
        allow_none=True, load_default="UTC", validate=validate.Length(max=limits.NAME_MAX)
    )
    misfire_policy = fields.String(
        load_default="run_once", validate=validate.OneOf(MISFIRE_POLICIES)
    )
    max_concurrent = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100))
    jitter_s = fields.Integer(load_default=0, validate=validate.Range(min=0, max=3600))
    # Resources (guide 10.3): null = the platform's default; the ceilings of the global
    # settings are checked by the service (shared.resources), they change at run time.
    memory_mb = fields.Integer(allow_none=True, load_default=None, strict=True)
    timeout_s = fields.Integer(allow_none=True, load_default=None, strict=True)


class DeploymentUpdate(DeploymentCreate):
    """Every field optional; only the given ones change."""

    name = fields.String(validate=validate.Length(min=1, max=200))
    description = fields.String(validate=validate.Length(max=5000))
    model_id = fields.String(validate=validate.Length(min=1, max=64))
    parameters = limits.Parameters()
    schedule = fields.String(allow_none=True, validate=validate.Length(max=limits.NAME_MAX))
    timezone = fields.String(allow_none=True, validate=validate.Length(max=limits.NAME_MAX))
    misfire_policy = fields.String(validate=validate.OneOf(MISFIRE_POLICIES))
    max_concurrent = fields.Integer(validate=validate.Range(min=1, max=100))
    jitter_s = fields.Integer(validate=validate.Range(min=0, max=3600))
    memory_mb = fields.Integer(allow_none=True, strict=True)
    timeout_s = fields.Integer(allow_none=True, strict=True)


class DeploymentQuery(Schema):
    class Meta:
        unknown = RAISE

    q = limits.Text(limits.QUERY_MAX)
    department = limits.Text()
    region = limits.Text()
    status = fields.String(validate=validate.OneOf(("active", "inactive")))
    model_id = limits.Text(limits.ID_MAX)
    sort = fields.String(load_default="-created_at", validate=validate.Length(max=limits.SORT_MAX))
    page = limits.Page()
    per_page = limits.PerPage()


def load(schema: Schema, data: Any, partial: bool = False) -> dict[str, Any]:
    """``schema.load`` with marshmallow errors turned into the platform's 400."""
    if not isinstance(data, dict):
        raise ValidationError("body must be a JSON object", {"_schema": ["must be an object"]})
    try:
        return schema.load(data, partial=partial)
    except MarshmallowError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        fields_ = ", ".join(sorted(messages))
        raise ValidationError(f"invalid fields: {fields_}", messages) from None
