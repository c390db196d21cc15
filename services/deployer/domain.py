"""Pure deployment logic: validation against the model, state changes, history.

No I/O here: the service fetches the model and the time, the repository
stores the result.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared import cron
from shared.errors import Conflict, ValidationError
from shared.mongo import isoformat

STATUSES = ("inactive", "active")
#: Fields whose change is recorded in the deployment's history.
TRACKED = (
    "name",
    "description",
    "parameters",
    "schedule",
    "timezone",
    "model_id",
    "misfire_policy",
    "max_concurrent",
    "jitter_s",
    "memory_mb",
    "timeout_s",
)
SORTABLE = ("name", "created_at", "updated_at", "status", "next_run_at", "department", "region")
_EXECUTION_RANK = {
    "queued": 0,
    "running": 1,
    "succeeded": 2,
    "failed": 2,
    "cancelled": 2,
    "timed_out": 2,
}


def check_model_usable(model: dict[str, Any]) -> None:
    """A deployment needs a ``ready`` model (a draft has no valid file yet) → 409."""
    status = model.get("status")
    if status == "ready":
        return
    label = f"model {model.get('name')!r} {model.get('version') or ''}".rstrip()
    if status == "draft":
        message = f"{label} has no valid file yet (status draft): upload a valid model file first"
    else:
        message = f"{label} cannot be deployed: its status is {status!r}, not 'ready'"
    raise Conflict(message, {"model_id": model.get("id"), "model_status": status})


def model_fields(model: dict[str, Any]) -> dict[str, Any]:
    """What a deployment copies from its model (kept in step on ``model_updated``)."""
    return {
        "model": {"name": model.get("name"), "version": model.get("version")},
        "department": model.get("department"),
        "region": model.get("region"),
        "model_status": model.get("status"),
    }


def validate_schedule(data: dict[str, Any]) -> dict[str, Any]:
    """Normalise ``schedule`` / ``timezone`` in place (400 naming the field)."""
    if "schedule" in data:
        data["schedule"] = cron.validate_cron(data["schedule"])
    if "timezone" in data:
        data["timezone"] = cron.validate_timezone(data["timezone"])
    return data


def next_run_at(doc: dict[str, Any], now: datetime) -> datetime | None:
    """The next slot (cron instant, UTC) of an active scheduled deployment, else None.

    The scheduler fires at ``next_run_at + jitter``; the slot itself is what the
    API shows and what names the run (idempotency key).
    """
    if doc.get("status") != "active" or not doc.get("schedule"):
        return None
    return cron.next_run(doc["schedule"], doc.get("timezone") or "UTC", now)


def refresh_next_run_at(deployment: dict[str, Any], now: datetime) -> dict[str, Any]:
    """An API deployment whose shown ``next_run_at`` has passed gets the next slot.

    The stored value moves on ``execution_requested``; a slot the scheduler skipped
    (misfire ``skip``, ``max_concurrent``) sends no event, so reads refresh it.
    """
    shown = deployment.get("next_run_at")
    if deployment.get("status") != "active" or not deployment.get("schedule") or not shown:
        return deployment
    if datetime.fromisoformat(shown.replace("Z", "+00:00")) > now:
        return deployment
    upcoming = cron.next_run(deployment["schedule"], deployment.get("timezone") or "UTC", now)
    deployment["next_run_at"] = isoformat(upcoming)
    return deployment


def new_deployment(
    data: dict[str, Any], model: dict[str, Any], username: str | None, now: datetime
) -> dict[str, Any]:
    """The document of a new (inactive) deployment."""
    validate_schedule(data)
    check_model_usable(model)
    return {
        "name": data["name"],
        "description": data.get("description") or "",
        "model_id": model["id"],
        **model_fields(model),
        "parameters": data.get("parameters") or {},
        "schedule": data.get("schedule"),
        "timezone": data.get("timezone") or "UTC",
        "misfire_policy": data.get("misfire_policy", "run_once"),
        "max_concurrent": data.get("max_concurrent", 1),
        "jitter_s": data.get("jitter_s", 0),
        "memory_mb": data.get("memory_mb"),
        "timeout_s": data.get("timeout_s"),
        "status": "inactive",
        "input": None,
        "next_run_at": None,
        "last_execution": None,
        "model_deleted": False,
        "history": [],
        "created_by": username,
        "created_at": now,
        "updated_at": now,
    }


def history_entries(
    old: dict[str, Any], changes: dict[str, Any], username: str | None, now: datetime
) -> list[dict[str, Any]]:
    """One entry per tracked field that really changes: who, when, old, new."""
    return [
        {"at": now, "by": username, "field": name, "old": old.get(name), "new": changes[name]}
        for name in TRACKED
        if name in changes and changes[name] != old.get(name)
    ]


def status_entry(old: str, new: str, username: str | None, now: datetime) -> dict[str, Any]:
    return {"at": now, "by": username, "field": "status", "old": old, "new": new}


def parse_sort(sort: str | None) -> list[tuple[str, int]]:
    """``-created_at`` → ``[("created_at", -1)]``; unknown fields → 400."""
    keys = []
    for part in (sort or "-created_at").split(","):
        part = part.strip()
        if not part:
            continue
        direction = -1 if part.startswith("-") else 1
        name = part.lstrip("+-")
        if name not in SORTABLE:
            raise ValidationError(
                f"sort: cannot sort by {name!r}", {"sort": [f"one of {', '.join(SORTABLE)}"]}
            )
        keys.append((name, direction))
    return keys or [("created_at", -1)]


def execution_summary(execution: dict[str, Any]) -> dict[str, Any] | None:
    """``last_execution`` from a runner event's execution dict (None if unusable)."""
    exec_id = execution.get("id")
    status = execution.get("status")
    if not exec_id or not status:
        return None
    time = (
        execution.get("finished_at") or execution.get("started_at") or execution.get("created_at")
    )
    return {
        "id": exec_id,
        "status": status,
        "time": time,
        "created_at": execution.get("created_at") or time,
        "rank": _EXECUTION_RANK.get(status, 0),
    }
