"""The service's side of a zygote (``shared.modelfile.zygote``'s protocol).

One zygote per service process and kind (``module``: the inspector's by default,
the runner's ``services.runner.zygote``), started on first use with the
environment it is given, restarted when it died. :meth:`Forkserver.start` hands
it one job and returns the forked child (:class:`Forked`: its pid, then its exit
code); :meth:`Forkserver.run` also waits for the child to end, killing its
process group at the timeout.
Works on the eventlet hub (nameko) as in plain threads: the pipes, the reader
thread and the queues are the green ones once eventlet has patched them.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from typing import Any

from shared.config import ROOT

#: How long the zygote may take to import its libraries (a loaded CI machine).
START_TIMEOUT_S = 120.0


class ForkserverUnavailable(Exception):
    """The zygote could not start or died: the caller runs a cold child instead."""


class Forkserver:
    def __init__(self, env: dict[str, str], module: str = "shared.modelfile.zygote",
                 name: str = "inspector"):
        self.env = env
        self.module = module
        self.name = name
        self._process: subprocess.Popen | None = None
        self._waiting: dict[str, queue.Queue] = {}
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._ids = itertools.count(1)
        #: The zygote's address space once it is ready (a child starts with as much).
        self.address_space_mb: float | None = None

    # -- the zygote process --------------------------------------------------------

    def _start(self) -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, "-m", self.module],
            cwd=str(ROOT), env=self.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=None, start_new_session=True, close_fds=True,
        )
        self._ready = threading.Event()
        threading.Thread(target=self._read, args=(process, self._ready), daemon=True,
                         name=f"{self.name}-zygote").start()
        return process

    def _read(self, process: subprocess.Popen, ready: threading.Event) -> None:
        for line in process.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if message.get("ready"):
                self.address_space_mb = message.get("address_space_mb")
                ready.set()
                continue
            waiting = self._waiting.get(message.get("job"))
            if waiting is not None:
                waiting.put(message)
        for waiting in list(self._waiting.values()):
            waiting.put({"gone": True})

    def _running(self, wait: bool) -> subprocess.Popen:
        """The zygote, started if needed. While it imports its libraries, a job does not
        wait for it (``wait=False``: ForkserverUnavailable, the caller runs a cold
        child, as fast as the zygote would be then)."""
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                self._process = self._start()
            process, ready = self._process, self._ready
        if not ready.is_set():
            if not wait:
                raise ForkserverUnavailable(f"the {self.name} zygote is still starting")
            if not ready.wait(START_TIMEOUT_S) or process.poll() is not None:
                self._discard(process)
                raise ForkserverUnavailable(f"the {self.name} zygote did not start")
        return process

    def warm(self) -> None:
        """Start the zygote now (a service's start), so the first upload does not wait."""
        try:
            self._running(wait=True)
        except ForkserverUnavailable:
            pass  # the first inspection tries again, then runs cold

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def close(self) -> None:
        with self._lock:
            process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.stdin.close()  # end of stdin: the zygote kills its children and ends
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()

    # -- jobs ----------------------------------------------------------------------

    def start(self, job: dict[str, Any]) -> Forked:
        """Fork one child for ``job``; returns once it runs. Raises
        :class:`ForkserverUnavailable` (the zygote is starting, gone, or could not
        start the job)."""
        job_id = str(next(self._ids))
        answers: queue.Queue = queue.Queue()
        self._waiting[job_id] = answers
        process = None
        try:
            process = self._running(wait=False)
            try:
                with self._lock:
                    process.stdin.write((json.dumps({**job, "job": job_id}) + "\n").encode())
                    process.stdin.flush()
            except (BrokenPipeError, OSError, ValueError) as exc:
                raise ForkserverUnavailable(f"the {self.name} zygote is gone") from exc
            try:
                started = _next(answers, START_TIMEOUT_S)
            except _Late:
                raise ForkserverUnavailable(f"the {self.name} zygote does not answer") from None
        except ForkserverUnavailable:
            self._waiting.pop(job_id, None)
            self._discard(process)
            raise
        if started.get("pid") is None:  # e.g. its output pipes could not be opened
            self._waiting.pop(job_id, None)
            raise ForkserverUnavailable(f"the {self.name} zygote could not start the job: "
                                        f"{started.get('error')}")
        return Forked(self, process, job_id, started["pid"], answers)

    def run(self, job: dict[str, Any], timeout_s: float) -> tuple[int, int | None]:
        """Fork one child for ``job``; ``(pid, exit code)``, exit ``None`` on timeout
        (its process group is killed). Raises :class:`ForkserverUnavailable`."""
        child = self.start(job)
        try:
            code = child.wait(timeout_s)
            if code is None:
                child.kill()
                child.wait(10.0)  # reaped by the zygote
            return child.pid, code
        except ForkserverUnavailable:
            self._discard(child.zygote)
            raise
        finally:
            child.forget()

    def _discard(self, process: subprocess.Popen | None) -> None:
        """Forget a zygote that failed a job: the next job starts a new one."""
        with self._lock:
            if process is not None and self._process is process:
                self._process = None
        if process is not None and process.poll() is None:
            process.kill()

    def _forget(self, job_id: str) -> None:
        self._waiting.pop(job_id, None)


class Forked:
    """A child forked by the zygote: its pid (its own process group), then its exit
    code (< 0: killed by that signal) once the zygote reaped it."""

    def __init__(self, server: Forkserver, zygote: subprocess.Popen, job_id: str, pid: int,
                 answers: queue.Queue):
        self.pid = pid
        self.zygote = zygote
        self.returncode: int | None = None
        self._server = server
        self._job_id = job_id
        self._answers = answers

    def wait(self, timeout_s: float | None = None) -> int | None:
        """The exit code, or None if the child still runs after ``timeout_s``.
        Raises :class:`ForkserverUnavailable` when the zygote died meanwhile."""
        if self.returncode is None:
            try:
                self.returncode = _next(self._answers, timeout_s)["exit"]
            except _Late:
                return None
            self.forget()
        return self.returncode

    def poll(self) -> int | None:
        return self.wait(0) if self.returncode is None else self.returncode

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the child's process group (it and whatever it started)."""
        if self.returncode is not None:
            return
        for kill in (os.killpg, os.kill):  # os.kill: a child not yet in its own group
            try:
                kill(self.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass

    def forget(self) -> None:
        self._server._forget(self._job_id)


def _next(answers: queue.Queue, timeout_s: float | None) -> dict[str, Any]:
    try:
        message = answers.get(timeout=timeout_s) if timeout_s != 0 else answers.get_nowait()
    except queue.Empty:
        raise _Late() from None
    if message.get("gone"):
        raise ForkserverUnavailable("the zygote died")
    return message


class _Late(Exception):
    """No answer within the time allowed."""
