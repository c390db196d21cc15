"""Marshmallow schemas for the model documents the registry accepts."""

from __future__ import annotations

import math
from typing import Any

from marshmallow import RAISE, Schema, fields, validate, validates_schema
from marshmallow import ValidationError as MarshmallowError

from services.registry.domain import (
    DEFAULT_VERSION,
    FRAMEWORKS,
    MODEL_TYPES,
    NAME_MAX,
    STATUSES,
    parse_semver,
)
from shared import limits
from shared.errors import ValidationError

READ_ONLY = ("id", "_id", "file", "created_by", "created_at", "updated_at")
TAG_MAX = limits.TAG_MAX
TAGS_MAX = limits.TAGS_MAX
TEXT_MAX = limits.TEXT_MAX


class StrictNumber(fields.Field):
    """A JSON number: no strings, no booleans, no NaN/infinity."""

    def _deserialize(self, value: Any, attr, data, **kwargs) -> float | int:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise MarshmallowError("must be a number")
        if isinstance(value, float) and not math.isfinite(value):
            raise MarshmallowError("must be a finite number")
        return value


def _semver(value: str) -> None:
    try:
        parse_semver(value)
    except ValueError as exc:
        raise MarshmallowError(str(exc)) from None


class InputField(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String(required=True, validate=validate.Length(min=1, max=NAME_MAX))
    type = fields.String(load_default="number", validate=validate.Length(min=1, max=50))


class ModelSchema(Schema):
    """Fields a client may set (create and PATCH)."""

    class Meta:
        unknown = RAISE

    name = fields.String(required=True, validate=validate.Length(min=1, max=NAME_MAX))
    description = fields.String(load_default="", validate=validate.Length(max=TEXT_MAX))
    version = fields.String(load_default=DEFAULT_VERSION, validate=_semver)
    type = fields.String(load_default="other", validate=validate.OneOf(MODEL_TYPES))
    framework = fields.String(load_default="scikit-learn", validate=validate.OneOf(FRAMEWORKS))
    department = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=NAME_MAX)
    )
    region = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=NAME_MAX)
    )
    tags = limits.Tags(load_default=list)
    status = fields.String(load_default="draft", validate=validate.OneOf(STATUSES))
    parameters = limits.Parameters(load_default=dict)
    metrics = fields.Dict(
        keys=fields.String(),
        values=StrictNumber(),
        load_default=dict,
        validate=limits.metrics_validator(),
    )
    input_schema = fields.List(fields.Nested(InputField), load_default=None, allow_none=True)

    @validates_schema
    def _name_not_blank(self, data: dict[str, Any], **kwargs) -> None:
        if "name" in data and not data["name"].strip():
            raise MarshmallowError("must not be blank", "name")


_create = ModelSchema()
_update = ModelSchema(partial=True)


def _flatten(value: Any, prefix: str = "") -> list[str]:
    """marshmallow nests errors of dicts/lists; the API wants field → [messages]."""
    if isinstance(value, dict):
        out: list[str] = []
        for key, inner in value.items():
            # Dict fields report {"auc": {"value": [...]}}: drop the "key"/"value" level.
            label = prefix if key in ("key", "value") else f"{prefix}{key}"
            out.extend(
                _flatten(inner, f"{label}: " if label and not label.endswith(": ") else label)
            )
        return out
    if isinstance(value, list):
        return [f"{prefix}{m}" if isinstance(m, str) else str(m) for m in value]
    return [f"{prefix}{value}"]


def _details(exc: MarshmallowError) -> dict[str, list[str]]:
    messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
    details: dict[str, list[str]] = {}
    for field, value in messages.items():
        if value == ["Unknown field."]:
            value = ["unknown field"]
        details[str(field)] = _flatten(value)
    return details


def _load(schema: Schema, data: Any, what: str) -> dict[str, Any]:
    """Every problem at once: read-only, unknown, missing and mistyped fields."""
    if not isinstance(data, dict):
        raise ValidationError(
            f"invalid {what}: expected an object", {"_schema": ["expected an object"]}
        )
    errors = {k: ["read-only field"] for k in data if k in READ_ONLY}
    loaded: dict[str, Any] = {}
    try:
        loaded = schema.load({k: v for k, v in data.items() if k not in READ_ONLY})
    except MarshmallowError as exc:
        errors.update(_details(exc))
    if errors:
        raise ValidationError(f"invalid {what}: " + ", ".join(sorted(errors)), errors)
    return loaded


def load_create(data: Any) -> dict[str, Any]:
    """Validated fields for a new model, defaults filled. Raises ``ValidationError``."""
    loaded = _load(_create, data, "model")
    loaded["name"] = loaded["name"].strip()
    loaded["tags"] = list(dict.fromkeys(loaded["tags"]))
    return loaded


def load_update(changes: Any) -> dict[str, Any]:
    """Validated PATCH fields (only those sent). Raises ``ValidationError``."""
    loaded = _load(_update, changes, "changes")
    if "name" in loaded:
        loaded["name"] = loaded["name"].strip()
    if "tags" in loaded:
        loaded["tags"] = list(dict.fromkeys(loaded["tags"]))
    return loaded
