"""A service that dies under `make run` is reported, not ignored: the launcher prints
which one with the end of its log, stops the others and exits non-zero."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

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


def test_a_crashed_service_stops_the_launcher_with_its_log_tail(request, rabbit_manager,
                                                                 tmp_path):
    with fresh_vhost(request, rabbit_manager) as amqp_uri:
        stack = start_stack(tmp_path, amqp_uri)
        try:
            os.kill(_pid_of("services.scheduler.service", tmp_path), signal.SIGKILL)
            stack.process.wait(60)
            assert stack.process.returncode == 1
            output = stack.output()
            assert "scheduler exited with code -9" in output
            assert f"last lines of {tmp_path}/log/scheduler.log" in output
            assert "stopping the database" in output
            time.sleep(0.5)
            with pytest.raises(AssertionError):
                _pid_of("services.registry.service", tmp_path)
        finally:
            stop_stack(stack)
