"""The maintenance window as the gateway and the services see it (shared/maintenance.py):
a backup's window holds writes without pausing anything, a restore's pauses the
scheduler and the runners, ``maintenance_ended`` closes it, and a window whose end was
never heard of closes by itself at its ``until``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.maintenance import MaintenanceView

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def test_a_backup_window_holds_writes_but_pauses_nothing():
    view = MaintenanceView()
    view.apply({"id": "backup:1", "kind": "backup", "until": _iso(NOW + timedelta(seconds=60)),
                "pause": False})
    assert view.active(NOW) and not view.paused(NOW)
    assert 1 <= view.retry_after(NOW) <= 5
    view.apply({"id": "backup:1", "ended": True})
    assert not view.active(NOW) and view.retry_after(NOW) == 0


def test_a_restore_window_pauses_until_it_ends():
    view = MaintenanceView()
    view.apply({"id": "restore:1", "kind": "restore", "until": _iso(NOW + timedelta(hours=1)),
                "pause": True})
    assert view.paused(NOW) and view.active(NOW)
    assert view.retry_after(NOW) == 5  # short: clients come back soon, not in an hour


def test_a_window_whose_end_was_lost_closes_by_itself():
    view = MaintenanceView()
    view.apply({"id": "restore:2", "until": _iso(NOW + timedelta(seconds=30)), "pause": True})
    assert view.paused(NOW + timedelta(seconds=29))
    assert not view.paused(NOW + timedelta(seconds=31))
    assert not view.active(NOW + timedelta(seconds=31))


def test_the_admin_answer_on_reconnect_and_bad_payloads():
    view = MaintenanceView()
    view.apply({"windows": [{"id": "backup:3", "until": _iso(NOW + timedelta(seconds=10)),
                             "pause": False}]})
    assert view.active(NOW)
    for bad in (None, [], {"until": _iso(NOW)}, {"id": "x", "until": "not a date"}):
        view.apply(bad)  # ignored, never raised
    assert view.active(NOW) and not view.paused(NOW)
