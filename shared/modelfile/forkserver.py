"""The service's side of the inspector zygote (``shared.modelfile.zygote``).

One zygote per service process, started on first use with the sandbox's minimal
environment, restarted when it died. :meth:`Forkserver.run` hands it one job and
waits for its child to end, killing the child's process group at the timeout.
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
    def __init__(self, env: dict[str, str]):
        self.env = env
        self._process: subprocess.Popen | None = None
        self._waiting: dict[str, queue.Queue] = {}
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._ids = itertools.count(1)

    # -- the zygote process --------------------------------------------------------

    def _start(self) -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, "-m", "shared.modelfile.zygote"],
            cwd=str(ROOT), env=self.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=None, start_new_session=True, close_fds=True,
        )
        self._ready = threading.Event()
        threading.Thread(target=self._read, args=(process, self._ready), daemon=True,
                         name="modelfile-zygote").start()
        return process

    def _read(self, process: subprocess.Popen, ready: threading.Event) -> None:
        for line in process.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if message.get("ready"):
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
                raise ForkserverUnavailable("the inspector zygote is still starting")
            if not ready.wait(START_TIMEOUT_S) or process.poll() is not None:
                self._discard(process)
                raise ForkserverUnavailable("the inspector zygote did not start")
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

    def run(self, job: dict[str, Any], timeout_s: float) -> tuple[int, int | None]:
        """Fork one child for ``job``; ``(pid, exit code)``, exit ``None`` on timeout
        (its process group is killed). Raises :class:`ForkserverUnavailable`."""
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
                raise ForkserverUnavailable("the inspector zygote is gone") from exc
            try:
                started = self._next(answers, START_TIMEOUT_S)
            except _Late:
                raise ForkserverUnavailable("the inspector zygote does not answer") from None
            pid = started["pid"]
            if "exit" in started:
                return pid, started["exit"]
            try:
                return pid, self._next(answers, timeout_s)["exit"]
            except _Late:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                self._next(answers, 10.0)  # reaped by the zygote
                return pid, None
        except ForkserverUnavailable:
            self._discard(process)
            raise
        finally:
            self._waiting.pop(job_id, None)

    def _discard(self, process: subprocess.Popen | None) -> None:
        """Forget a zygote that failed a job: the next job starts a new one."""
        with self._lock:
            if process is not None and self._process is process:
                self._process = None
        if process is not None and process.poll() is None:
            process.kill()

    @staticmethod
    def _next(answers: queue.Queue, timeout_s: float) -> dict[str, Any]:
        try:
            message = answers.get(timeout=timeout_s)
        except queue.Empty:
            raise _Late() from None
        if message.get("gone"):
            raise ForkserverUnavailable("the inspector zygote died")
        return message


class _Late(Exception):
    """No answer within the time allowed."""
