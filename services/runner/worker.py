"""The runner's sandboxed child process.

Started by the runner service with ``subprocess`` (never run on the service's
eventlet hub); its model helpers (``load``, ``Model``) also serve the online
prediction processes of ``predict_child.py``:

* ``python -m services.runner.worker run SPEC.json``: one batch execution.
  Loads the model, reads the input in batches, writes the results file, and
  reports on stdout as JSON lines, as they happen::

      {"level": "INFO", "message": "batch 2 of 5: 50000 rows (81234 rows/s)"}
      {"event": "done", "rows": 250000, "duration_s": 3.1, ...}
      {"event": "error", "error": "ValueError: Input X contains NaN.", "memory": false}

The address space is capped with ``RLIMIT_AS`` (``MEMORY_MB``) before anything
heavy is imported, so a model or input too big for the limit fails with a
``MemoryError`` here instead of starving the machine.
"""

from __future__ import annotations

import errno
import json
import os
import resource
import sys
import time
import traceback
import warnings
from typing import Any

_OUT = sys.stdout


def emit(payload: dict[str, Any]) -> None:
    _OUT.write(json.dumps(payload, default=str) + "\n")
    _OUT.flush()


def log(level: str, message: str) -> None:
    emit({"level": level, "message": message})


def limit_memory(memory_mb: int) -> None:
    if memory_mb and memory_mb > 0:
        limit = int(memory_mb) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when the runner that started it dies, so a
    runner killed with SIGKILL leaves no orphan scoring on (its run is retried)."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the lease still covers the run
        return
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)


def peak_memory_mb() -> float:
    # ru_maxrss is in KiB on Linux
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    # Every warning (e.g. scikit-learn's InconsistentVersionWarning) becomes a log line.
    log("WARNING", f"{category.__name__}: {message}")


# -- the model -----------------------------------------------------------------


def load(path: str, fmt: str) -> Any:
    """The model object, through the registry's allow-list loader (shared.modelfile).

    Its warnings (e.g. scikit-learn's InconsistentVersionWarning) and a version
    mismatch between the file's scikit-learn and this runtime's become log lines.
    """
    from shared.modelfile import load_model

    try:
        from shared.modelfile import loader
    except ImportError:  # pragma: no cover - the public function is enough
        return load_model(path, fmt)
    described = getattr(loader, "load", None)
    check = getattr(loader, "_check_estimator", None)
    if described is None or check is None:  # pragma: no cover
        return load_model(path, fmt)
    loaded = described(path, fmt)
    for message in loaded.warnings:
        log("WARNING", message)
    if loaded.format != "onnx":
        check(loaded.obj)
        import sklearn

        if loaded.sklearn_version and loaded.sklearn_version != sklearn.__version__:
            log("WARNING", f"the model was saved with scikit-learn {loaded.sklearn_version}; "
                           f"this runner has {sklearn.__version__}: predictions may differ")
    return loaded.obj


class Model:
    """One interface over a scikit-learn estimator and an ONNX session."""

    def __init__(self, obj: Any, columns: list[str] | None):
        self.obj = obj
        self.columns = columns or None
        self.onnx = type(obj).__name__ == "InferenceSession" or hasattr(obj, "get_inputs") \
            and not hasattr(obj, "predict")
        self.classes: list[Any] | None = None
        if not self.onnx and hasattr(obj, "classes_"):
            self.classes = [c.item() if hasattr(c, "item") else c for c in obj.classes_]
        self.can_proba = self.onnx or hasattr(obj, "predict_proba")

    def features(self, frame):
        names = self.columns
        if names is None and not self.onnx and hasattr(self.obj, "feature_names_in_"):
            names = [str(n) for n in self.obj.feature_names_in_]
        if names is not None:
            missing = [n for n in names if n not in frame.columns]
            if missing:
                raise ValueError(f"missing columns: {', '.join(missing)}")
            frame = frame[names]
        return frame

    def predict(self, frame, proba: bool) -> tuple[list[Any], list[list[float]] | None]:
        features = self.features(frame)
        if self.onnx:
            return self._onnx(features, proba)
        x = features if hasattr(self.obj, "feature_names_in_") else features.to_numpy()
        predictions = self.obj.predict(x)
        probabilities = self.obj.predict_proba(x) if proba else None
        return predictions, probabilities

    def _onnx(self, features, proba: bool):
        import numpy as np

        session = self.obj
        inputs = session.get_inputs()
        if len(inputs) == 1:
            dtype = np.float64 if "double" in inputs[0].type else np.float32
            feeds = {inputs[0].name: features.to_numpy(dtype=dtype)}
        else:  # one input per column (skl2onnx with a dict of inputs)
            feeds = {i.name: features[[i.name]].to_numpy(dtype=np.float32) for i in inputs}
        outputs = session.run(None, feeds)
        names = [o.name for o in session.get_outputs()]
        predictions = outputs[0]
        if getattr(predictions, "ndim", 1) == 2 and predictions.shape[1] == 1:
            predictions = predictions[:, 0]
        probabilities = None
        if proba and len(outputs) > 1:
            raw = outputs[names.index("output_probability")] if "output_probability" in names \
                else outputs[1]
            if isinstance(raw, list) and raw and isinstance(raw[0], dict):  # ZipMap output
                self.classes = list(raw[0].keys())
                probabilities = [[row[c] for c in self.classes] for row in raw]
            else:
                probabilities = raw
                if self.classes is None:
                    self.classes = list(range(len(raw[0]))) if len(raw) else []
        elif proba:
            raise ValueError("this model gives no probabilities (predict_proba)")
        return predictions, probabilities

    def frame_with(self, frame, predictions, probabilities):
        out = frame.copy()
        out["prediction"] = list(_plain(predictions))
        if probabilities is not None:
            for k, cls in enumerate(self.classes or []):
                out[f"proba_{cls}"] = [float(row[k]) for row in probabilities]
        return out


def _plain(values):
    for v in values:
        yield v.item() if hasattr(v, "item") else v


# -- run mode ----------------------------------------------------------------------


def run(spec: dict[str, Any]) -> int:
    from services.runner import formats
    from shared.datasets import DatasetReader, describe_bad_row
    from shared.errors import InvalidInputData

    started = time.monotonic()
    fmt = spec.get("input_format") or formats.format_of(spec["input_path"],
                                                        spec.get("input_filename"))
    batch_size = int(spec.get("batch_size") or formats.DEFAULT_BATCH)
    proba = bool(spec.get("predict_proba"))
    on_bad_rows = spec.get("on_bad_rows") or "fail"
    log("INFO", f"loading model ({spec.get('model_format')}, "
                f"{os.path.getsize(spec['model_path'])} bytes)")
    model = Model(load(spec["model_path"], spec.get("model_format") or "joblib"),
                  spec.get("columns"))
    if proba and not model.can_proba:
        raise ValueError("predict_proba: this model gives no probabilities")
    log("INFO", f"model loaded in {time.monotonic() - started:.2f}s; reading {fmt} input "
                f"{spec.get('input_filename') or ''} in batches of {batch_size}"
                + (" (bad rows skipped and reported)" if on_bad_rows == "skip" else ""))
    total = formats.count_batches(spec["input_path"], fmt, batch_size)
    reader = DatasetReader(
        spec["input_path"], spec.get("input_filename"), spec.get("input_schema"), on_bad_rows,
        batch_size, fmt=fmt,
        on_bad_row=lambda row: log("WARNING", f"bad row skipped: {describe_bad_row(row)}"))
    rows = 0
    scoring_started = last_line = time.monotonic()
    with open(spec["output_path"], "wb") as out:
        writer = formats.BatchWriter(out, spec.get("output_format") or "csv")
        for k, frame in enumerate(reader.batches(), start=1):
            if len(frame) == 0:
                continue
            batch_started = time.monotonic()
            predictions, probabilities = model.predict(frame, proba)
            writer.write(model.frame_with(frame, predictions, probabilities))
            rows += len(frame)
            now = time.monotonic()
            # One line per batch, but at most about one a second for tiny batches.
            if k == 1 or k == total or now - last_line >= 1.0:
                last_line = now
                elapsed = max(now - batch_started, 1e-9)
                of = f" of {max(total, k)}" if total else ""
                log("INFO", f"batch {k}{of}: {len(frame)} rows scored "
                            f"({len(frame) / elapsed:,.0f} rows/s), {rows} rows read so far")
        writer.close()
    if reader.skipped_rows and not rows:
        raise InvalidInputData(f"invalid input data: all {reader.skipped_rows} rows are bad, "
                               f"nothing to score", reader.summary())
    if reader.skipped_rows:
        log("WARNING", f"{reader.skipped_rows} bad rows skipped (on_bad_rows=skip), "
                       f"{rows} rows scored")
    scoring = max(time.monotonic() - scoring_started, 1e-9)
    duration = time.monotonic() - started
    log("INFO", f"{rows} rows scored in {scoring:.2f}s ({rows / scoring:,.0f} rows/s); "
                f"peak memory {peak_memory_mb()} MB")
    emit({"event": "done", "rows": rows, "duration_s": round(duration, 3),
          "rows_per_second": round(rows / scoring, 1), "peak_memory_mb": peak_memory_mb(),
          "size": os.path.getsize(spec["output_path"]), "classes": model.classes,
          **(reader.summary() if on_bad_rows == "skip" else {})})
    return 0


def out_of_memory(exc: BaseException) -> bool:
    """A MemoryError, or a library that could not be mapped (RLIMIT_AS reached while
    importing numpy, scipy, ...: an ImportError "failed to map segment" or ENOMEM)."""
    if isinstance(exc, MemoryError):
        return True
    text = str(exc)
    return isinstance(exc, ImportError | OSError) and (
        "failed to map segment" in text or "Cannot allocate memory" in text
        or getattr(exc, "errno", None) == errno.ENOMEM)


def report_error(exc: BaseException, hidden: tuple[str, ...] = ()) -> int:
    """Say why the run failed: the user's lines (the model's own frames and its error,
    no platform path) as log lines, the whole traceback in the final event for the
    runner's service log only."""
    memory = out_of_memory(exc)
    try:
        # imported here, under the limit: importing may itself run out of memory
        from services.runner.redact import error_line, user_traceback
        from shared.errors import PlatformError

        if isinstance(exc, PlatformError):  # e.g. invalid input data: the message says it
            lines, last = [exc.message], exc.message
        elif memory and (not isinstance(exc, MemoryError) or "map segment" in str(exc)):
            # A shared library that cannot be mapped under RLIMIT_AS: its message names
            # platform files; say what it means.
            last = "MemoryError: the model's libraries could not be loaded within this limit"
            lines = [last]
        else:
            lines, last = user_traceback(exc, hidden), error_line(exc, hidden)
        for line in lines:
            log("ERROR", line)
        emit({"event": "error", "error": last, "memory": memory,
              "peak_memory_mb": peak_memory_mb(),
              "details": getattr(exc, "details", None) or None,
              "traceback": "".join(traceback.format_exception(exc))[-20_000:]})
    except MemoryError:  # no room left even to format: say the essential
        _OUT.write('{"event": "error", "error": "MemoryError", "memory": true}\n')
        _OUT.flush()
        return 3
    return 3 if memory else 1


def main(argv: list[str]) -> int:
    die_with_parent()
    warnings.showwarning = _show_warning
    warnings.simplefilter("default")
    mode = argv[0]
    if mode == "run":
        with open(argv[1]) as f:
            spec = json.load(f)
        limit_memory(int(spec.get("memory_mb") or 0))
        hidden = (os.path.dirname(os.path.abspath(argv[1])),)  # the scratch directory
        try:
            return run(spec)
        except BaseException as exc:  # reported on stdout: the parent decides the status
            return report_error(exc, hidden)
    raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
