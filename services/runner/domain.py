"""Pure logic of the runner: parameters, statuses, the execution dict, input checks.

No I/O here: the repository, the queue and the child processes live in
``dependencies.py`` / ``worker.py``.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from shared import limits
from shared.datasets import is_numeric_type
from shared.errors import InvalidInputData, ValidationError, validation_error
from shared.mongo import isoformat

# -- statuses and triggers -----------------------------------------------------

QUEUED, RUNNING = "queued", "running"
SUCCEEDED, FAILED, CANCELLED, TIMED_OUT = "succeeded", "failed", "cancelled", "timed_out"
STATUSES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED, TIMED_OUT)
FINAL = (SUCCEEDED, FAILED, CANCELLED, TIMED_OUT)
TRIGGERS = ("manual", "schedule", "rerun", "api")

#: A run whose replica vanished is retried once; the second loss fails it.
MAX_ATTEMPTS = 2
RUNNER_LOST = "runner lost"

# -- parameters ------------------------------------------------------------------

OUTPUT_FORMATS = ("csv", "json", "parquet")
CONTENT_TYPES = {
    "csv": "text/csv",
    "json": "application/json",
    "parquet": "application/vnd.apache.parquet",
}
#: The parameters the runner itself understands; every other one is kept and shown.
RUNNER_PARAMETERS = ("predict_proba", "output_format", "timeout_s", "batch_size", "on_bad_rows")
#: ``fail``: a bad input row fails the run (422 when seen at submission); ``skip``: bad
#: rows are left out and reported row by row (logs, ``result.bad_rows``).
ON_BAD_ROWS = ("fail", "skip")
MAX_TIMEOUT_S = 7 * 24 * 3600
MAX_BATCH_SIZE = 100_000_000
DEFAULT_BATCH_SIZE = 50_000


def _as_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "false", "0", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise validation_error(f"parameters.{name}", "must be true or false")


def _as_number(name: str, value: Any, integer: bool, low: float, high: float) -> float | int:
    if isinstance(value, bool):
        raise validation_error(f"parameters.{name}", "must be a number")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise validation_error(f"parameters.{name}", "must be a number") from None
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise validation_error(f"parameters.{name}", "must be a number")
    if integer:
        if int(value) != value:
            raise validation_error(f"parameters.{name}", "must be a whole number")
        value = int(value)
    if not low <= value <= high:
        raise validation_error(f"parameters.{name}", f"must be between {low:g} and {high:g}")
    return value


def validate_parameters(parameters: Any) -> dict[str, Any]:
    """Normalise the runner's parameters; unknown ones are kept as they are.

    Raises ``ValidationError`` naming ``parameters.<name>`` for a bad value.

    >>> validate_parameters({"predict_proba": "true", "batch_size": 10, "alpha": 1})
    {'predict_proba': True, 'batch_size': 10, 'alpha': 1}
    """
    if parameters is None:
        return {}
    if not isinstance(parameters, dict):
        raise validation_error("parameters", "must be an object")
    out = dict(parameters)
    if "predict_proba" in out:
        out["predict_proba"] = _as_bool("predict_proba", out["predict_proba"])
    if "output_format" in out:
        value = out["output_format"]
        if not isinstance(value, str) or value.lower() not in OUTPUT_FORMATS:
            raise validation_error("parameters.output_format",
                                   f"must be one of {', '.join(OUTPUT_FORMATS)}")
        out["output_format"] = value.lower()
    if "timeout_s" in out:
        out["timeout_s"] = _as_number("timeout_s", out["timeout_s"], False, 0.1, MAX_TIMEOUT_S)
    if "batch_size" in out:
        out["batch_size"] = _as_number("batch_size", out["batch_size"], True, 1, MAX_BATCH_SIZE)
    if "on_bad_rows" in out:
        value = out["on_bad_rows"]
        if not isinstance(value, str) or value.lower() not in ON_BAD_ROWS:
            raise validation_error("parameters.on_bad_rows",
                                   f"must be one of {', '.join(ON_BAD_ROWS)}")
        out["on_bad_rows"] = value.lower()
    return limits.check_free_form(out, "parameters")


def unused_parameters(parameters: dict[str, Any]) -> list[str]:
    """Names the runner does not use (shown on the execution and logged, never dropped)."""
    return sorted(name for name in parameters if name not in RUNNER_PARAMETERS)


def merge_parameters(deployment: dict[str, Any] | None, request: dict[str, Any] | None) -> dict:
    """A deployment run: the deployment's parameters, overridden by the request's."""
    return {**((deployment or {}).get("parameters") or {}), **(request or {})}


# -- input -------------------------------------------------------------------------


def check_rows(rows: Any) -> list[dict[str, Any]]:
    """Inline rows must be a non-empty list of objects (400 otherwise)."""
    if not isinstance(rows, list) or not rows:
        raise validation_error("input.rows", "must be a non-empty list of objects")
    for n, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ValidationError(f"input.rows: row {n} is not an object",
                                  {"input.rows": [f"row {n} is not an object"]})
    return rows


def columns_of(rows: list[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            seen.setdefault(str(key), None)
    return list(seen)


def schema_names(input_schema: Any) -> list[str]:
    """Feature names of the registry's ``input_schema`` (``[{"name", "type"}]``)."""
    if not input_schema or not isinstance(input_schema, list):
        return []
    return [str(f["name"]) for f in input_schema if isinstance(f, dict) and f.get("name")]


_is_numeric_type = is_numeric_type  # the input reader's rule (shared.datasets)


def check_instances(instances: Any, input_schema: Any) -> list[dict[str, Any]]:
    """Online prediction instances against the model's schema.

    Raises ``ValidationError`` (400) for a malformed body, ``InvalidInputData``
    (422) naming the missing, unknown and non-numeric fields.
    """
    if not isinstance(instances, list) or not instances:
        raise validation_error("instances", "must be a non-empty list of objects")
    if not all(isinstance(i, dict) for i in instances):
        raise validation_error("instances", "every instance must be an object")
    names = schema_names(input_schema)
    if not names:
        return instances
    known = set(names)
    numeric = {f["name"] for f in input_schema
               if isinstance(f, dict) and f.get("name") and _is_numeric_type(f.get("type"))}
    missing: dict[str, None] = {}
    unknown: dict[str, None] = {}
    non_numeric: dict[str, None] = {}
    for instance in instances:
        for name in names:
            if name not in instance:
                missing.setdefault(name, None)
        for key, value in instance.items():
            if key not in known:
                unknown.setdefault(key, None)
            elif key in numeric and value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                non_numeric.setdefault(key, None)
    if missing or unknown or non_numeric:
        parts = []
        details: dict[str, Any] = {"expected": names}
        for label, found in (("missing", missing), ("unknown", unknown),
                             ("non-numeric", non_numeric)):
            if found:
                parts.append(f"{label} fields: {', '.join(found)}")
                details[f"{label.replace('-', '_')}_fields"] = list(found)
        raise InvalidInputData("; ".join(parts), details)
    return instances


# -- the execution dict -------------------------------------------------------------


def to_dict(doc: dict[str, Any]) -> dict[str, Any]:
    """An execution document as the API shows it (ISO dates, string ids)."""
    result = doc.get("result") or None
    input_ = doc.get("input") or {}
    return {
        "id": str(doc["_id"]),
        "status": doc["status"],
        "trigger": doc.get("trigger"),
        "model_id": doc.get("model_id"),
        "model_name": doc.get("model_name"),
        "model_version": doc.get("model_version"),
        "deployment_id": doc.get("deployment_id"),
        "department": doc.get("department"),
        "region": doc.get("region"),
        "parameters": doc.get("parameters") or {},
        "unused_parameters": doc.get("unused_parameters") or [],
        "input": {
            "rows": input_.get("rows"),
            "filename": input_.get("filename"),
            "format": input_.get("format"),
            "size": input_.get("size"),
        },
        "created_at": _iso(doc.get("created_at")),
        "started_at": _iso(doc.get("started_at")),
        "finished_at": _iso(doc.get("finished_at")),
        "duration_s": doc.get("duration_s"),
        "error": doc.get("error"),
        "result": (
            {"rows": result.get("rows"), "size": result.get("size"),
             "format": result.get("format"), "filename": result.get("filename"),
             **({"skipped_rows": result["skipped_rows"], "bad_rows": result.get("bad_rows") or []}
                if result.get("skipped_rows") is not None else {})}
            if result else None
        ),
        "rerun_of": doc.get("rerun_of"),
        "created_by": doc.get("created_by"),
        "rows_per_second": doc.get("rows_per_second"),
        "peak_memory_mb": doc.get("peak_memory_mb"),
        # What the run was given (memory_mb = RLIMIT_AS of its process, timeout_s) and
        # what it used (peak_memory_mb = ru_maxrss of the child process).
        "resources": doc.get("resources") or None,
        "usage": usage(doc, result),
        "attempt": doc.get("attempt", 0),
        "cancel_requested": bool(doc.get("cancel_requested")),
        "idempotency_key": doc.get("idempotency_key"),
        "slot": doc.get("slot"),
    }


def usage(doc: dict[str, Any], result: dict[str, Any] | None) -> dict[str, Any]:
    """Peak memory, rows scored, rows per second and duration of a run (nulls until
    it has them)."""
    return {"peak_memory_mb": doc.get("peak_memory_mb"),
            "rows": (result or {}).get("rows"),
            "rows_per_second": doc.get("rows_per_second"),
            "duration_s": doc.get("duration_s")}


def _iso(value: datetime | None) -> str | None:
    return isoformat(value) if isinstance(value, datetime) else value


SORT_FIELDS = ("created_at", "started_at", "finished_at", "duration_s", "status")


def list_query(query: dict[str, Any] | None) -> tuple[dict, list[tuple[str, int]], int, int]:
    """Filter, sort, page and per_page of ``list_executions`` (400 on bad values)."""
    query = dict(query or {})
    filters: dict[str, Any] = {}
    for key in ("deployment_id", "model_id", "created_by", "department", "region",
                "rerun_of"):
        if query.get(key):
            filters[key] = str(query[key])
    period = created_between(query.get("from"), query.get("to"))
    if period:
        filters["created_at"] = period
    if query.get("status"):
        statuses = query["status"] if isinstance(query["status"], list) else \
            str(query["status"]).split(",")
        bad = [s for s in statuses if s not in STATUSES]
        if bad:
            raise validation_error("status", f"unknown status {', '.join(bad)}")
        filters["status"] = statuses[0] if len(statuses) == 1 else {"$in": statuses}
    if query.get("trigger"):
        if query["trigger"] not in TRIGGERS:
            raise validation_error("trigger", f"must be one of {', '.join(TRIGGERS)}")
        filters["trigger"] = query["trigger"]
    sort_key = str(query.get("sort") or "-created_at")
    direction = -1 if sort_key.startswith("-") else 1
    field = sort_key.lstrip("-+")
    if field not in SORT_FIELDS:
        raise validation_error("sort", f"must be one of {', '.join(SORT_FIELDS)} (- for desc)")
    page, per_page = limits.page_args(query.get("page"), query.get("per_page"))
    return filters, [(field, direction), ("_id", direction)], page, per_page


def parse_time(name: str, value: Any) -> datetime | None:
    """An ISO 8601 instant from the outside (``Z`` or an offset; naive = UTC)."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise validation_error(name, "must be an ISO 8601 date-time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def created_between(start: Any, end: Any) -> dict[str, datetime]:
    """The ``created_at`` condition of ``from`` (inclusive) and ``to`` (exclusive)."""
    low, high = parse_time("from", start), parse_time("to", end)
    if low and high and high < low:
        raise validation_error("to", "must not be before from")
    condition: dict[str, datetime] = {}
    if low:
        condition["$gte"] = low
    if high:
        condition["$lt"] = high
    return condition


def export_cursor(cursor: dict[str, Any] | None) -> str | None:
    """The opaque ``next`` of ``export_executions``: ``<created_at>|<id>|<window s>``."""
    if cursor is None:
        return None
    return f"{cursor['t'].isoformat()}|{cursor['id'] or ''}|{cursor['w']:g}"


def parse_export_cursor(value: Any) -> dict[str, Any] | None:
    from bson import ObjectId
    from bson.errors import InvalidId

    if value in (None, ""):
        return None
    try:
        moment, oid, window = str(value).split("|")
        return {"t": parse_time("after", moment), "id": ObjectId(oid) if oid else None,
                "w": max(float(window), 1.0)}
    except (ValueError, InvalidId, ValidationError):
        raise validation_error("after", "must be the next cursor of the previous page") \
            from None


def one_line(text: str | None, limit: int = 1000) -> str:
    """An exception line (``Type: message``) on one line, for ``error``."""
    flat = " ".join(str(text or "").split())
    return flat[:limit] or "unknown error"


def error_last_line(text: str) -> str:
    """The last non-empty line of a traceback or message (what ``error`` shows)."""
    lines = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1][:1000] if lines else "unknown error"
