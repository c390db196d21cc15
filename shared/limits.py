"""The ONE place that bounds what a client may send: numbers, sizes, counts, lengths.

Used alike by the gateway's request schemas (``services/gateway/web.py`` and the
blueprints) and by the services at their RPC boundary (registry, deployer, runner),
so that neither an HTTP request nor a direct RPC can overflow a database integer
(``page=9223372036854775807`` × ``per_page`` → skip beyond 8 bytes) or write a
document near the database's 16 MB limit.

Every violation is a ``ValidationError`` (400 ``validation_error``) whose details
name the field; a JSON body over ``json_body_max_bytes()`` is a 413
``payload_too_large`` (the gateway, before parsing).

Two limits are settings (environment, documented in the README):

* ``MAX_JSON_BODY_KB`` (4096): largest JSON request body, a quarter of the
  database's document limit; bigger inputs go as uploaded files.
* ``MAX_PARAMETERS_KB`` (64): largest ``parameters`` object (JSON-encoded) of a
  model, a deployment or a run.

The others are fixed here: they are about what the data model can hold, not about
a deployment's capacity.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import marshmallow as ma
from marshmallow import validate

from shared.errors import ValidationError

# -- numbers -------------------------------------------------------------------

#: Pages: (page - 1) × per_page stays below 2**31 (no 8-byte overflow, ever).
PAGE_MAX = 1_000_000
PER_PAGE_MAX = 200
PER_PAGE_DEFAULT = 20
#: Schedule preview: how many next run times.
PREVIEW_COUNT_MAX = 100
#: Execution logs: ``after`` is a line number, ``limit`` lines per call.
LOG_AFTER_MAX = 2**31 - 1
LOG_LIMIT_MAX = 5000

# -- text and free-form fields ---------------------------------------------------

NAME_MAX = 200  # model / deployment names, department, region, filters
ID_MAX = 64  # ids sent as filters or references
TEXT_MAX = 5000  # descriptions
QUERY_MAX = 200  # ``q`` search text
SORT_MAX = 64
TAGS_MAX = 50  # tags per model
TAG_MAX = 50  # characters per tag
METRICS_MAX = 200  # metrics per model
KEY_MAX = 200  # characters of a key of parameters / metrics
FREE_FORM_DEPTH_MAX = 10  # nesting of a parameters object
FREE_FORM_KEYS_MAX = 1000  # keys in a parameters object, all levels


def _kb_setting(name: str, default: int) -> int:
    try:
        value = int(os.environ.get(name) or default)
    except ValueError:
        return default
    return value if value > 0 else default


def json_body_max_bytes() -> int:
    """``MAX_JSON_BODY_KB`` (default 4096 KiB) in bytes."""
    return _kb_setting("MAX_JSON_BODY_KB", 4096) * 1024


def parameters_max_bytes() -> int:
    """``MAX_PARAMETERS_KB`` (default 64 KiB) in bytes."""
    return _kb_setting("MAX_PARAMETERS_KB", 64) * 1024


# -- checks usable anywhere (RPC boundaries) -----------------------------------------


def _fail(field: str, message: str) -> ValidationError:
    return ValidationError(f"invalid {field}: {message}", {field: [message]})


def bounded_int(value: Any, field: str, low: int, high: int, default: int | None = None) -> int:
    """``value`` as an int in ``low..high`` (``default`` when absent), else a 400 naming
    ``field``. Accepts ints, integral floats and decimal strings; never bools."""
    if value is None or value == "":
        if default is None:
            raise _fail(field, "is required")
        return default
    if isinstance(value, bool):
        raise _fail(field, "must be an integer")
    if isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            raise _fail(field, "must be an integer")
        value = int(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text.lstrip("+-").isdigit() or len(text) > 30:
            raise _fail(field, "must be an integer")
        value = int(text)
    elif not isinstance(value, int):
        raise _fail(field, "must be an integer")
    if not low <= value <= high:
        raise _fail(field, f"must be between {low} and {high}")
    return value


def page_args(page: Any, per_page: Any) -> tuple[int, int]:
    """``(page, per_page)`` validated (400 naming the parameter)."""
    return (
        bounded_int(page, "page", 1, PAGE_MAX, 1),
        bounded_int(per_page, "per_page", 1, PER_PAGE_MAX, PER_PAGE_DEFAULT),
    )


def _walk(value: Any, field: str, depth: int, counter: list[int]) -> None:
    if depth > FREE_FORM_DEPTH_MAX:
        raise _fail(field, f"nested deeper than {FREE_FORM_DEPTH_MAX} levels")
    if isinstance(value, dict):
        for key, inner in value.items():
            counter[0] += 1
            if counter[0] > FREE_FORM_KEYS_MAX:
                raise _fail(field, f"more than {FREE_FORM_KEYS_MAX} keys")
            if not isinstance(key, str):
                raise _fail(field, "keys must be strings")
            if len(key) > KEY_MAX:
                raise _fail(field, f"key longer than {KEY_MAX} characters")
            # A "$" key is an operator to the database; NUL ends a BSON name.
            if key.startswith("$") or "\x00" in key:
                raise _fail(field, f"key {key[:40]!r} must not start with '$' or contain NUL")
            _walk(inner, field, depth + 1, counter)
    elif isinstance(value, list):
        for inner in value:
            _walk(inner, field, depth + 1, counter)
    elif isinstance(value, float) and not math.isfinite(value):
        raise _fail(field, "numbers must be finite")
    elif value is not None and not isinstance(value, str | int | float | bool):
        raise _fail(field, "must be JSON")


def check_free_form(value: Any, field: str = "parameters", max_bytes: int | None = None) -> Any:
    """A free-form JSON object (``parameters``): an object, at most ``max_bytes``
    JSON-encoded (default ``MAX_PARAMETERS_KB``), bounded depth and keys, no ``$`` keys."""
    if not isinstance(value, dict):
        raise _fail(field, "must be an object")
    _walk(value, field, 1, [0])
    limit = parameters_max_bytes() if max_bytes is None else max_bytes
    size = len(json.dumps(value, ensure_ascii=False).encode())
    if size > limit:
        raise _fail(field, f"{size} bytes, at most {limit} bytes (JSON-encoded)")
    return value


def check_metrics(value: Any, field: str = "metrics") -> Any:
    """``{name: number}``: at most ``METRICS_MAX`` entries, names ≤ ``KEY_MAX``."""
    if not isinstance(value, dict):
        raise _fail(field, "must be an object")
    if len(value) > METRICS_MAX:
        raise _fail(field, f"{len(value)} metrics, at most {METRICS_MAX}")
    for key in value:
        if not isinstance(key, str) or not key or len(key) > KEY_MAX:
            raise _fail(field, f"metric names are 1 to {KEY_MAX} characters")
        if key.startswith("$") or "\x00" in key:
            raise _fail(field, f"metric name {key[:40]!r} must not start with '$' or contain NUL")
    return value


# -- marshmallow fields (gateway and service schemas) ------------------------------


def _as_marshmallow(check, field: str):
    def validator(value: Any) -> None:
        try:
            check(value, field)
        except ValidationError as exc:
            raise ma.ValidationError(exc.details[field]) from None

    return validator


def Page(**kwargs: Any) -> ma.fields.Integer:  # noqa: N802 - a field factory
    """``page``: 1..PAGE_MAX, default 1."""
    return ma.fields.Integer(
        load_default=1, validate=validate.Range(min=1, max=PAGE_MAX), strict=False, **kwargs
    )


def PerPage(**kwargs: Any) -> ma.fields.Integer:  # noqa: N802
    """``per_page``: 1..PER_PAGE_MAX, default PER_PAGE_DEFAULT."""
    return ma.fields.Integer(
        load_default=PER_PAGE_DEFAULT, validate=validate.Range(min=1, max=PER_PAGE_MAX), **kwargs
    )


def BoundedInt(low: int, high: int, **kwargs: Any) -> ma.fields.Integer:  # noqa: N802
    """Any other numeric parameter: an integer in ``low..high``."""
    return ma.fields.Integer(validate=validate.Range(min=low, max=high), **kwargs)


def Text(max_length: int = NAME_MAX, min_length: int = 0, **kwargs: Any) -> ma.fields.String:  # noqa: N802
    """A bounded string (names, filters, descriptions)."""
    return ma.fields.String(validate=validate.Length(min=min_length, max=max_length), **kwargs)


def Parameters(field: str = "parameters", **kwargs: Any) -> ma.fields.Dict:  # noqa: N802
    """A free-form ``parameters`` object, bounded by ``check_free_form``."""
    return ma.fields.Dict(
        keys=ma.fields.String(), validate=_as_marshmallow(check_free_form, field), **kwargs
    )


def Tags(**kwargs: Any) -> ma.fields.List:  # noqa: N802
    """At most ``TAGS_MAX`` tags of 1..``TAG_MAX`` characters."""
    return ma.fields.List(
        ma.fields.String(validate=validate.Length(min=1, max=TAG_MAX)),
        validate=validate.Length(max=TAGS_MAX),
        **kwargs,
    )


def metrics_validator(field: str = "metrics"):
    """marshmallow validator of a metrics dict (count and name sizes)."""
    return _as_marshmallow(check_metrics, field)
