"""Kill what a bad night in production kills, with work in flight, and check that
nothing is lost (``shared.testing.faults.assert_nothing_lost``) and that the
platform recovers by itself. Each scenario prints its recovery time; the run ends
with a table of them.

One platform for the whole module (started by the launcher, as ``make run``
starts it) on a private RabbitMQ node; scenarios run in file order and each
starts by waiting until the platform is healthy again.
"""

from __future__ import annotations

import signal
import time

import pytest

from shared.testing.faults import FINAL, assert_nothing_lost, csv_rows, record_recovery

pytestmark = pytest.mark.faults

#: Rows scored one by one (batch_size 1): a run of several seconds on this machine.
SLOW_ROWS = 3000


def slow_input(iris, rows: int = SLOW_ROWS) -> bytes:
    X = iris[0]
    return csv_rows(X.sample(n=rows, replace=True, random_state=3).reset_index(drop=True))


def fast_input(iris) -> bytes:
    return csv_rows(iris[0].head(20))


SLOW = {"batch_size": 1}


def wait_running(platform, ids, timeout=60):
    for eid in ids:
        platform.wait_status(eid, {"running"} | FINAL, timeout)


def test_runner_killed_mid_run_and_with_runs_queued(platform, iris, model_id):
    platform.wait_healthy()
    slow = [platform.submit(model_id, slow_input(iris), SLOW).json()["id"] for _ in range(2)]
    queued = [platform.submit(model_id, fast_input(iris)).json()["id"] for _ in range(3)]
    wait_running(platform, slow)
    time.sleep(1.0)  # scoring, not loading
    restarts = platform.restarts("runner")
    killed_at = time.monotonic()
    platform.kill("runner")
    # The interrupted runs are taken over (attempt 2) once their lease has expired.
    for eid in slow:
        execution = platform.wait_status(eid, {"running", *FINAL}, timeout=90)
        while execution["status"] == "running" and execution["attempt"] < 2:
            time.sleep(0.2)
            execution = platform.execution(eid)
    record_recovery("runner killed mid-run", time.monotonic() - killed_at,
                    "SIGKILL of the runner → interrupted runs running again (attempt 2)")
    done = platform.wait_final(slow + queued, timeout=180)
    assert all(e["status"] == "succeeded" for e in done.values()), done
    assert {done[eid]["attempt"] for eid in slow} == {2}
    assert platform.restarts("runner") == restarts + 1
    processes = platform.health()["processes"]
    assert processes["runner"]["last_restart_reason"] == "killed by SIGKILL (signal 9)"
    assert_nothing_lost(platform)
