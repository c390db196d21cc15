"""What of a model's failure a user may read (execution logs are readable by viewers).

A failed run shows the model's error and the frames of the model's *own* code;
the platform's files (``services/``, ``shared/``), the interpreter, the
virtual environment and its ``site-packages``, the runner's scratch paths and
environment never reach an execution log — they go to the runner's service
log, with the execution id.

* ``user_traceback(exc, hidden=())`` → the lines to show: the frames outside
  the platform's paths (``File "model.py", line 3, in predict`` with the path
  shortened to its file name) and ``Type: message`` (paths scrubbed).
* ``scrub(text, hidden=())``: the same path scrubbing for any line (stderr).
* ``is_platform_path(path)``.
"""

from __future__ import annotations

import os
import re
import site
import sys
import sysconfig
import traceback
from collections.abc import Iterable
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[2])


def _platform_prefixes() -> list[str]:
    prefixes = {_ROOT, sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                os.path.dirname(os.__file__)}
    for name in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(name)
        if path:
            prefixes.add(path)
    try:
        prefixes.update(site.getsitepackages())
    except AttributeError:  # pragma: no cover - virtualenv's old site.py
        pass
    real = {os.path.realpath(p) for p in prefixes if p}
    return sorted(real | {p for p in prefixes if p}, key=len, reverse=True)


PREFIXES = _platform_prefixes()


def is_platform_path(path: str) -> bool:
    """A file of the platform, the interpreter or an installed package (``<frozen ...>`` too)."""
    if not path or path.startswith("<"):
        return True
    real = os.path.realpath(path)
    return any(real == p or real.startswith(p.rstrip(os.sep) + os.sep) for p in PREFIXES) or \
        "site-packages" in real or "dist-packages" in real


def scrub(text: str, hidden: Iterable[str] = ()) -> str:
    """``text`` with the platform's and the scratch directories' paths replaced by ``…``."""
    out = str(text)
    for prefix in sorted({*PREFIXES, *(h for h in hidden if h)}, key=len, reverse=True):
        if len(prefix) > 1:
            out = out.replace(prefix.rstrip(os.sep) + os.sep, "…/").replace(prefix, "…")
    # any other absolute path into a virtual environment or site-packages
    return re.sub(r"(/[^\s'\"]*?(site|dist)-packages)/", "…/", out)


def user_traceback(exc: BaseException, hidden: Iterable[str] = ()) -> list[str]:
    """The lines of ``exc`` a user may read: the model's own frames and the error line."""
    hidden = list(hidden)
    lines: list[str] = []
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not is_platform_path(f.filename)]
    if frames:
        lines.append("in the model's code (most recent call last):")
        for frame in frames:
            lines.append(f'  File "{os.path.basename(frame.filename)}", line {frame.lineno}, '
                         f"in {frame.name}")
            if frame.line:
                lines.append(f"    {frame.line.strip()}")
    lines.append(error_line(exc, hidden))
    return lines


def error_line(exc: BaseException, hidden: Iterable[str] = ()) -> str:
    """``Type: message`` on one line, paths scrubbed."""
    message = " ".join(str(exc).split())
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return scrub(text, hidden)[:2000]
