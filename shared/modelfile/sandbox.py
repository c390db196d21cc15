"""Run the model-file inspector in a child process (the service never loads a model).

``inspect_artifact`` streams the artifact from the store into a private temp
dir, checks the magic bytes (cheap, parses nothing), then inspects the file in a
child of its own with a timeout, an RLIMIT_AS memory limit (set by the child on
itself before it reads the file; it covers the libraries the child has imported),
one thread per math library and a minimal environment (no service secrets), and
deletes the temp dir afterwards.

The child is forked from the warm zygote (``shared.modelfile.zygote``: the
libraries already imported, ~10 ms instead of ~1.3 s); when the zygote is off
(``MODELFILE_ZYGOTE=0``) or unavailable, it is a cold ``python -m
shared.modelfile.inspect``. Both give the same answers.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from typing import Any

from shared.config import ROOT
from shared.modelfile.forkserver import Forkserver, ForkserverUnavailable
from shared.modelfile.formats import UnrecognisedFormat, detect_file

DEFAULT_TIMEOUT_S = 60.0
DEFAULT_MEMORY_MB = 2048


def _rejection(reason: str, message: str, offending: str | None = None) -> dict[str, Any]:
    return {"ok": False, "reason": reason, "message": message, "offending_global": offending}


def _child_env(workdir: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": workdir,
        "TMPDIR": workdir,
        "PYTHONPATH": str(ROOT),
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
    }
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = "1"
    return env


_zygote: Forkserver | None = None


def zygote() -> Forkserver | None:
    """This process's inspector zygote (None when ``MODELFILE_ZYGOTE=0``)."""
    global _zygote
    if os.environ.get("MODELFILE_ZYGOTE", "1") == "0":
        return None
    if _zygote is None:
        _zygote = Forkserver(_child_env(tempfile.gettempdir()))
    return _zygote


def stop_zygote() -> None:
    if _zygote is not None:
        _zygote.close()


def _interpret(returncode: int | None, output: str, stderr: str, timeout_s: float,
               detected: Any) -> dict[str, Any]:
    """The child's answer from its exit code and output, the same for both paths."""
    if returncode is None:
        return _rejection("timeout", f"inspecting the model took longer than {timeout_s:g} s")
    lines = [line for line in output.splitlines() if line.strip()]
    if returncode != 0 or not lines:
        if returncode < 0:
            signame = signal.Signals(-returncode).name
            return _rejection("crashed", f"the model file crashed the inspector ({signame})")
        tail = stderr.strip().splitlines()[-1:] or ["no output"]
        if "MemoryError" in tail[0]:
            return _rejection("memory_limit", "the model needs more memory than allowed")
        return _rejection("crashed", f"the inspector failed: {tail[0][:300]}")
    try:
        result = json.loads(lines[-1])
    except ValueError:
        return _rejection("crashed", "the inspector returned no readable answer")
    if result.get("ok") and detected.compression:
        result["compression"] = detected.compression
    return result


def _inspect_forked(server: Forkserver, path: str, timeout_s: float, memory_mb: int,
                    max_inflated_mb: float, max_ratio: float) -> tuple[int | None, str]:
    workdir = tempfile.mkdtemp(prefix="inspection-")  # the child's HOME, TMPDIR and answer
    result_path = os.path.join(workdir, "answer.json")
    try:
        _pid, returncode = server.run({
            "path": path, "result": result_path, "workdir": workdir, "memory_mb": memory_mb,
            "max_inflated_mb": max_inflated_mb or 0, "max_ratio": max_ratio or 0,
        }, timeout_s)
        try:
            with open(result_path, encoding="utf-8", errors="replace") as handle:
                return returncode, handle.read()
        except FileNotFoundError:
            return returncode, ""
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def inspect_file(
    path: str,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    memory_mb: int = DEFAULT_MEMORY_MB,
    max_inflated_mb: float = 0,
    max_ratio: float = 0,
) -> dict[str, Any]:
    """Inspect a model file at ``path`` in a sandbox child; never raises for bad files.

    Returns the child's JSON: ``{"ok": true, "format", ...}`` or
    ``{"ok": false, "reason", "message", "offending_global"}``.
    """
    try:
        detected = detect_file(path)
    except UnrecognisedFormat as exc:
        return _rejection(exc.reason, str(exc))
    path = os.path.abspath(path)  # the child runs in the project root
    server = zygote()
    for _attempt in range(2 if server is not None else 0):  # a dead zygote is replaced once
        try:
            returncode, output = _inspect_forked(server, path, timeout_s, memory_mb,
                                                 max_inflated_mb, max_ratio)
            return _interpret(returncode, output, "", timeout_s, detected)
        except ForkserverUnavailable:
            continue  # then a cold child below: slower, the same answer
    return _inspect_cold(path, timeout_s, memory_mb, max_inflated_mb, max_ratio, detected)


def _inspect_cold(path: str, timeout_s: float, memory_mb: int, max_inflated_mb: float,
                  max_ratio: float, detected: Any) -> dict[str, Any]:
    workdir = os.path.dirname(path)
    command = [
        sys.executable,
        "-m",
        "shared.modelfile.inspect",
        path,
        "--memory-mb",
        str(memory_mb),
        # decompression-bomb limits (0: shared.modelfile.bombs' defaults)
        "--max-inflated-mb",
        str(max_inflated_mb or 0),
        "--max-ratio",
        str(max_ratio or 0),
    ]
    # Under eventlet (nameko run) subprocess is the green one: waiting yields.
    # The child applies RLIMIT_AS itself (--memory-mb) before it opens the
    # file: a preexec_fn would make the fork take the interpreter's locks
    # (PyOS_BeforeFork), which can deadlock a threaded, eventlet-patched parent.
    process = subprocess.Popen(
        command,
        cwd=str(ROOT),
        env=_child_env(workdir),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: a timeout kills it all
        close_fds=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout_s)
    except Exception as exc:
        # Under eventlet the green Popen raises the *original* module's
        # TimeoutExpired, a different class from the patched module's.
        if type(exc).__name__ != "TimeoutExpired":
            raise
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.communicate()
        return _interpret(None, "", "", timeout_s, detected)
    return _interpret(process.returncode, stdout.decode("utf-8", "replace"),
                      stderr.decode("utf-8", "replace"), timeout_s, detected)


def inspect_artifact(
    store: Any,
    artifact_id: str,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    memory_mb: int = DEFAULT_MEMORY_MB,
    max_inflated_mb: float = 0,
    max_ratio: float = 0,
) -> dict[str, Any]:
    """Download ``artifact_id`` from the ``ArtifactStore`` in chunks, inspect, clean up."""
    workdir = tempfile.mkdtemp(prefix="modelfile-")  # mode 0700: private to this user
    try:
        # A fixed name: the user's filename never becomes a path.
        path = os.path.join(workdir, "model.bin")
        store.download_to(artifact_id, path)
        return inspect_file(path, timeout_s=timeout_s, memory_mb=memory_mb,
                            max_inflated_mb=max_inflated_mb, max_ratio=max_ratio)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
