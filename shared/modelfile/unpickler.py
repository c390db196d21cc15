"""Restricted loading of pickle and joblib files (run only inside a sandbox child).

Two layers, both driven by :mod:`shared.modelfile.allowlist`:

1. :func:`prescan` walks the opcodes with ``pickletools.genops`` and names the
   first forbidden global without constructing anything. joblib writes raw
   array bytes after each ``NumpyArrayWrapper`` that genops cannot walk, so
   the pre-scan stops there and says it was partial.
2. :class:`RestrictedUnpickler`, a subclass of joblib's ``NumpyUnpickler``
   (pure-Python ``pickle._Unpickler``, so joblib's raw arrays are read as
   joblib reads them), checks every global in ``find_class`` before anything
   is imported. joblib routes the nested pickles of object arrays through
   the same ``find_class``.
"""

from __future__ import annotations

import _compat_pickle
import contextlib
import pickle
import pickletools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from joblib.numpy_pickle import (
    NumpyArrayWrapper,
    NumpyUnpickler,
    _validate_fileobject_and_memmap,
)

from shared.modelfile.allowlist import ForbiddenGlobal, check_name, resolve

_STRING_OPS = {
    "STRING",
    "BINSTRING",
    "SHORT_BINSTRING",
    "UNICODE",
    "BINUNICODE",
    "SHORT_BINUNICODE",
    "BINUNICODE8",
}
_GET_OPS = {"GET", "BINGET", "LONG_BINGET"}
_PUT_OPS = {"PUT", "BINPUT", "LONG_BINPUT"}
_JOBLIB_WRAPPERS = {("joblib.numpy_pickle", "NumpyArrayWrapper")}


class NotAPickle(ValueError):
    """The stream is not a readable pickle (corrupt, truncated, legacy joblib)."""


@contextlib.contextmanager
def open_pickle_stream(path: str) -> Iterator[IO[bytes]]:
    """The pickle stream of a plain pickle or a (compressed) joblib file."""
    with open(path, "rb") as raw:
        try:
            manager = _validate_fileobject_and_memmap(raw, path)
            stream = manager.__enter__()[0]
        except Exception as exc:  # unknown or unavailable compressor
            raise NotAPickle(f"cannot open the compressed stream: {exc}") from None
        try:
            if isinstance(stream, str):
                raise NotAPickle("joblib files written before joblib 0.10 are not supported")
            yield stream
        finally:
            manager.__exit__(None, None, None)


def _normalise(module: str, name: str, proto: int) -> tuple[str, str]:
    # Protocol 0-2 pickles may name Python 2 modules; pickle maps them the
    # same way in find_class, so the allow-list must see the mapped names.
    if proto < 3:
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
    return module, name


@dataclass
class PrescanResult:
    globals: list[str] = field(default_factory=list)
    complete: bool = True
    joblib_arrays: bool = False


def prescan(stream: IO[bytes]) -> PrescanResult:
    """Name every global the pickle references, without constructing anything.

    Raises ``ForbiddenGlobal`` on the first global outside the allow-list.
    Stops (``complete=False``) where the stream cannot be walked: joblib raw
    array data, or a malformed opcode (the restricted loader then decides).
    """
    result = PrescanResult()
    proto = 0
    recent: list[str | None] = []  # values pushed, strings tracked for STACK_GLOBAL
    memo: dict[int, str | None] = {}
    try:
        for opcode, arg, _pos in pickletools.genops(stream):
            name = opcode.name
            if name == "PROTO":
                proto = arg
                continue
            if name in _STRING_OPS:
                recent.append(arg if isinstance(arg, str) else None)
                continue
            if name in _GET_OPS:
                recent.append(memo.get(arg))
                continue
            if name in _PUT_OPS:
                memo[arg] = recent[-1] if recent else None
                continue
            if name == "MEMOIZE":
                memo[len(memo)] = recent[-1] if recent else None
                continue
            if name in ("GLOBAL", "INST"):
                module, _, gname = str(arg).partition(" ")
            elif name == "STACK_GLOBAL":
                if len(recent) < 2 or recent[-1] is None or recent[-2] is None:
                    result.complete = False  # cannot name it statically: the loader will
                    recent.append(None)
                    continue
                module, gname = recent[-2], recent[-1]
            else:
                if opcode.stack_after:
                    recent.append(None)
                if name == "STOP":
                    break
                continue
            module, gname = _normalise(module, gname, proto)
            check_name(module, gname)
            result.globals.append(f"{module}.{gname}")
            recent.append(None)
            if (module, gname) in _JOBLIB_WRAPPERS:
                # Raw array bytes follow this wrapper's BUILD; genops would read
                # them as opcodes (and invent globals). Stop here.
                result.complete = False
                result.joblib_arrays = True
                break
    except ForbiddenGlobal:
        raise
    except Exception:
        result.complete = False
    return result


class _Guards:
    """What both unpicklers share: the allow-list and the BUILD guard."""

    _globals: dict[int, str]  # id of every object find_class returned → its name
    globals_seen: list[str]
    sklearn_versions: list[str]

    def find_class(self, module: str, name: str) -> Any:
        module, name = _normalise(module, name, self.proto)
        obj = resolve(module, name)  # raises ForbiddenGlobal before any import
        self._globals[id(obj)] = f"{module}.{name}"
        self.globals_seen.append(f"{module}.{name}")
        return obj

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent ids are not allowed in model files")

    def _guarded_build(self) -> None:
        # BUILD on a global (a class or function itself, not an instance)
        # would setattr on it: a pickle could rewrite sklearn classes for
        # every later load in the process. Real model files never do this.
        target = self.stack[-2] if len(self.stack) > 1 else None
        if id(target) in self._globals:
            raise ForbiddenGlobal(self._globals[id(target)], "a model file may not modify it")
        # sklearn's __setstate__ pops ``_sklearn_version``: read it first. The
        # root estimator is built last, so the last one seen is the file's.
        state = self.stack[-1]
        if isinstance(state, dict) and isinstance(state.get("_sklearn_version"), str):
            self.sklearn_versions.append(state["_sklearn_version"])
        pickle._Unpickler.load_build(self)


class _ObjectArrayUnpickler(_Guards, pickle._Unpickler):
    """The nested pickle of a joblib object array, under the same guards."""

    dispatch = pickle._Unpickler.dispatch.copy()

    def __init__(self, file_handle: IO[bytes], parent: RestrictedUnpickler):
        pickle._Unpickler.__init__(self, file_handle)
        self._globals = parent._globals
        self.globals_seen = parent.globals_seen
        self.sklearn_versions = parent.sklearn_versions

    def load_build(self) -> None:
        self._guarded_build()

    dispatch[pickle.BUILD[0]] = load_build


class RestrictedUnpickler(_Guards, NumpyUnpickler):
    """joblib's unpickler with the allow-list in ``find_class`` and a guarded BUILD.

    joblib's own ``load_build`` would read object arrays with a plain nested
    ``Unpickler``; we read them with :class:`_ObjectArrayUnpickler` so the
    nested stream gets the BUILD guard too.
    """

    dispatch = NumpyUnpickler.dispatch.copy()

    def __init__(self, filename: str, file_handle: IO[bytes]):
        NumpyUnpickler.__init__(self, filename, file_handle, ensure_native_byte_order=True)
        self._globals = {}
        self.globals_seen = []
        self.sklearn_versions = []

    def load_build(self) -> None:
        self._guarded_build()
        wrapper = self.stack[-1]
        if isinstance(wrapper, NumpyArrayWrapper):
            self.stack[-1] = self._read_array(wrapper)

    dispatch[pickle.BUILD[0]] = load_build

    def _read_array(self, wrapper: NumpyArrayWrapper) -> Any:
        import numpy as np

        if wrapper.subclass is not np.ndarray:  # joblib would construct the subclass
            raise ForbiddenGlobal(repr(wrapper.subclass), "arrays must be plain ndarrays")
        if isinstance(wrapper.dtype, np.dtype) and wrapper.dtype.hasobject:
            array = _ObjectArrayUnpickler(self.file_handle, self).load()
            if not isinstance(array, np.ndarray):
                raise pickle.UnpicklingError("an object array did not hold an array")
            return array
        return wrapper.read(self, self.ensure_native_byte_order)


@dataclass
class PickleLoad:
    obj: Any
    globals: list[str]
    sklearn_version: str | None
    joblib_arrays: bool


def load_pickle(path: str, do_prescan: bool = True) -> PickleLoad:
    """Pre-scan then load a pickle/joblib file with the allow-list.

    Raises ``ForbiddenGlobal`` or ``NotAPickle``.
    """
    if do_prescan:
        with open_pickle_stream(path) as stream:
            prescan(stream)
    with open_pickle_stream(path) as stream:
        unpickler = RestrictedUnpickler(path, stream)
        try:
            obj = unpickler.load()
        except ForbiddenGlobal:
            raise
        except MemoryError:
            raise
        except ModuleNotFoundError as exc:
            raise NotAPickle(
                f"the model needs the module {exc.name!r}, which this platform does not have "
                "(saved with another scikit-learn version?)"
            ) from None
        except ImportError as exc:
            if "map" in str(exc) or "memory" in str(exc).lower():
                # the address-space limit hit while loading a library
                raise MemoryError(str(exc)) from None
            raise NotAPickle(f"cannot import what the model needs: {exc}") from None
        except Exception as exc:
            raise NotAPickle(f"cannot read the pickle: {exc.__class__.__name__}: {exc}") from None
    joblib_arrays = any(tuple(g.rsplit(".", 1)) in _JOBLIB_WRAPPERS for g in unpickler.globals_seen)
    version = unpickler.sklearn_versions[-1] if unpickler.sklearn_versions else None
    return PickleLoad(obj, unpickler.globals_seen, version, joblib_arrays)
