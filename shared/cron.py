"""Cron maths for deployments: validation, next run times in a time zone, misfires.

Pure functions (no I/O), shared by the deployer (validation, ``next_run_at``,
schedule preview) and the scheduler (advancing slots, misfire policies,
jitter). Every datetime that goes in or out is timezone-aware UTC.

Daylight-saving rule (one fire per wall-clock slot)
---------------------------------------------------
croniter 7 evaluated in a time zone fires ``30 2 * * *`` twice on the autumn
day in Europe/Berlin and picks 03:00 on the spring day (TRAPS.md). We do not
let croniter see the time zone: it iterates *naive local wall-clock* times,
and each wall-clock slot is then mapped to one UTC instant:

* **autumn (ambiguous wall time, e.g. 02:30 on 2026-10-25 in Europe/Paris,
  which happens twice)**: the slot fires **once**, at its **first**
  occurrence (summer time, ``fold=0``). ``0 * * * *`` therefore fires 24 times
  that 25-hour day (02:00 once).
* **spring (non-existent wall time, e.g. 02:30 on 2027-03-28 in Europe/Paris,
  clocks jump 02:00 → 03:00)**: the slot fires **once, at the first valid
  instant after the gap** (03:00 local, 01:00 UTC). When several slots fall in
  the gap, or that instant is itself a slot (``0 * * * *`` → 02:00 and 03:00),
  they fire **once together** (dedupe on the UTC instant).

Misfires
--------
A slot is *late* when it is due for longer than ``grace_s`` when the
scheduler looks at it (it was down, or stalled). ``plan_misfire`` decides:

* ``run_once`` (default): one run, for the most recent due slot; the older
  ones are recorded as skipped (``misfire_coalesced``);
* ``skip``: late slots are skipped (``misfire_skip``), on-time ones fire;
* ``catch_up``: one run per due slot, the most recent ``CATCH_UP_LIMIT`` (100)
  at most; older ones are skipped (``misfire_limit``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from croniter.croniter import CroniterError

from shared.errors import validation_error

MISFIRE_POLICIES = ("run_once", "skip", "catch_up")
CATCH_UP_LIMIT = 100
PREVIEW_MAX = 100
_MAX_ITERATIONS = 100_000


def validate_cron(expression: str | None, field_name: str = "schedule") -> str | None:
    """The normalised 5-field expression (or None); ``ValidationError`` naming the field.

    >>> validate_cron(" */5  * * * * ")
    '*/5 * * * *'
    """
    if expression is None:
        return None
    if not isinstance(expression, str):
        raise validation_error(field_name, "must be a string (5-field cron expression) or null")
    fields = expression.split()
    if not fields:
        # null is the way to say "no schedule"; an empty string is a mistake (issue 11).
        raise validation_error(
            field_name, "empty cron expression: send null for no schedule"
        )
    if len(fields) != 5:
        raise validation_error(
            field_name,
            f"a cron expression has exactly 5 fields (minute hour day month "
            f"weekday), got {len(fields)}",
        )
    normalised = " ".join(fields)
    try:
        itr = croniter(normalised, datetime(2000, 1, 1))
        itr.get_next(datetime)  # some impossible dates (e.g. 30 Feb) only fail here
    except (CroniterError, ValueError, KeyError) as exc:
        raise validation_error(field_name, f"invalid cron expression: {exc}") from None
    return normalised


def validate_timezone(name: str | None, field_name: str = "timezone") -> str:
    """The IANA name (default ``UTC``); ``ValidationError`` naming the field otherwise."""
    if name is None or name == "":
        return "UTC"
    if not isinstance(name, str):
        raise validation_error(field_name, "must be an IANA time zone name")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise validation_error(field_name, f"unknown IANA time zone {name!r}") from None
    return name


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def wall_to_utc(wall: datetime, tz: ZoneInfo) -> datetime:
    """One UTC instant for a naive local wall time (the DST rule of this module)."""
    local = wall.replace(tzinfo=tz, fold=0)  # fold=0: first occurrence when ambiguous
    utc = local.astimezone(UTC)
    if utc.astimezone(tz).replace(tzinfo=None) == wall:
        return utc
    # Non-existent (spring gap): walk the wall clock forward to the first valid minute.
    probe = wall.replace(second=0, microsecond=0)
    for _ in range(24 * 60):
        probe += timedelta(minutes=1)
        candidate = probe.replace(tzinfo=tz, fold=0).astimezone(UTC)
        if candidate.astimezone(tz).replace(tzinfo=None) == probe:
            return candidate
    return utc  # unreachable for real zones


def iter_slots(expression: str, timezone: str, after: datetime) -> Iterator[datetime]:
    """Slots (UTC instants) strictly after ``after``, in order, one per wall-clock slot."""
    tz = ZoneInfo(timezone)
    after = _as_utc(after)
    # Starting at after's own wall time loses nothing: a slot in a spring gap maps to
    # the transition instant, which is > after only when after's wall time is before
    # the gap; a slot in the repeated autumn hour maps to its first occurrence.
    start_wall = after.astimezone(tz).replace(tzinfo=None)
    itr = croniter(expression, start_wall)
    last: datetime | None = None
    for _ in range(_MAX_ITERATIONS):
        wall = itr.get_next(datetime)
        instant = wall_to_utc(wall, tz)
        if instant <= after or (last is not None and instant <= last):
            continue  # dedupe on the UTC instant (spring gap merges slots)
        last = instant
        yield instant


def next_run(expression: str | None, timezone: str, after: datetime) -> datetime | None:
    """The first slot strictly after ``after`` (UTC), or None without a schedule."""
    if not expression:
        return None
    return next(iter_slots(expression, timezone, after), None)


def next_runs(expression: str | None, timezone: str, after: datetime, count: int) -> list[datetime]:
    """The next ``count`` slots strictly after ``after`` (UTC instants)."""
    if not expression or count <= 0:
        return []
    out: list[datetime] = []
    for instant in iter_slots(expression, timezone, after):
        out.append(instant)
        if len(out) >= count:
            break
    return out


def preview(expression: str | None, timezone: str, after: datetime, count: int) -> dict:
    """``{"timezone", "schedule", "next_runs": [{"utc", "local"}]}`` for the API."""
    tz = ZoneInfo(timezone)
    runs = []
    for instant in next_runs(expression, timezone, after, count):
        runs.append(
            {
                "utc": instant.isoformat(timespec="seconds").replace("+00:00", "Z"),
                "local": instant.astimezone(tz).isoformat(timespec="seconds"),
            }
        )
    return {"timezone": timezone, "schedule": expression, "next_runs": runs}


def due_slots(
    expression: str,
    timezone: str,
    first: datetime,
    now: datetime,
    jitter: float = 0.0,
    limit: int = CATCH_UP_LIMIT + 1,
) -> tuple[list[datetime], int]:
    """Slots from ``first`` (inclusive) whose fire time (slot + jitter) is ``<= now``.

    Returns ``(the most recent `limit` due slots, total number due)``.
    """
    first, now = _as_utc(first), _as_utc(now)
    delay = timedelta(seconds=jitter)
    if first + delay > now:
        return [], 0
    slots = [first]
    total = 1
    for instant in iter_slots(expression, timezone, first):
        if instant + delay > now:
            break
        total += 1
        slots.append(instant)
        if len(slots) > limit:
            slots.pop(0)
    return slots, total


@dataclass
class MisfirePlan:
    """What to do with the due slots: ``fire`` them, record ``skipped`` (slot, reason)."""

    fire: list[datetime] = field(default_factory=list)
    skipped: list[tuple[datetime, str]] = field(default_factory=list)
    late: int = 0  # how many due slots were late (missed their time)
    unlisted: int = 0  # older due slots beyond the listed ones: skipped, not named


def plan_misfire(
    policy: str,
    slots: list[datetime],
    total: int,
    now: datetime,
    grace_s: float,
    jitter: float = 0.0,
) -> MisfirePlan:
    """Apply ``policy`` to the due ``slots`` (oldest first; ``total`` = all due, may be more).

    ``total - len(slots)`` older slots were not even listed; they count as skipped
    (``misfire_limit``) without being named.
    """
    now = _as_utc(now)
    delay = timedelta(seconds=jitter)
    late = [s for s in slots if (now - (s + delay)).total_seconds() > grace_s]
    on_time = [s for s in slots if s not in late]
    unlisted = total - len(slots)
    plan = MisfirePlan(late=len(late) + unlisted, unlisted=unlisted)
    if not slots:
        return plan
    if not late and not unlisted:
        plan.fire = on_time
        return plan
    if policy == "skip":
        plan.fire = on_time
        plan.skipped = [(s, "misfire_skip") for s in late]
    elif policy == "catch_up":
        plan.fire = slots[-CATCH_UP_LIMIT:]
        plan.skipped = [(s, "misfire_limit") for s in slots[:-CATCH_UP_LIMIT]]
    else:  # run_once
        plan.fire = [slots[-1]]
        plan.skipped = [(s, "misfire_coalesced") for s in slots[:-1]]
    return plan


def jitter_offset(deployment_id: str, jitter_s: int | float | None) -> float:
    """Deterministic delay in ``[0, jitter_s)`` seconds: hash of the id mod jitter."""
    if not jitter_s or jitter_s <= 0:
        return 0.0
    digest = int(hashlib.sha256(str(deployment_id).encode()).hexdigest()[:12], 16)
    return float(digest % int(jitter_s)) if jitter_s >= 1 else 0.0


def slot_key(deployment_id: str, slot: datetime) -> str:
    """The idempotency key of a (deployment, slot): ``<id>:<slot ISO UTC>``."""
    return f"{deployment_id}:{slot_iso(slot)}"


def slot_iso(slot: datetime) -> str:
    return _as_utc(slot).isoformat(timespec="seconds").replace("+00:00", "Z")
