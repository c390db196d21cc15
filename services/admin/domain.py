"""Pure logic of the admin service: settings validation, what an event means for the
audit trail, which integrations an event goes to, retry back-off. No I/O here."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import available_timezones

from services.admin import webhooks
from shared import events
from shared.errors import ValidationError

# -- settings ------------------------------------------------------------------------

MAX_TIMEOUT_S = 7 * 24 * 3600
#: setting → (kind, low, high); lists are checked entry by entry.
RULES: dict[str, tuple[str, float, float]] = {
    "default_timezone": ("timezone", 0, 0),
    "default_execution_timeout_s": ("number", 1, MAX_TIMEOUT_S),
    "max_execution_timeout_s": ("number", 1, MAX_TIMEOUT_S),
    "max_upload_mb": ("number", 1, 102400),
    "retention_days": ("integer", 0, 36500),
    "log_retention_days": ("integer", 0, 36500),
    "result_retention_days": ("integer", 0, 36500),
    "login_max_failures": ("integer", 1, 1000),
    "login_lockout_s": ("integer", 1, 7 * 24 * 3600),
    "webhook_allowed_hosts": ("hosts", 0, 100),
    "max_memory_mb": ("integer", 64, 1024 * 1024),
    "backup_retention_count": ("integer", 1, 1000),
    "backup_interval_hours": ("integer", 0, 8760),
}


def _number(key: str, value: Any, integer: bool, low: float, high: float) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError("must be a number")
    if integer and int(value) != value:
        raise ValueError("must be a whole number")
    if not low <= value <= high:
        raise ValueError(f"must be between {low:g} and {high:g}")
    return int(value) if integer or float(value).is_integer() else float(value)


def _one(key: str, value: Any) -> Any:
    kind, low, high = RULES[key]
    if kind == "timezone":
        if not isinstance(value, str) or value not in available_timezones():
            raise ValueError("must be an IANA time zone such as Europe/Paris")
        return value
    if kind == "hosts":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError("must be a list of host names, IP addresses or CIDR ranges")
        if len(value) > high:
            raise ValueError(f"at most {high:g} entries")
        webhooks.parse_allowed(value)  # raises ValueError naming the bad entry
        return [v.strip().lower() for v in value]
    return _number(key, value, kind == "integer", low, high)


def validate_settings(current: dict[str, Any], changes: Any) -> dict[str, Any]:
    """``current`` updated by ``changes`` (any subset of the settings). Raises
    ValidationError naming every bad key (unknown keys included)."""
    if not isinstance(changes, dict):
        raise ValidationError("the body must be an object of settings", {"body": ["not an object"]})
    errors: dict[str, list[str]] = {}
    merged = dict(current)
    for key, value in changes.items():
        if key not in RULES:
            errors[key] = ["unknown setting"]
            continue
        try:
            merged[key] = _one(key, value)
        except ValueError as exc:
            errors[key] = [str(exc)]
    if not errors and merged["default_execution_timeout_s"] > merged["max_execution_timeout_s"]:
        key = ("default_execution_timeout_s" if "default_execution_timeout_s" in changes
               else "max_execution_timeout_s")
        errors[key] = ["default_execution_timeout_s must not exceed max_execution_timeout_s"]
    for key in ("log_retention_days", "result_retention_days"):
        if not errors and merged["retention_days"] and merged[key] > merged["retention_days"]:
            errors[key] = [f"must not exceed retention_days ({merged['retention_days']})"]
    if errors:
        raise ValidationError(f"invalid settings: {', '.join(sorted(errors))}", errors)
    return merged


def changed_keys(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return sorted(key for key in new if old.get(key) != new.get(key))


# -- audit trail -----------------------------------------------------------------------

#: event → (action, object type, key of the object in the payload, object id field)
AUDITED: dict[str, tuple[str, str, str]] = {
    events.MODEL_CREATED: ("model.created", "model", "model"),
    events.MODEL_UPDATED: ("model.updated", "model", "model"),
    events.MODEL_FILE_UPLOADED: ("model.file_uploaded", "model", "model"),
    events.MODEL_DELETED: ("model.deleted", "model", "model_id"),
    events.DEPLOYMENT_CREATED: ("deployment.created", "deployment", "deployment"),
    events.DEPLOYMENT_UPDATED: ("deployment.updated", "deployment", "deployment"),
    events.DEPLOYMENT_STARTED: ("deployment.started", "deployment", "deployment"),
    events.DEPLOYMENT_STOPPED: ("deployment.stopped", "deployment", "deployment"),
    events.DEPLOYMENT_DELETED: ("deployment.deleted", "deployment", "deployment_id"),
    events.EXECUTION_QUEUED: ("execution.created", "execution", "execution"),
    events.EXECUTION_CANCEL_REQUESTED: ("execution.cancel_requested", "execution", "execution"),
    events.EXECUTION_CANCELLED: ("execution.cancelled", "execution", "execution"),
    events.PREDICTION_SERVED: ("deployment.predicted", "deployment", "deployment_id"),
    events.USER_CREATED: ("user.created", "user", "user"),
    events.USER_UPDATED: ("user.updated", "user", "user"),
    events.USER_PASSWORD_RESET: ("user.password_reset", "user", "user_id"),
    events.USER_UNLOCKED: ("user.unlocked", "user", "user_id"),
    events.LOGIN_SUCCEEDED: ("login.succeeded", "user", "user_id"),
    events.LOGIN_FAILED: ("login.failed", "user", "username"),
    events.USER_LOCKED_OUT: ("user.locked_out", "user", "username"),
    events.SETTINGS_CHANGED: ("settings.updated", "settings", "settings"),
    events.INTEGRATION_CREATED: ("integration.created", "integration", "integration"),
    events.INTEGRATION_UPDATED: ("integration.updated", "integration", "integration"),
    events.INTEGRATION_DELETED: ("integration.deleted", "integration", "integration_id"),
    events.INTEGRATION_TESTED: ("integration.tested", "integration", "integration"),
    events.REPORTS_REBUILD_REQUESTED: ("reports.rebuild_requested", "reports", "rebuild"),
    events.BACKUP_REQUESTED: ("backup.requested", "backup", "backup"),
    events.BACKUP_SUCCEEDED: ("backup.succeeded", "backup", "backup"),
    events.BACKUP_FAILED: ("backup.failed", "backup", "backup"),
    events.RESTORE_REQUESTED: ("restore.requested", "restore", "restore"),
    events.RESTORE_SUCCEEDED: ("restore.succeeded", "restore", "restore"),
    events.RESTORE_FAILED: ("restore.failed", "restore", "restore"),
}
#: Object types whose last state is kept to summarise their next change (not executions:
#: they are many, and each one changes only its status, which the action already says).
DIFFED = {"model", "deployment", "user", "integration", "settings"}
#: Fields that change on every write and say nothing about the change.
NOISE = {"updated_at", "history", "last_execution", "next_run_at", "_id"}
SUMMARY_MAX = 1000


def action_of(event_type: str, payload: dict[str, Any]) -> str:
    """The audit action of an event: ``user.updated`` that (de)activates a user says so."""
    action = AUDITED[event_type][0]
    user = payload.get("user")
    if event_type == events.USER_UPDATED and "active" in (payload.get("changed") or []):
        return "user.deactivated" if isinstance(user, dict) and not user.get("active") \
            else "user.reactivated"
    return action


def object_of(event_type: str, payload: dict[str, Any]) -> tuple[str, str | None, dict | None]:
    """(object type, object id, the object's state when the event carries it)."""
    _, object_type, key = AUDITED[event_type]
    value = payload.get(key)
    if event_type == events.SETTINGS_CHANGED:
        return object_type, "global", value if isinstance(value, dict) else None
    if isinstance(value, dict):
        return object_type, (str(value["id"]) if value.get("id") is not None else None), value
    if event_type == events.LOGIN_SUCCEEDED and not value:
        value = payload.get("username")
    return object_type, (str(value) if value is not None else None), None


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def diff(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, list[Any]]:
    """Top-level fields that differ (noise fields left out): field → [old, new]."""
    if not new:
        return {}
    old = old or {}
    return {key: [old.get(key), new.get(key)] for key in sorted(set(old) | set(new))
            if key not in NOISE and old.get(key) != new.get(key)}


def summary(event_type: str, payload: dict[str, Any], old: dict | None, new: dict | None) -> str:
    """One line a person reads: what changed."""
    action = AUDITED[event_type][0]
    label = ""
    if new:
        label = " ".join(str(new[k]) for k in ("name", "username", "version") if new.get(k))
    elif payload.get("name"):
        label = " ".join(str(payload[k]) for k in ("name", "version") if payload.get(k))
    if event_type == events.SETTINGS_CHANGED:
        previous, values = payload.get("previous") or {}, payload.get("settings") or {}
        changes = "; ".join(f"{key}: {_short(previous.get(key))} → {_short(values.get(key))}"
                            for key in payload.get("changed") or [])
        return f"{action}: {changes or 'no change'}"[:SUMMARY_MAX]
    if event_type in (events.LOGIN_FAILED, events.LOGIN_SUCCEEDED, events.USER_LOCKED_OUT):
        bits = [f"user {payload.get('username')}"]
        for key in ("reason", "client", "failures", "until"):
            if payload.get(key) is not None:
                bits.append(f"{key} {payload[key]}")
        text = f"{action}: " + ", ".join(bits)
    elif event_type.endswith(("_created", "_queued")) or old is None and new:
        fields = {k: v for k, v in (new or {}).items()
                  if k in ("status", "trigger", "role", "url", "events", "department",
                           "schedule", "timezone", "model_id", "deployment_id")}
        text = f"{action} {label}".strip()
        if fields:
            text += ": " + ", ".join(f"{k}={_short(v)}" for k, v in fields.items())
    elif new is None:  # an event without the object's state: what it says of it
        text = f"{action} {label}".strip()
        facts = {k: v for k, v in payload.items()
                 if isinstance(v, str | int | float) and not isinstance(v, bool)}
        if facts:
            text += ": " + ", ".join(f"{k}={_short(v)}" for k, v in sorted(facts.items()))
    else:
        changes = diff(old, new)
        text = f"{action} {label}".strip()
        if changes:
            text += ": " + "; ".join(f"{k}: {_short(a)} → {_short(b)}"
                                     for k, (a, b) in changes.items())
    return text[:SUMMARY_MAX]


def snapshot(state: dict[str, Any] | None) -> dict[str, Any] | None:
    """What is kept of an object to diff its next change against (secrets never)."""
    if not state:
        return None
    return {k: v for k, v in state.items() if k not in NOISE and k not in ("secret", "password")}


# -- integrations ----------------------------------------------------------------------

#: What an integration may subscribe to (API names = the platform's event names).
WEBHOOK_EVENTS = (
    events.EXECUTION_SUCCEEDED,
    events.EXECUTION_FAILED,
    events.EXECUTION_TIMED_OUT,
    events.DEPLOYMENT_STARTED,
    events.DEPLOYMENT_STOPPED,
    events.MODEL_CREATED,
    events.MODEL_UPDATED,
    events.BACKUP_SUCCEEDED,
    events.BACKUP_FAILED,
)
TEST_EVENT = "integration_test"


def event_department(event_type: str, payload: dict[str, Any]) -> str | None:
    """The department an event belongs to when the payload says it (None otherwise)."""
    for key in ("model", "deployment", "execution"):
        value = payload.get(key)
        if isinstance(value, dict) and value.get("department"):
            return value["department"]
    return None


def webhook_body(msg_id: str, event_type: str, payload: dict[str, Any], at: datetime) -> dict:
    """The JSON body (Standard Webhooks' recommended ``type`` / ``timestamp`` / ``data``)."""
    return {
        "id": msg_id,
        "type": event_type,
        "timestamp": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "data": payload,
    }


def next_attempt(attempt: int, now: datetime, base_s: float, max_s: float) -> datetime:
    """When attempt ``attempt + 1`` is due after ``attempt`` failed: base · 2^(n-1), capped."""
    return now + timedelta(seconds=min(max_s, base_s * (2 ** max(attempt - 1, 0))))
