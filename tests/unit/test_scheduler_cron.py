"""shared/cron.py: validation, time zones, DST (Europe/Paris), misfires, jitter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from shared import cron
from shared.errors import ValidationError

PARIS = ZoneInfo("Europe/Paris")


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local_times(expression, after, count, tz="Europe/Paris"):
    return [
        t.astimezone(ZoneInfo(tz)).strftime("%m-%d %H:%M%z")
        for t in cron.next_runs(expression, tz, after, count)
    ]


@pytest.mark.parametrize(
    "expression",
    ["* * * * *", "30 2 * * *", "*/15 8-18 * * mon-fri", "0 0 1 1 *", "  5  4 * * sun "],
)
def test_valid_cron(expression):
    assert cron.validate_cron(expression) == " ".join(expression.split())


@pytest.mark.parametrize(
    "expression, reason",
    [
        ("61 * * * *", "out of range"),
        ("* * * *", "exactly 5 fields"),
        ("0 0 * * * *", "exactly 5 fields"),  # seconds field: not a 5-field expression
        ("every day", "exactly 5 fields"),
        ("a b c d e", "invalid cron expression"),
        ("0 0 31 2 *", "invalid cron expression"),  # 31 February never happens
    ],
)
def test_invalid_cron_names_the_field_with_croniter_reason(expression, reason):
    with pytest.raises(ValidationError) as exc:
        cron.validate_cron(expression)
    assert list(exc.value.details) == ["schedule"]
    assert reason in exc.value.details["schedule"][0]
    assert exc.value.status == 400


def test_null_schedule_and_non_string():
    assert cron.validate_cron(None) is None
    with pytest.raises(ValidationError):
        cron.validate_cron(5)


def test_timezones():
    assert cron.validate_timezone(None) == "UTC"
    assert cron.validate_timezone("Europe/Paris") == "Europe/Paris"
    for bad in ("Paris", "Europe/Atlantis", "../../etc/passwd", "UTC+2", 3):
        with pytest.raises(ValidationError) as exc:
            cron.validate_timezone(bad)
        assert list(exc.value.details) == ["timezone"]


def test_autumn_0230_fires_once_at_first_occurrence():
    # 2026-10-25 in Paris: 03:00 CEST → 02:00 CET, 02:30 happens twice.
    runs = cron.next_runs("30 2 * * *", "Europe/Paris", utc(2026, 10, 24, 12), 3)
    assert runs == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30), utc(2026, 10, 27, 1, 30)]
    # asked from inside the repeated hour, the second 02:30 does not fire
    assert cron.next_run("30 2 * * *", "Europe/Paris", utc(2026, 10, 25, 0, 45)) == utc(
        2026, 10, 26, 1, 30
    )


def test_autumn_hourly_one_fire_per_wall_clock_slot():
    runs = cron.next_runs("0 * * * *", "Europe/Paris", utc(2026, 10, 24, 21, 30), 30)
    day = [t for t in runs if t.astimezone(PARIS).date().isoformat() == "2026-10-25"]
    walls = [t.astimezone(PARIS).strftime("%H:%M") for t in day]
    assert walls == [f"{h:02d}:00" for h in range(24)]  # 24 wall slots, 02:00 once
    assert len(set(runs)) == len(runs) and runs == sorted(runs)
    assert local_times("0 * * * *", utc(2026, 10, 24, 23, 30), 3) == [
        "10-25 02:00+0200",
        "10-25 03:00+0100",
        "10-25 04:00+0100",
    ]


def test_spring_0230_fires_once_at_first_instant_after_gap():
    # 2027-03-28 in Paris: 02:00 CET → 03:00 CEST, 02:30 does not exist.
    runs = cron.next_runs("30 2 * * *", "Europe/Paris", utc(2027, 3, 27, 12), 3)
    assert runs == [utc(2027, 3, 28, 1, 0), utc(2027, 3, 29, 0, 30), utc(2027, 3, 30, 0, 30)]
    assert local_times("30 2 * * *", utc(2027, 3, 27, 12), 1) == ["03-28 03:00+0200"]


def test_spring_hourly_gap_slot_merges_with_0300():
    assert local_times("0 * * * *", utc(2027, 3, 27, 23, 30), 4) == [
        "03-28 01:00+0100",
        "03-28 03:00+0200",
        "03-28 04:00+0200",
        "03-28 05:00+0200",
    ]
    runs = cron.next_runs("0 * * * *", "Europe/Paris", utc(2027, 3, 27, 22, 30), 30)
    day = [t for t in runs if t.astimezone(PARIS).date().isoformat() == "2027-03-28"]
    assert len(day) == 23  # 02:00 does not exist: one fire at 03:00 for 02:00 and 03:00


def test_spring_many_gap_slots_fire_once_together():
    assert local_times("*/20 2 * * *", utc(2027, 3, 27, 12), 2) == [
        "03-28 03:00+0200",
        "03-29 02:00+0200",
    ]


def test_preview_keeps_utc_and_local():
    out = cron.preview("30 2 * * *", "Europe/Paris", utc(2026, 10, 24, 12), 2)
    assert out == {
        "timezone": "Europe/Paris",
        "schedule": "30 2 * * *",
        "next_runs": [
            {"utc": "2026-10-25T00:30:00Z", "local": "2026-10-25T02:30:00+02:00"},
            {"utc": "2026-10-26T01:30:00Z", "local": "2026-10-26T02:30:00+01:00"},
        ],
    }
    assert cron.preview(None, "UTC", utc(2026, 1, 1), 5)["next_runs"] == []
    assert len(cron.preview("* * * * *", "UTC", utc(2026, 1, 1), 100)["next_runs"]) == 100


def test_due_slots_and_misfire_policies():
    first = utc(2026, 11, 26, 10, 0)
    now = utc(2026, 11, 26, 10, 3, 20)
    slots, total = cron.due_slots("* * * * *", "UTC", first, now)
    assert slots == [first + timedelta(minutes=i) for i in range(4)] and total == 4

    once = cron.plan_misfire("run_once", slots, total, now, grace_s=30)
    assert once.fire == [slots[-1]] and once.late == 3
    assert once.skipped == [(s, "misfire_coalesced") for s in slots[:3]]
    skip = cron.plan_misfire("skip", slots, total, now, grace_s=30)
    assert skip.fire == [slots[-1]]  # 20 s late: within grace, fires
    assert skip.skipped == [(s, "misfire_skip") for s in slots[:3]]
    catch = cron.plan_misfire("catch_up", slots, total, now, grace_s=30)
    assert catch.fire == slots and catch.skipped == []

    on_time = cron.plan_misfire("skip", slots[-1:], 1, now, grace_s=30)
    assert on_time.fire == slots[-1:] and on_time.skipped == [] and on_time.late == 0


def test_catch_up_is_capped_at_100():
    first = utc(2026, 11, 26, 0, 0)
    now = first + timedelta(minutes=150, seconds=40)
    slots, total = cron.due_slots("* * * * *", "UTC", first, now)
    assert total == 151 and len(slots) == 101
    plan = cron.plan_misfire("catch_up", slots, total, now, grace_s=30)
    assert len(plan.fire) == 100 and plan.fire[-1] == first + timedelta(minutes=150)
    assert len(plan.skipped) + plan.unlisted == 51


def test_due_slots_respect_jitter():
    first = utc(2026, 11, 26, 10, 0)
    assert cron.due_slots("* * * * *", "UTC", first, first + timedelta(seconds=5), 10) == ([], 0)
    assert cron.due_slots("* * * * *", "UTC", first, first + timedelta(seconds=11), 10)[1] == 1


def test_jitter_is_deterministic_and_bounded():
    offsets = {cron.jitter_offset(f"dep{i}", 60) for i in range(200)}
    assert all(0 <= o < 60 for o in offsets) and len(offsets) > 30
    assert cron.jitter_offset("dep1", 60) == cron.jitter_offset("dep1", 60)
    assert cron.jitter_offset("dep1", 0) == 0.0 and cron.jitter_offset("dep1", None) == 0.0


def test_slot_key():
    assert cron.slot_key("abc", utc(2026, 1, 2, 3, 4)) == "abc:2026-01-02T03:04:00Z"
