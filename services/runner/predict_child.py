"""A warm model process for online predictions (the runner's sandbox child).

``python -m services.runner.predict_child MODEL_PATH FORMAT MEMORY_MB``: caps its address
space (``RLIMIT_AS``), loads the ONE model file through the allow-list loader, answers
``{"event": "ready", "classes": [...]}`` (or ``{"event": "error", ...}``), then scores
requests read from stdin until stdin closes. Requests and answers are frames of
``services.runner.rowcodec``; each answer is ``{"predictions": [...]}`` (plus
``probabilities``) or ``{"error": ..., "memory": bool}``, and the process stays up.

The frames go to a private copy of the original stdout: file descriptor 1 is pointed
at stderr, so whatever the model's code prints never mixes with the answers.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from typing import Any, BinaryIO

from services.runner.rowcodec import FrameError, decode_request, frame
from services.runner.worker import (
    Model,
    _plain,
    die_with_parent,
    limit_memory,
    load,
    out_of_memory,
)

#: Said when there is no memory left even to describe the error (prebuilt for that).
_OUT_OF_MEMORY = frame(b'{"event": "error", "error": "MemoryError", "memory": true}')


def _send(out: BinaryIO, answer: dict[str, Any]) -> None:
    out.write(frame(json.dumps(answer, default=str).encode()))
    out.flush()


def _error(exc: BaseException, hidden: tuple[str, ...]) -> dict[str, Any]:
    from services.runner.redact import error_line

    if out_of_memory(exc) and not isinstance(exc, MemoryError):
        # A library that cannot be mapped under RLIMIT_AS: its message names platform files.
        message = "MemoryError: the model's libraries could not be loaded within this limit"
    else:
        message = error_line(exc, hidden)
    return {"error": message, "memory": out_of_memory(exc)}


def _answer(model: Model, header: dict[str, Any], data: Any) -> dict[str, Any]:
    model.columns = [name for name, _ in header["columns"]] if header.get("schema") else None
    proba = bool(header.get("proba"))
    if proba and not model.can_proba:
        raise ValueError("predict_proba: this model gives no probabilities")
    predictions, probabilities = model.predict(data, proba)
    answer: dict[str, Any] = {"predictions": list(_plain(predictions))}
    if probabilities is not None:
        classes = model.classes or []
        answer["probabilities"] = [
            {str(c): float(row[k]) for k, c in enumerate(classes)} for row in probabilities]
    return answer


def serve(model_path: str, fmt: str, out: BinaryIO, stdin: BinaryIO) -> int:
    hidden = (os.path.dirname(model_path),)
    try:
        import pandas  # noqa: F401  (under the limit: may itself run out of memory)

        model = Model(load(model_path, fmt), None)
    except BaseException as exc:
        try:  # the redaction is imported here, under the limit: it may run out of memory
            _send(out, {"event": "error", **_error(exc, hidden)})
        except MemoryError:
            out.write(_OUT_OF_MEMORY)
            out.flush()
        return 1
    _send(out, {"event": "ready", "classes": model.classes})
    while True:
        try:
            request = decode_request(stdin)
        except FrameError:
            return 1  # the runner sent something broken or went away mid-request
        if request is None:
            return 0
        try:
            answer = _answer(model, *request)
        except Exception as exc:  # answer the error; the process stays up for the next one
            answer = _error(exc, hidden)
        _send(out, answer)


def main(argv: list[str]) -> int:
    die_with_parent()
    warnings.simplefilter("ignore")  # no one reads them here; a run's log shows them
    limit_memory(int(argv[2]) if len(argv) > 2 else 0)
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    return serve(argv[0], argv[1], out, sys.stdin.buffer)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
