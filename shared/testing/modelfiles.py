"""Real and malicious model files for tests (registry, runner).

Every factory writes into a directory you give it and returns the path.
Malicious payloads only ``touch`` a marker file, so a test can assert that
nothing ran.
"""

from __future__ import annotations

import os
import pickle
import struct
from pathlib import Path
from typing import Any


def iris_frame():
    from sklearn.datasets import load_iris

    return load_iris(return_X_y=True, as_frame=True)


def fitted_logreg(as_frame: bool = True):
    """LogisticRegression on iris; with feature names when ``as_frame``."""
    from sklearn.linear_model import LogisticRegression

    X, y = iris_frame()
    return LogisticRegression(max_iter=500, C=0.5).fit(X if as_frame else X.values, y)


def fitted_forest():
    """A small RandomForest whose ``random_state`` is a RandomState (numpy.random pickles)."""
    import numpy as np
    from sklearn.ensemble import RandomForestClassifier

    X, y = iris_frame()
    return RandomForestClassifier(
        n_estimators=5, max_depth=3, random_state=np.random.RandomState(0)
    ).fit(X.values, y)


def write_joblib(directory: Path, obj: Any, name: str = "model.joblib", compress: Any = 0) -> Path:
    import joblib

    path = Path(directory) / name
    joblib.dump(obj, path, compress=compress)
    return path


def write_pickle(directory: Path, obj: Any, name: str = "model.pkl", protocol: int = 5) -> Path:
    path = Path(directory) / name
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    return path


def write_skops(directory: Path, obj: Any, name: str = "model.skops") -> Path:
    import skops.io as sio

    path = Path(directory) / name
    sio.dump(obj, path)
    return path


def write_onnx(directory: Path, name: str = "model.onnx") -> Path:
    import numpy as np
    from skl2onnx import to_onnx

    X, _ = iris_frame()
    model = to_onnx(fitted_logreg(as_frame=False), X.values[:1].astype(np.float32))
    path = Path(directory) / name
    path.write_bytes(model.SerializeToString())
    return path


# -- malicious files ---------------------------------------------------------------


class OsSystem:
    """Pickles as ``posix.system("touch <marker>")``."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class BuiltinsEval:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        import builtins

        return (builtins.eval, (f"open({self.marker!r}, 'w').close()",))


def _unicode(text: str) -> bytes:
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def global_call(module: str, name: str, *args: str, stack_global: bool = True) -> bytes:
    """Raw pickle bytes calling ``module.name(*args)`` (hand-written, so the
    test run's eventlet patching cannot change which global is named)."""
    if stack_global:  # protocol 4: names pushed as strings, memoized, STACK_GLOBAL
        head = (
            b"\x80\x04"
            + b"\x8c"
            + bytes([len(module)])
            + module.encode()
            + b"\x94"
            + b"\x8c"
            + bytes([len(name)])
            + name.encode()
            + b"\x94"
            + b"\x93\x94"
        )
    else:  # protocol 2: GLOBAL "module\nname\n"
        head = b"\x80\x02c" + module.encode() + b"\n" + name.encode() + b"\n"
    return head + b"(" + b"".join(_unicode(a) for a in args) + b"tR."


def write_os_system(directory: Path, marker: str, name: str = "evil.pkl") -> Path:
    path = Path(directory) / name
    path.write_bytes(pickle.dumps(OsSystem(marker), protocol=2))
    return path


def write_eval(directory: Path, marker: str, name: str = "eval.pkl") -> Path:
    path = Path(directory) / name
    path.write_bytes(pickle.dumps(BuiltinsEval(marker), protocol=4))
    return path


def write_popen(directory: Path, marker: str, name: str = "popen.pkl") -> Path:
    path = Path(directory) / name
    path.write_bytes(global_call("subprocess", "Popen", "touch", marker))
    return path


def write_joblib_with_payload(directory: Path, marker: str, name: str = "evil.joblib") -> Path:
    """A joblib file: numpy arrays, then the payload inside a list, then more arrays."""
    import numpy as np

    return write_joblib(
        directory,
        [np.arange(1000.0), {"w": np.ones((20, 20))}, OsSystem(marker), np.zeros(50)],
        name=name,
    )


def write_text(directory: Path, name: str = "x.joblib") -> Path:
    path = Path(directory) / name
    path.write_text("this is not a model\n")
    return path


def write_random(directory: Path, name: str = "random.bin", size: int = 4096) -> Path:
    import random

    path = Path(directory) / name
    path.write_bytes(random.Random(size).randbytes(size))  # seeded: no flaky magic bytes
    return path


def write_empty(directory: Path, name: str = "empty.pkl") -> Path:
    path = Path(directory) / name
    path.write_bytes(b"")
    return path
