"""Pure scheduling logic: schedule state from a deployment, what a tick does.

Schedule state (one document per deployment, collection ``schedules``, owned
by the scheduler; built from the deployer's events and resync, never from the
deployer's collection)::

    {_id: <deployment id>, active, schedule, timezone, misfire_policy,
     max_concurrent, jitter_s, jitter (offset s), next_run_at (the next slot,
     UTC), due_at (= next_run_at + jitter: when to fire, indexed with active),
     last_slot, last_fired_at, skips: [{slot, reason, at}] (last 50),
     pending: [{slot, idempotency_key, next_run_at, claimed_at, claimed_by,
                redispatches?}] (claimed slots whose dispatch is not confirmed yet),
     claim_token (the bulk claim that last advanced it: tells a replica which of
                  its conditional writes matched),
     source_updated_at (the deployment's updated_at, to ignore stale events)}

``pending`` is what makes delivery exactly-once in effect: the claim that
advances ``next_run_at`` pushes the slots it is about to fire in the same
write, the dispatcher pulls them once the broker confirmed the event, and an
entry still there ``SCHEDULER_REDISPATCH_S`` after its ``claimed_at`` (its
replica died or the dispatch failed) is claimed again and re-sent by any
replica. A duplicate is harmless: the runner dedupes on ``idempotency_key``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared import cron

SKIPS_KEPT = 50


def _parse(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def is_scheduled(deployment: dict[str, Any]) -> bool:
    return deployment.get("status") == "active" and bool(deployment.get("schedule"))


def state_changes(
    deployment: dict[str, Any], existing: dict[str, Any] | None, now: datetime
) -> dict[str, Any]:
    """The ``$set`` for the schedule state of ``deployment``.

    ``next_run_at`` is kept when the deployment stays active with the same cron,
    time zone and jitter (a resync after downtime must not forget missed slots);
    when the schedule starts or changes it is the deployment's own ``next_run_at``
    (computed by the deployer at that moment), else the next slot after ``now``.
    """
    dep_id = str(deployment["id"])
    jitter_s = int(deployment.get("jitter_s") or 0)
    changes: dict[str, Any] = {
        "schedule": deployment.get("schedule"),
        "timezone": deployment.get("timezone") or "UTC",
        "misfire_policy": deployment.get("misfire_policy") or "run_once",
        "max_concurrent": int(deployment.get("max_concurrent") or 1),
        "jitter_s": jitter_s,
        "jitter": cron.jitter_offset(dep_id, jitter_s),
        "source_updated_at": deployment.get("updated_at"),
        "synced_at": now,
    }
    if not is_scheduled(deployment):
        changes.update(active=False, next_run_at=None, due_at=None)
        return changes
    same = (
        existing is not None
        and existing.get("active")
        and existing.get("next_run_at") is not None
        and all(existing.get(k) == changes[k] for k in ("schedule", "timezone", "jitter_s"))
    )
    changes["active"] = True
    if not same:
        # The deployer computed the first slot when it started / edited the deployment:
        # take it, so a slot due between its write and this event is not lost (a past
        # one goes through the misfire policy). Without it, the next slot from now.
        try:
            next_slot = _parse(deployment.get("next_run_at"))
        except ValueError:
            next_slot = None
        if next_slot is None:
            next_slot = cron.next_run(changes["schedule"], changes["timezone"], now)
        changes["next_run_at"] = next_slot
        changes["due_at"] = next_slot + timedelta(seconds=changes["jitter"])
    return changes


@dataclass
class TickPlan:
    """What one tick does for one due deployment."""

    fire: list[datetime] = field(default_factory=list)
    skipped: list[tuple[datetime, str]] = field(default_factory=list)
    unlisted_skipped: int = 0
    late: int = 0
    last_slot: datetime | None = None
    next_run_at: datetime | None = None
    due_at: datetime | None = None


def plan_tick(state: dict[str, Any], now: datetime, grace_s: float, running: int) -> TickPlan:
    """Due slots → fire / skip (misfire policy, then ``max_concurrent``) → next slot.

    ``running``: executions of the deployment queued or running now. When it is
    ``>= max_concurrent`` every slot that would fire is skipped (``max_concurrent``).
    ``catch_up`` fires all its slots at once (the runner queues them).
    """
    jitter = float(state.get("jitter") or 0)
    slots, total = cron.due_slots(
        state["schedule"], state["timezone"], state["next_run_at"], now, jitter
    )
    plan = TickPlan()
    if not slots:
        return plan
    misfire = cron.plan_misfire(
        state.get("misfire_policy") or "run_once", slots, total, now, grace_s, jitter
    )
    plan.fire, plan.skipped = misfire.fire, list(misfire.skipped)
    plan.unlisted_skipped, plan.late = misfire.unlisted, misfire.late
    if plan.fire and running >= int(state.get("max_concurrent") or 1):
        plan.skipped += [(slot, "max_concurrent") for slot in plan.fire]
        plan.fire = []
    plan.last_slot = slots[-1]
    plan.next_run_at = cron.next_run(state["schedule"], state["timezone"], slots[-1])
    if plan.next_run_at is not None:
        plan.due_at = plan.next_run_at + timedelta(seconds=jitter)
    return plan


def execution_request(
    deployment_id: str, slot: datetime, next_run_at: datetime | None
) -> dict[str, Any]:
    """The ``execution_requested`` payload (see shared/events.py)."""
    return {
        "deployment_id": deployment_id,
        "slot": cron.slot_iso(slot),
        "trigger": "schedule",
        "idempotency_key": cron.slot_key(deployment_id, slot),
        "next_run_at": cron.slot_iso(next_run_at) if next_run_at else None,
    }


def pending_entries(
    deployment_id: str,
    slots: list[datetime],
    next_run_at: datetime | None,
    claimed_at: datetime,
    claimed_by: str,
) -> list[dict[str, Any]]:
    """The ``pending`` entries the claim pushes for the slots it is about to fire."""
    return [
        {
            "slot": slot,
            "idempotency_key": cron.slot_key(deployment_id, slot),
            "next_run_at": next_run_at,
            "claimed_at": claimed_at,
            "claimed_by": claimed_by,
        }
        for slot in slots
    ]


def stale_entries(pending: list[dict[str, Any]] | None, cutoff: datetime) -> list[dict[str, Any]]:
    """Pending entries claimed at or before ``cutoff``: their dispatch was never
    confirmed in time, so they are to be re-sent (oldest claim first)."""
    stale = [e for e in pending or () if e.get("claimed_at") and e["claimed_at"] <= cutoff]
    return sorted(stale, key=lambda e: (e["claimed_at"], e["slot"]))


def pending_request(deployment_id: str, entry: dict[str, Any]) -> dict[str, Any]:
    """The ``execution_requested`` payload of a pending entry: the one the claim meant to
    send (same idempotency key, so the runner makes at most one execution of it)."""
    payload = execution_request(deployment_id, entry["slot"], entry.get("next_run_at"))
    payload["idempotency_key"] = entry.get("idempotency_key") or payload["idempotency_key"]
    return payload


def parse_time(value: Any) -> datetime | None:
    """ISO 8601 (``Z`` allowed) → aware datetime; datetimes pass through."""
    return _parse(value)


def claim_time(now: datetime, after: datetime | None = None) -> datetime:
    """The ``claimed_at`` of a claim: ``now`` at millisecond precision (what the
    database stores, so the settle write can match it exactly), strictly after the
    previous claim's ``after`` (each claim settles its own entries)."""
    stamp = now.replace(microsecond=now.microsecond // 1000 * 1000)
    if after is not None and stamp <= after:
        stamp = after + timedelta(milliseconds=1)
    return stamp
