"""A service that dies under `make run` is restarted, not ignored and not fatal: the
launcher says why (signal, log tail), starts it again after a back-off, shows it in
GET /api/v1/health, and stops the platform (non-zero, with the log tail) only when
the service keeps crashing (RESTART_MAX_CRASHES within RESTART_WINDOW_S)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import requests

from shared.testing.stack import fresh_vhost, start_stack, stop_stack

pytestmark = pytest.mark.e2e


def _pid_of(module: str, var_dir: Path) -> int:
    """The pid of the child running ``module`` for the stack whose VAR_DIR is var_dir."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if module.encode() in cmdline and f"VAR_DIR={var_dir}".encode() in environ:
            return int(proc.name)
    raise AssertionError(f"no process runs {module}")


def _wait_restarted(stack, name: str, restarts: int, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        try:
            body = requests.get(stack.api("/health"), timeout=10).json()
        except requests.RequestException as exc:  # the gateway itself is restarting
            body = {"error": str(exc)}
        entry = (body.get("processes") or {}).get(name) or {}
        if entry.get("restarts") == restarts and entry.get("status") == "up":
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.3)


def test_a_crashed_service_is_restarted_and_one_that_keeps_crashing_stops_the_platform(
        request, rabbit_manager, tmp_path):
    settings = {"RESTART_BACKOFF_S": "0.5", "RESTART_BACKOFF_FACTOR": "2",
                "RESTART_BACKOFF_MAX_S": "2", "RESTART_MAX_CRASHES": "3",
                "RESTART_WINDOW_S": "120"}
    with fresh_vhost(request, rabbit_manager) as amqp_uri:
        stack = start_stack(tmp_path, amqp_uri, extra_env=settings)
        try:
            first = _pid_of("services.scheduler.service", tmp_path)
            os.kill(first, signal.SIGKILL)
            body = _wait_restarted(stack, "scheduler", 1)
            output = stack.output()
            assert "scheduler killed by SIGKILL (signal 9)" in output
            assert f"last lines of {tmp_path}/log/scheduler.log" in output
            assert "restarting scheduler" in output
            scheduler = body["processes"]["scheduler"]
            assert scheduler["last_restart_reason"] == "killed by SIGKILL (signal 9)"
            assert scheduler["last_restart_at"] and scheduler["last_crash_at"]
            assert body["services"]["scheduler"] == "ok"
            assert stack.process.poll() is None, "the platform must stay up"
            assert _pid_of("services.scheduler.service", tmp_path) != first
            # A crash of the gateway itself: it comes back and says so.
            os.killpg(_pid_of("services.gateway.wsgi:app", tmp_path), signal.SIGKILL)
            assert _wait_restarted(stack, "gateway", 1)["processes"]["gateway"]["restarts"] == 1
            # Two more crashes of the scheduler within the window: the launcher gives up.
            os.kill(_pid_of("services.scheduler.service", tmp_path), signal.SIGKILL)
            _wait_restarted(stack, "scheduler", 2)
            os.kill(_pid_of("services.scheduler.service", tmp_path), signal.SIGKILL)
            stack.process.wait(60)
            assert stack.process.returncode == 1
            output = stack.output()
            assert "scheduler crashed 3 times within 120 s" in output
            assert "stopping the database" in output
            time.sleep(0.5)
            with pytest.raises(AssertionError):
                _pid_of("services.registry.service", tmp_path)
            assert not (tmp_path / "run" / "services.json").exists()
        finally:
            stop_stack(stack)
