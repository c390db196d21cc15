"""The launcher's supervision: restart a crashed service with a growing back-off.

``make run`` keeps the platform up the way a process manager (or Kubernetes'
``restartPolicy: Always``) does: a service that dies is started again after
``RESTART_BACKOFF_S`` seconds, the wait growing by ``RESTART_BACKOFF_FACTOR`` with
each crash still inside the window, up to ``RESTART_BACKOFF_MAX_S``. Only a service
that crashed ``RESTART_MAX_CRASHES`` times within ``RESTART_WINDOW_S`` seconds makes
the launcher give up and stop the platform (with the log tail, as before).

What the supervisor knows is written to ``$VAR_DIR/run/services.json`` (atomically,
on every change) so the gateway's ``GET /api/v1/health`` can show, per service,
whether it is up, how often it was restarted, and when and why last.

Pure bookkeeping: the launcher owns the processes and asks this module what to do.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.config import setting

STATE_FILE = Path("run") / "services.json"

UP, STARTING, RESTARTING, DOWN = "up", "starting", "restarting", "down"


def state_path(var_dir: str | os.PathLike | None = None) -> Path:
    """Where the launcher writes the supervision state (under ``VAR_DIR``)."""
    return Path(var_dir or setting("VAR_DIR")) / STATE_FILE


def describe_exit(returncode: int | None) -> str:
    """``exited with code 3`` / ``killed by SIGKILL (signal 9)``."""
    if returncode is None:
        return "is not running"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"killed by {name} (signal {-returncode})"
    return f"exited with code {returncode}"


@dataclass(frozen=True)
class RestartPolicy:
    """How long to wait before a restart, and when to give up."""

    initial_s: float = 1.0
    factor: float = 2.0
    max_s: float = 30.0
    max_crashes: int = 5
    window_s: float = 300.0

    @classmethod
    def from_settings(cls) -> RestartPolicy:
        return cls(
            initial_s=float(setting("RESTART_BACKOFF_S")),
            factor=float(setting("RESTART_BACKOFF_FACTOR")),
            max_s=float(setting("RESTART_BACKOFF_MAX_S")),
            max_crashes=int(setting("RESTART_MAX_CRASHES")),
            window_s=float(setting("RESTART_WINDOW_S")),
        )

    def delay(self, crashes_in_window: int) -> float:
        """The wait before the restart that follows the n-th crash in the window."""
        n = max(crashes_in_window, 1)
        return min(self.max_s, self.initial_s * self.factor ** (n - 1))


class GiveUp(Exception):
    """A service keeps crashing: the message says which and how often."""


def _iso(wall: float | None) -> str | None:
    if wall is None:
        return None
    return datetime.fromtimestamp(wall, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class ServiceRecord:
    """What the supervisor remembers of one service."""

    name: str
    status: str = STARTING
    pid: int | None = None
    restarts: int = 0
    crashes: deque = field(default_factory=deque)  # monotonic times, inside the window
    last_exit: str | None = None
    last_exit_at: float | None = None  # wall clock
    last_restart_at: float | None = None  # wall clock
    restart_due: float | None = None  # monotonic

    def public(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "pid": self.pid,
            "restarts": self.restarts,
            "last_restart_reason": self.last_exit,
            "last_crash_at": _iso(self.last_exit_at),
            "last_restart_at": _iso(self.last_restart_at),
            "next_restart_in_s": None,
        }


class Supervisor:
    """Crash bookkeeping and the state file; ``clock``/``wall`` are injectable for tests."""

    def __init__(self, policy: RestartPolicy, path: Path, clock=time.monotonic,
                 wall=time.time):
        self.policy = policy
        self.path = path
        self.clock = clock
        self.wall = wall
        self.records: dict[str, ServiceRecord] = {}

    def record(self, name: str) -> ServiceRecord:
        if name not in self.records:
            self.records[name] = ServiceRecord(name)
        return self.records[name]

    def started(self, name: str, pid: int | None) -> None:
        """A (re)started process; it is ``starting`` until ``healthy`` says otherwise."""
        rec = self.record(name)
        rec.pid, rec.status, rec.restart_due = pid, STARTING, None
        self.save()

    def healthy(self, name: str) -> None:
        rec = self.record(name)
        if rec.status != UP:
            rec.status = UP
            self.save()

    def crashed(self, name: str, reason: str) -> float:
        """Record a crash; returns the back-off before the restart, or raises GiveUp."""
        rec = self.record(name)
        now = self.clock()
        rec.crashes.append(now)
        while rec.crashes and now - rec.crashes[0] > self.policy.window_s:
            rec.crashes.popleft()
        rec.status, rec.pid = DOWN, None
        rec.last_exit, rec.last_exit_at = reason, self.wall()
        if len(rec.crashes) >= self.policy.max_crashes:
            self.save()
            raise GiveUp(f"{name} crashed {len(rec.crashes)} times within "
                         f"{self.policy.window_s:g} s (RESTART_MAX_CRASHES="
                         f"{self.policy.max_crashes}, RESTART_WINDOW_S="
                         f"{self.policy.window_s:g}): giving up")
        delay = self.policy.delay(len(rec.crashes))
        rec.status, rec.restart_due = RESTARTING, now + delay
        self.save()
        return delay

    def due(self, name: str) -> bool:
        """True once the back-off of a crashed service has passed."""
        rec = self.records.get(name)
        return rec is not None and rec.restart_due is not None and self.clock() >= rec.restart_due

    def waiting(self, name: str) -> bool:
        rec = self.records.get(name)
        return rec is not None and rec.restart_due is not None

    def restarted(self, name: str, pid: int | None) -> None:
        rec = self.record(name)
        rec.restarts += 1
        rec.last_restart_at = self.wall()
        self.started(name, pid)

    def snapshot(self) -> dict[str, Any]:
        now = self.clock()
        services = {}
        for name, rec in self.records.items():
            entry = rec.public()
            if rec.restart_due is not None:
                entry["next_restart_in_s"] = round(max(0.0, rec.restart_due - now), 1)
            services[name] = entry
        return {"launcher_pid": os.getpid(), "updated_at": _iso(self.wall()),
                "services": services}

    def save(self) -> None:
        """Write the state file atomically (readers never see half a file)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text(json.dumps(self.snapshot(), indent=1))
            os.replace(tmp, self.path)
        except OSError:
            pass  # health loses detail; supervision goes on

    def remove(self) -> None:
        """The platform stopped: no state file claims services are up."""
        try:
            self.path.unlink()
        except OSError:
            pass


#: What ``GET /api/v1/health`` shows of each supervised process.
PUBLIC_FIELDS = ("status", "restarts", "last_restart_reason", "last_crash_at",
                 "last_restart_at", "next_restart_in_s")


def read_state(path: Path) -> dict[str, Any] | None:
    """The state file, or None when absent, unreadable, or its launcher is gone."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("services"), dict):
        return None
    pid = data.get("launcher_pid")
    if isinstance(pid, int):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
    return data
