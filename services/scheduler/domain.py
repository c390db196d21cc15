"""Pure scheduling logic: schedule state from a deployment, what a tick does.

Schedule state (one document per deployment, collection ``schedules``, owned
by the scheduler; built from the deployer's events and resync, never from the
deployer's collection)::

    {_id: <deployment id>, active, schedule, timezone, misfire_policy,
     max_concurrent, jitter_s, jitter (offset s), next_run_at (the next slot,
     UTC: set from the deployer, then a checkpoint the claim winner writes after
     sending, at most every SCHEDULER_CHECKPOINT_S), skips: [{slot, reason, at}] (last 50),
     changed_at (when the definition last changed: replicas reload what moved),
     deleted (a tombstone, so every replica forgets it),
     source_updated_at (the deployment's updated_at, to ignore stale events)}

Claims (collection ``schedule_claims``), one document per (deployment, slot) the
tick decided about, ``_id`` = the slot's idempotency key ``<id>:<slot>``: the
unique ``_id`` is the claim (an insert; a duplicate key means another replica
has it). ``{deployment_id, slot, fire_at, next_run_at, batch, skip}`` (``skip``:
the reason when the slot is not fired). Every claim belongs to a batch
(collection ``schedule_batches``, ``{_id, claimed_by, fire_at, lease_until,
settled, redispatches}``), inserted before its claims and settled once all its
fired claims were sent: a batch unsettled past its ``lease_until`` (its replica
died, or the broker refused) is taken over and re-sent by any replica. A
duplicate is harmless: the runner dedupes on ``idempotency_key``.
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
        changes.update(active=False, next_run_at=None)
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
    return changes


# What a replica's timetable holds of a state: a change to one of them is a change.
TICK_FIELDS = ("active", "schedule", "timezone", "misfire_policy", "max_concurrent",
               "jitter_s", "jitter", "next_run_at")


def changed(changes: dict[str, Any], existing: dict[str, Any] | None) -> bool:
    """Whether ``changes`` move anything the tick reads (then ``changed_at`` moves and
    every replica reloads the state); a resync of an unchanged deployment does not."""
    if existing is None or existing.get("deleted"):
        return True
    return any(key in changes and existing.get(key) != changes[key] for key in TICK_FIELDS)


@dataclass
class TickPlan:
    """What one tick does for one due deployment."""

    fire: list[datetime] = field(default_factory=list)
    skipped: list[tuple[datetime, str]] = field(default_factory=list)
    unlisted_skipped: int = 0
    late: int = 0
    last_slot: datetime | None = None
    next_run_at: datetime | None = None


def plan_tick(
    state: dict[str, Any], now: datetime, grace_s: float, horizon: datetime | None = None
) -> TickPlan:
    """Slots due by ``horizon`` (default ``now``) → fire / skip (misfire policy) → next slot.

    Lateness is judged at ``now``: a slot that fires after ``now`` (claimed ahead) is on
    time. ``catch_up`` fires all its slots at once (the runner queues them).
    ``max_concurrent`` is not decided here but when the slot is sent (``over_limit``).
    """
    jitter = float(state.get("jitter") or 0)
    slots, total = cron.due_slots(
        state["schedule"], state["timezone"], state["next_run_at"], horizon or now, jitter
    )
    plan = TickPlan()
    if not slots:
        return plan
    misfire = cron.plan_misfire(
        state.get("misfire_policy") or "run_once", slots, total, now, grace_s, jitter
    )
    plan.fire, plan.skipped = misfire.fire, list(misfire.skipped)
    plan.unlisted_skipped, plan.late = misfire.unlisted, misfire.late
    plan.last_slot = slots[-1]
    plan.next_run_at = cron.next_run(state["schedule"], state["timezone"], slots[-1])
    return plan


def over_limit(state: dict[str, Any], running: int) -> bool:
    """``max_concurrent``: with ``running`` executions queued or running, a slot is skipped."""
    return running >= int(state.get("max_concurrent") or 1)


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


def claim_documents(state: dict[str, Any], plan: TickPlan) -> list[dict[str, Any]]:
    """The claims of one plan: one per slot fired or skipped (``skip`` = reason), its
    ``_id`` the slot's idempotency key (its ``batch`` is set when claimed). The last
    one is the plan's own (``last_slot``): whoever inserts it owns the plan's skips and
    the state's checkpoint."""
    dep_id = state["_id"]
    jitter = timedelta(seconds=float(state.get("jitter") or 0))
    decided = [(slot, reason) for slot, reason in plan.skipped] + [(s, None) for s in plan.fire]
    return [
        {
            "_id": cron.slot_key(dep_id, slot),
            "deployment_id": dep_id,
            "slot": slot,
            "fire_at": slot + jitter,
            "next_run_at": plan.next_run_at,
            "skip": reason,
        }
        for slot, reason in sorted(decided, key=lambda item: item[0])
    ]


def claim_request(claim: dict[str, Any]) -> dict[str, Any]:
    """The ``execution_requested`` payload of a claim."""
    return execution_request(claim["deployment_id"], claim["slot"], claim.get("next_run_at"))


def parse_time(value: Any) -> datetime | None:
    """ISO 8601 (``Z`` allowed) → aware datetime; datetimes pass through."""
    return _parse(value)
