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

On stdout: ``{"ready": true}`` once the libraries are imported, then per job
``{"job", "pid"}`` when its child is forked and ``{"job", "pid", "exit"}`` when
it ended (``exit`` < 0: killed by that signal). The child writes its answer to
the job's ``result`` file (created, never overwritten). End of stdin (the
service stopped or died) kills the children still running and ends the zygote.
"""

from __future__ import annotations

import importlib
import json
import os
import select
import signal
import sys
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


def preload() -> None:
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - an optional library
            pass


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


def start(job: dict[str, Any], jobs: dict[int, str]) -> None:
    pid = os.fork()
    if pid == 0:
        child(job)
    jobs[pid] = job["job"]
    send({"job": job["job"], "pid": pid})


def shutdown(jobs: dict[int, str]) -> None:
    for pid in jobs:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def main() -> int:
    preload()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    jobs: dict[int, str] = {}
    pending = b""
    send({"ready": True})
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
                start(json.loads(line), jobs)


if __name__ == "__main__":
    sys.exit(main())
