"""Load and describe a model file. UNTRUSTED INPUT: call only in a sandbox child.

``load_model(path, fmt)`` is what the runner uses inside its own sandboxed
child; ``inspect_path(path)`` is what ``python -m shared.modelfile.inspect``
prints for the registry. Both apply the allow-list of
:mod:`shared.modelfile.allowlist`.
"""

from __future__ import annotations

import json
import math
import warnings
import zipfile
from dataclasses import dataclass, field
from typing import Any

from shared.modelfile.allowlist import ForbiddenGlobal, is_allowed_type_name
from shared.modelfile.bombs import DecompressionBomb, check_path
from shared.modelfile.formats import JOBLIB, ONNX, PICKLE, SKOPS, UnrecognisedFormat, detect_file
from shared.modelfile.unpickler import NotAPickle, load_pickle

MAX_CLASSES = 1000
MAX_FEATURES = 10000


class Rejected(Exception):
    """The file is not an acceptable model. ``reason`` is a short metric label."""

    def __init__(self, message: str, reason: str, offending_global: str | None = None):
        self.message = message
        self.reason = reason
        self.offending_global = offending_global
        super().__init__(message)


@dataclass
class Loaded:
    obj: Any
    format: str
    sklearn_version: str | None = None
    warnings: list[str] = field(default_factory=list)


def _load_skops(path: str) -> tuple[Any, str | None]:
    import skops.io as sio

    if not zipfile.is_zipfile(path):
        raise Rejected("not a skops file: the zip archive is unreadable", "corrupt_file")
    with zipfile.ZipFile(path) as archive:
        if "schema.json" not in archive.namelist():
            raise Rejected("not a skops file: schema.json is missing", "not_a_model")
        schema = json.loads(archive.read("schema.json"))
    version = None
    try:
        raw = schema["content"]["content"]["_sklearn_version"]["content"]
        version = json.loads(raw)
    except (KeyError, TypeError, ValueError):
        pass
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except MemoryError:
        raise
    except Exception as exc:
        raise Rejected(f"unreadable skops file: {exc}", "corrupt_file") from None
    for type_name in untrusted:
        if not is_allowed_type_name(type_name):
            raise Rejected(
                f"forbidden type {type_name!r} in the skops file (not in the allow-list)",
                "forbidden_global",
                type_name,
            )
    try:
        return sio.load(path, trusted=untrusted), version
    except MemoryError:
        raise
    except Exception as exc:
        message = f"unreadable skops file: {exc.__class__.__name__}: {exc}"
        raise Rejected(message, "corrupt_file") from None


def _load_onnx(path: str) -> Any:
    import onnx
    import onnxruntime

    try:
        proto = onnx.load(path, load_external_data=False)
    except MemoryError:
        raise
    except Exception as exc:
        raise Rejected(f"not a readable ONNX model: {exc}", "corrupt_file") from None
    # External data would make the runtime read other files by relative path.
    for tensor in proto.graph.initializer:
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            raise Rejected("ONNX models with external data files are not accepted", "external_data")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    try:
        return onnxruntime.InferenceSession(
            proto.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
    except MemoryError:
        raise
    except Exception as exc:
        raise Rejected(f"the ONNX runtime cannot load this model: {exc}", "corrupt_file") from None


def load(path: str, fmt: str | None = None, check_bombs: bool = True) -> Loaded:
    """Load with the allow-list; ``fmt`` None → detect. Raises ``Rejected``.

    A compressed file is first stream-counted (``shared.modelfile.bombs``) with the
    default limits unless ``check_bombs`` is False (the caller checked already).
    """
    try:
        detected = detect_file(path)
    except UnrecognisedFormat as exc:
        raise Rejected(str(exc), exc.reason) from None
    if check_bombs:
        try:
            check_path(path)
        except DecompressionBomb as exc:
            raise Rejected(str(exc), exc.reason) from None
    fmt = fmt or detected.format
    caught: list[str] = []
    with warnings.catch_warnings(record=True) as recorded:
        warnings.simplefilter("always")
        if fmt in (PICKLE, JOBLIB):
            if detected.format not in (PICKLE, JOBLIB):
                raise Rejected(f"the file is {detected.format}, not {fmt}", "unrecognised_format")
            try:
                result = load_pickle(path)
            except ForbiddenGlobal as exc:
                raise Rejected(str(exc), "forbidden_global", exc.qualified) from None
            except NotAPickle as exc:
                message = f"not a readable pickle/joblib file: {exc}"
                raise Rejected(message, "corrupt_file") from None
            fmt = JOBLIB if (detected.compression or result.joblib_arrays) else PICKLE
            loaded = Loaded(result.obj, fmt, result.sklearn_version)
        elif fmt == SKOPS:
            obj, version = _load_skops(path)
            loaded = Loaded(obj, SKOPS, version)
        elif fmt == ONNX:
            loaded = Loaded(_load_onnx(path), ONNX)
        else:
            raise Rejected(f"unsupported model format {fmt!r}", "unrecognised_format")
    for warning in recorded:
        caught.append(f"{warning.category.__name__}: {warning.message}"[:500])
    loaded.warnings = caught
    return loaded


def _check_estimator(obj: Any) -> None:
    from sklearn.base import BaseEstimator

    if not isinstance(obj, BaseEstimator):
        raise Rejected(
            f"the file holds a {type(obj).__module__}.{type(obj).__qualname__}, "
            "not a scikit-learn model",
            "not_a_model",
        )
    if not any(hasattr(obj, verb) for verb in ("predict", "transform", "fit_predict")):
        raise Rejected(
            f"{type(obj).__name__} has no predict/transform method: not a usable model",
            "not_a_model",
        )


def load_model(path: str, fmt: str | None = None) -> Any:
    """The model object of a file, loaded with the allow-list (runner API).

    sklearn estimators for pickle/joblib/skops; an ``onnxruntime.InferenceSession``
    for ONNX. Raises ``Rejected``. Call only in a sandboxed child process.
    """
    loaded = load(path, fmt)
    if loaded.format != ONNX:
        _check_estimator(loaded.obj)
    return loaded.obj


# -- description -------------------------------------------------------------


def json_safe(value: Any, depth: int = 0) -> Any:
    """A JSON value for ``value``; anything else becomes its ``repr``."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    try:
        import numpy as np

        if isinstance(value, np.generic):
            return json_safe(value.item(), depth)
    except ImportError:  # pragma: no cover
        pass
    if depth < 4 and isinstance(value, (list, tuple)) and len(value) <= 1000:
        return [json_safe(item, depth + 1) for item in value]
    if depth < 4 and isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: json_safe(v, depth + 1) for k, v in value.items()}
    return repr(value)[:1000]


def _feature_types(estimator: Any, names: list[str]) -> list[str]:
    """ "number" unless the model says a column is categorical/text."""
    types = dict.fromkeys(names, "number")
    categorical = getattr(estimator, "is_categorical_", None)  # HistGradientBoosting*
    if categorical is not None and len(categorical) == len(names):
        for name, flag in zip(names, categorical, strict=False):
            if flag:
                types[name] = "category"
    steps = getattr(estimator, "steps", None)  # Pipeline: look at its first step
    first = steps[0][1] if steps else estimator
    transformers = getattr(first, "transformers_", None)  # ColumnTransformer
    if transformers:
        from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

        for _name, transformer, columns in transformers:
            inner = transformer.steps[-1][1] if hasattr(transformer, "steps") else transformer
            if isinstance(inner, (OneHotEncoder, OrdinalEncoder)) and isinstance(columns, list):
                for column in columns:
                    if isinstance(column, str) and column in types:
                        types[column] = "string"
    return [types[name] for name in names]


def describe(loaded: Loaded) -> dict[str, Any]:
    """The JSON description printed by the inspector child."""
    info: dict[str, Any] = {
        "ok": True,
        "format": loaded.format,
        "estimator": None,
        "estimator_path": None,
        "sklearn_version": loaded.sklearn_version,
        "parameters": {},
        "feature_names": None,
        "feature_types": None,
        "classes": None,
        "n_features": None,
        "warnings": list(loaded.warnings),
    }
    obj = loaded.obj
    if loaded.format == ONNX:
        inputs = obj.get_inputs()
        meta = obj.get_modelmeta()
        info["estimator"] = f"onnx:{meta.producer_name or 'unknown'}"
        info["feature_names"] = [i.name for i in inputs]
        info["feature_types"] = [i.type for i in inputs]
        shapes = [i.shape for i in inputs]
        if len(shapes) == 1 and len(shapes[0]) == 2 and isinstance(shapes[0][1], int):
            info["n_features"] = shapes[0][1]
        info["input_shapes"] = json_safe(shapes)
        info["outputs"] = [o.name for o in obj.get_outputs()]
        return info

    _check_estimator(obj)
    cls = type(obj)
    info["estimator"] = cls.__name__
    info["estimator_path"] = f"{cls.__module__}.{cls.__qualname__}"
    try:
        params = obj.get_params(deep=False)
        info["parameters"] = {str(k): json_safe(v) for k, v in params.items()}
    except Exception as exc:  # a model with odd params is still a model
        info["warnings"].append(f"get_params failed: {exc}")
    names = getattr(obj, "feature_names_in_", None)
    if names is not None and len(names) <= MAX_FEATURES:
        names = [str(n) for n in names]
        info["feature_names"] = names
        info["feature_types"] = _feature_types(obj, names)
    n_features = getattr(obj, "n_features_in_", None)
    if isinstance(n_features, int):
        info["n_features"] = n_features
    classes = getattr(obj, "classes_", None)
    if classes is not None:
        try:
            info["classes"] = json_safe(list(classes)[:MAX_CLASSES])
        except TypeError:
            pass
    try:
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(obj)
    except Exception:
        info["warnings"].append(f"{cls.__name__} does not look fitted")
    return info


def inspect_path(path: str, check_bombs: bool = True) -> dict[str, Any]:
    """Load + describe; a rejection becomes ``{ok: false, reason, ...}``."""
    try:
        return describe(load(path, check_bombs=check_bombs))
    except Rejected as exc:
        return {
            "ok": False,
            "reason": exc.reason,
            "message": exc.message,
            "offending_global": exc.offending_global,
        }
