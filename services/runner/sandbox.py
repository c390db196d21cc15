"""Child processes of the runner, seen from the service's green threads.

* ``ChildRun``: one batch execution, in a child forked from the runner's warm
  zygote (``services.runner.zygote``; ``services.runner.forked``) or, when the
  zygote is off or not up, a cold ``python -m services.runner.worker run``.
  Its stdout JSON lines are read by a green thread and handed to a callback
  as they come; ``terminate()`` sends SIGTERM to the child's process group,
  waits a grace period, then SIGKILL.
* ``child_env``: the environment of every runner child (``predictors.py`` too).

The hub never runs model code: it only reads pipes and sleeps.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

import eventlet
from eventlet.green import subprocess

from services.runner.forked import ForkedProcess
from shared.config import ROOT
from shared.modelfile.forkserver import Forkserver, ForkserverUnavailable

log = logging.getLogger(__name__)

#: stderr lines of a Python traceback (they name the platform's files).
_TRACEBACK_LINE = re.compile(r'^(Traceback \(most recent call last\):|\s+File "|\s{4}\S)')


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    # glibc reserves 64 MB of address space per thread arena: with RLIMIT_AS that
    # would eat the memory limit before the model does.
    env.setdefault("MALLOC_ARENA_MAX", "2")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_env() -> dict[str, str]:
    """The environment of a run's child, cold or forked (the runner's zygote gets it).
    Arrow's allocator (mimalloc) reserves 1 GiB of address space on the first
    DataFrame; under the run's RLIMIT_AS that reservation would count against
    ``memory_mb``: a 64 MiB one is plenty and grows as needed."""
    return {**child_env(), "MIMALLOC_ARENA_RESERVE": "64MiB"}


class ChildRun:
    """A ``worker run`` child process and the green threads reading its output."""

    def __init__(self, spec_path: str, on_line: Callable[[dict[str, Any]], None],
                 zygote: Forkserver | None = None, memory_mb: int = 0):
        self.on_line = on_line
        self.spec_path = spec_path
        self.events: list[dict[str, Any]] = []
        self.started = time.monotonic()
        self.process: ForkedProcess | subprocess.Popen | None = None
        if zygote is not None:
            try:
                self.process = ForkedProcess(zygote, spec_path, memory_mb)
            except ForkserverUnavailable as exc:  # starting, gone, or a small memory limit
                log.info("run child started cold: %s", exc)
        if self.process is None:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.runner.worker", "run", spec_path],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                cwd=str(ROOT), env=run_env(), start_new_session=True,
            )
        self.forked = isinstance(self.process, ForkedProcess)
        self._readers = [eventlet.spawn(self._read_stdout), eventlet.spawn(self._read_stderr)]

    def _read_stdout(self) -> None:
        for raw in self.process.stdout:
            line = raw.decode("utf-8", "replace").strip()
            if not line:
                continue
            try:
                payload = json.loads(line)
            except ValueError:
                payload = {"level": "INFO", "message": line}
            if not isinstance(payload, dict):
                payload = {"level": "INFO", "message": line}
            if "event" in payload:
                self.events.append(payload)
            else:
                self._emit(payload.get("level", "INFO"), str(payload.get("message", "")))

    def _read_stderr(self) -> None:
        from services.runner.redact import scrub

        hidden = (os.path.dirname(os.path.abspath(self.spec_path)),)
        for raw in self.process.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            if not line:
                continue
            if _TRACEBACK_LINE.match(line):  # a platform traceback: operators only
                log.warning("model process %s stderr: %s", self.process.pid, line)
                continue
            self._emit("WARNING", f"stderr: {scrub(line, hidden)}")

    def _emit(self, level: str, message: str) -> None:
        try:
            self.on_line({"level": level, "message": message})
        except Exception:  # a log write failing must not stop reading the pipe
            log.exception("could not record a log line")

    def poll(self) -> int | None:
        return self.process.poll()

    def ended_within(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the child to end; True as soon as it has."""
        try:
            return self.process.wait(timeout=timeout_s) is not None
        except Exception as exc:
            # Under eventlet the green Popen raises the *original* module's
            # TimeoutExpired, a different class from the patched module's.
            if type(exc).__name__ != "TimeoutExpired":
                raise
            return False

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def terminate(self, grace_s: float) -> None:
        """SIGTERM the child's process group, SIGKILL after ``grace_s``."""
        if self.process.poll() is not None:
            return
        self._signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while self.process.poll() is None and time.monotonic() < deadline:
            eventlet.sleep(0.05)
        if self.process.poll() is None:
            self._signal(signal.SIGKILL)

    def _signal(self, sig: int) -> None:
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            pass

    def wait(self) -> int:
        code = self.process.wait()
        for reader in self._readers:
            reader.wait()
        return code

    def final_event(self) -> dict[str, Any] | None:
        return self.events[-1] if self.events else None
