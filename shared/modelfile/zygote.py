"""``python -m shared.modelfile.zygote``: a warm parent for the inspector children.

A cold inspector child spends ~1.3 s importing scikit-learn before it reads a
byte of the file. The zygote imports the libraries once, then forks one fresh
child per inspection: the child puts itself in its own session, sets its memory
limit, inspects ONE file with :func:`shared.modelfile.inspect.run` and exits. The
zygote itself never opens a model file, so no process ever holds two users'
models, and every file still gets a process of its own with its own limits.

Protocol (one JSON object per line). On stdin, a job::

    {"job": "<id>", "path": "...", "result": "...", "workdir": "...",
     "memory_mb": 2048, "max_inflated_mb": 0, "max_ratio": 0}

On stdout: ``{"ready": true, "address_space_mb"}`` once the libraries are imported
(the zygote's address space, which each child starts with), then per job
``{"job", "pid"}`` when its child is forked and ``{"job", "pid", "exit"}`` when
it ended (``exit`` < 0: killed by that signal; a job that could not be started
gets ``{"job", "pid": null, "exit": null, "error"}``). The child writes its
answer to the job's ``result`` file (created, never overwritten). End of stdin
(the service stopped or died) kills the children still running and ends the
zygote.

The loop (:func:`serve`) is shared with the runner's zygote
(``services.runner.zygote``), whose jobs may name two FIFOs, ``stdout`` and
``stderr``: the zygote opens them for writing before the fork (the service holds
their read ends open), so the child's output streams to the service from its
first line and the service sees their end when the child and all it started end.
"""

from __future__ import annotations

import importlib
import json
import os
import select
import signal
import sys
from collections.abc import Callable
from typing import Any

#: What the inspection of a typical model file imports (a missing optional library
#: costs speed in the child, never correctness).
PRELOAD = (
    "numpy", "scipy.sparse", "joblib", "sklearn", "sklearn.base", "sklearn.linear_model",
    "sklearn.ensemble", "sklearn.tree", "sklearn.svm", "sklearn.neighbors",
    "sklearn.naive_bayes", "sklearn.pipeline", "sklearn.preprocessing", "sklearn.compose",
    "sklearn.cluster", "sklearn.decomposition", "sklearn.impute", "skops.io", "onnx",
    "onnxruntime", "shared.modelfile.loader", "shared.modelfile.inspect",
)


def preload(names: tuple[str, ...] = PRELOAD) -> None:
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - an optional library
            pass


def address_space_mb() -> float:
    """This process's address space (what a forked child starts with, under RLIMIT_AS)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) / 1024
    return 0.0


def send(message: dict[str, Any]) -> None:
    data = (json.dumps(message) + "\n").encode()
    while data:
        data = data[os.write(1, data):]


def child(job: dict[str, Any]) -> None:
    """In the forked child: isolate, inspect one file, write the answer, exit."""
    code = 1
    try:
        os.setsid()  # its own process group: a timeout kills it and all it started
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(2, 1)  # what the model code prints never reaches the protocol
        os.environ["HOME"] = os.environ["TMPDIR"] = job["workdir"]
        from shared.modelfile import inspect

        result = inspect.run(job["path"], int(job.get("memory_mb") or 0),
                             float(job.get("max_inflated_mb") or 0),
                             float(job.get("max_ratio") or 0))
        data = inspect.answer(result).encode()
        fd = os.open(job["result"], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        code = 0
    finally:
        os._exit(code)


def reap(jobs: dict[int, str]) -> None:
    while jobs:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        job = jobs.pop(pid, None)
        if job is not None:
            send({"job": job, "pid": pid, "exit": os.waitstatus_to_exitcode(status)})


def _open_outputs(job: dict[str, Any]) -> list[tuple[int, int]]:
    """``(fd, target)``: the job's FIFOs opened for writing, to become the child's
    stdout (1) and stderr (2). Opened non-blocking (the reader is there, or this
    fails at once instead of hanging the zygote), then blocking for the child."""
    opened = []
    try:
        for key, target in (("stdout", 1), ("stderr", 2)):
            if job.get(key):
                fd = os.open(job[key], os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
                os.set_blocking(fd, True)
                opened.append((fd, target))
    except OSError:
        for fd, _ in opened:
            os.close(fd)
        raise
    return opened


def start(job: dict[str, Any], jobs: dict[int, str], child: Callable[[dict[str, Any]], None],
          own_fds: tuple[int, ...]) -> None:
    try:
        outputs = _open_outputs(job)
    except OSError as exc:
        send({"job": job["job"], "pid": None, "exit": None, "error": exc.strerror})
        return
    pid = os.fork()
    if pid == 0:
        signal.set_wakeup_fd(-1)
        for fd, target in outputs:
            os.dup2(fd, target)  # dup2 clears close-on-exec on the copy
        for fd in own_fds:  # the zygote's wake-up pipe is none of the child's business
            os.close(fd)
        child(job)
    for fd, _ in outputs:
        os.close(fd)
    jobs[pid] = job["job"]
    send({"job": job["job"], "pid": pid})


def shutdown(jobs: dict[int, str]) -> None:
    for pid in jobs:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def serve(preload_names: tuple[str, ...], child: Callable[[dict[str, Any]], None],
          warm: Callable[[], None] | None = None) -> int:
    """Import ``preload_names``, run ``warm()`` (which must load no model file), say
    ready, then fork ``child(job)`` per job on stdin."""
    preload(preload_names)
    if warm is not None:
        try:
            warm()
        except Exception as exc:  # noqa: BLE001 - the children are slower, not wrong
            print(f"zygote warm-up failed: {exc!r}", file=sys.stderr)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    jobs: dict[int, str] = {}
    pending = b""
    send({"ready": True, "address_space_mb": address_space_mb()})
    while True:
        readable, _, _ = select.select([0, wake_r], [], [])
        if wake_r in readable:
            try:
                while os.read(wake_r, 512):
                    pass
            except BlockingIOError:
                pass
        reap(jobs)
        if 0 not in readable:
            continue
        chunk = os.read(0, 65536)
        if not chunk:
            shutdown(jobs)
            return 0
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if line.strip():
                start(json.loads(line), jobs, child, (wake_r, wake_w))


def main() -> int:
    return serve(PRELOAD, child)


if __name__ == "__main__":
    sys.exit(main())
