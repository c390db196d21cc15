"""Runs forked from the runner's warm zygote (``services.runner.zygote``): each run is
a fresh process of its own (never the zygote), in its own process group, under its own
memory limit, with its logs streamed, cancellable and timed out like a cold child; a
zygote killed mid-run fails that run (its child dies with it) and the next runs go on."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from services.runner.dependencies import Runtime
from shared.testing.runner import FEATURES, all_logs, slow_input, upload, wait_final

pytestmark = pytest.mark.service
pytest_plugins = ["shared.testing.runner"]

ROWS = [dict.fromkeys(FEATURES, 1.0)] * 20


@pytest.fixture
def zygote(runner):
    server = next(d for d in runner.dependencies if isinstance(d, Runtime)).zygote
    server.warm()
    assert server.pid is not None
    return server


def children_of(pid: int) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                stat = (proc / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(proc.name))
    return found


def running_child(zygote, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while not (pids := children_of(zygote.pid)):
        assert time.monotonic() < deadline, "no run child forked from the zygote"
        time.sleep(0.05)
    assert len(pids) == 1, pids
    return pids[0]


def alive(pid: int) -> bool:
    """Running (an orphan's zombie waiting for init to reap it counts as ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def address_space_limit(pid: int) -> str:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max address space"):
            return line.split()[3]
    raise AssertionError("no address-space limit line")


def test_a_forked_run_is_a_fresh_process_with_its_own_limits_logs_and_cancel(
        zygote, cluster, make_model, store):
    model = make_model()
    slow = cluster.runner.create_execution({
        "model_id": model["id"], "input": {"artifact": upload(store, slow_input(), "csv")},
        "parameters": {"batch_size": 1}, "memory_mb": 1536})
    pid = running_child(zygote)
    assert pid != zygote.pid and os.getpgid(pid) == pid  # its own process group
    assert address_space_limit(pid) == str(1536 * 1024 * 1024)
    deadline = time.monotonic() + 30
    while not any("batch 1" in ln["message"] for ln in all_logs(cluster, slow["id"])):
        assert time.monotonic() < deadline, "the child's log lines do not stream"
        time.sleep(0.1)
    cluster.runner.cancel_execution(slow["id"])
    done = wait_final(cluster, slow["id"], timeout=15)
    assert done["status"] == "cancelled", done
    assert not children_of(zygote.pid)  # SIGTERM ended it; the zygote reaped it

    small = cluster.runner.create_execution({"model_id": model["id"],
                                             "input": {"rows": ROWS}})
    done = wait_final(cluster, small["id"])
    assert done["status"] == "succeeded" and done["result"]["rows"] == 20, done
    assert any("20 rows scored" in ln["message"] for ln in all_logs(cluster, small["id"]))


def test_a_limit_below_the_zygotes_size_runs_cold_and_forked_runs_time_out(
        zygote, cluster, make_model, store):
    """A forked child starts with the zygote's address space: under a limit too close to
    it the run gets a cold child, whose limit means what it always meant."""
    model = make_model()
    assert zygote.address_space_mb > 300
    starved = cluster.runner.create_execution({"model_id": model["id"],
                                               "input": {"rows": ROWS}, "memory_mb": 300})
    done = wait_final(cluster, starved["id"])
    assert done["status"] == "failed", done
    assert done["error"].startswith("memory limit of 300 MB exceeded (memory_mb)"), done
    assert not children_of(zygote.pid)
    slow = cluster.runner.create_execution({
        "model_id": model["id"], "input": {"artifact": upload(store, slow_input(), "csv")},
        "parameters": {"batch_size": 1}, "timeout_s": 2})
    running_child(zygote)
    done = wait_final(cluster, slow["id"], timeout=30)
    assert done["status"] == "timed_out", done
    assert not children_of(zygote.pid)


def test_a_zygote_killed_mid_run_fails_that_run_and_the_next_runs_go_on(
        zygote, cluster, make_model, store):
    model = make_model()
    slow = cluster.runner.create_execution({
        "model_id": model["id"], "input": {"artifact": upload(store, slow_input(), "csv")},
        "parameters": {"batch_size": 1}})
    child = running_child(zygote)
    old = zygote.pid
    os.kill(old, signal.SIGKILL)
    done = wait_final(cluster, slow["id"], timeout=30)
    assert done["status"] == "failed" and "killed by SIGKILL" in done["error"], done
    assert not alive(child)  # the run's child died with its zygote
    for _ in range(2):  # a cold child while a new zygote imports, then forked again
        again = cluster.runner.create_execution({"model_id": model["id"],
                                                 "input": {"rows": ROWS}})
        assert wait_final(cluster, again["id"])["status"] == "succeeded"
        zygote.warm()
    assert zygote.pid not in (None, old)
