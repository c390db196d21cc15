"""The one allow-list of globals a model file may reference.

Policy
======

A pickle (and so a joblib file) is a small program: its ``GLOBAL`` /
``STACK_GLOBAL`` opcodes import any callable and its ``REDUCE`` opcode calls
it, which is how ``os.system("...")`` hides in a "model". We therefore never
resolve a global unless it is on this list, and we decide *before* anything is
imported or called (``RestrictedUnpickler.find_class`` and the opcode
pre-scan both ask :func:`check_name` first).

Allowed, and nothing else:

* **scikit-learn classes**: ``sklearn.<module>.<Name>`` where the resolved
  object is a *class* whose own ``__module__`` is inside ``sklearn`` (a name
  re-exported into a sklearn module from elsewhere, e.g. a ``Popen`` imported
  by a helper module, is refused). Test, externals and experimental-switch
  modules are refused outright.
* **scikit-learn functions, only these**: Cython pickling helpers
  ``__pyx_unpickle_<Class>`` (they only rebuild that class), the metric
  functions of ``sklearn.metrics`` (pure computations a fitted ``GridSearchCV``
  keeps in its scorer), and the explicit helpers in ``ALLOWED_GLOBALS``
  (``neighbors`` trees' ``newObj``, ``utils.validation.check_array`` that
  HistGradientBoosting wraps in a ``partial``). Any other function is refused,
  even sklearn's: ``sklearn.datasets.dump_svmlight_file(X, y, "~/.bashrc")``
  writes files, ``fetch_*`` downloads.
* **numpy**: the array reconstructors and types that ``ndarray.__reduce__``
  and numpy scalars emit (``_reconstruct``, ``scalar``, ``_frombuffer``,
  ``ndarray``, ``dtype``, ``dtypes.*DType``, masked arrays, scalar types such as ``numpy.float64``
  that estimators keep as a ``dtype`` parameter), under both ``numpy.core`` (numpy 1)
  and ``numpy._core`` (numpy 2); the ``numpy.random`` bit-generator pickling
  helpers and classes that sklearn's ``random_state`` attributes produce;
  numpy **ufuncs** (``numpy.log1p``...: element-wise maths, common in
  ``FunctionTransformer``).
* **scipy.sparse** matrix/array classes (sparse coefficients, one-hot output).
* **joblib**: ``NumpyArrayWrapper`` (joblib's raw-array placeholder; its
  bytes are read as data, never unpickled). Not the pre-0.10
  ``NDArrayWrapper``: it names a side file by path.
* **stdlib**: ``collections.OrderedDict``, ``copyreg._reconstructor``,
  ``functools.partial`` (it can only bind allowed callables),
  ``_codecs.encode`` (protocol-2 bytes) and inert ``builtins`` types
  (dict, list, set, frozenset, tuple, slice, complex, bytearray, bytes, str,
  int, float, bool, object). ``getattr``, ``eval``, ``exec``, ``__import__``,
  ``open``... are not types we allow: anything not named here is refused.

Anything else is rejected with the offending ``module.name`` so the user sees
exactly why (``InvalidModelFile: forbidden global 'posix.system'``).

The same list vets skops files (``skops.io.get_untrusted_types``): a type
string is trusted only if :func:`is_allowed_type_name` accepts it.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Exact ``(module, name)`` pairs allowed besides sklearn classes.
ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    [
        # numpy arrays and scalars (numpy 1 and numpy 2 module paths)
        *[
            (mod, name)
            for mod in ("numpy.core.multiarray", "numpy._core.multiarray")
            for name in ("_reconstruct", "scalar")
        ],
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        # numpy.random state held by estimators fitted with a RandomState
        ("numpy.random._pickle", "__randomstate_ctor"),
        ("numpy.random._pickle", "__bit_generator_ctor"),
        ("numpy.random._pickle", "__generator_ctor"),
        ("numpy.random.mtrand", "RandomState"),
        ("numpy.random._generator", "Generator"),
        ("numpy.random._mt19937", "MT19937"),
        ("numpy.random._pcg64", "PCG64"),
        ("numpy.random._pcg64", "PCG64DXSM"),
        ("numpy.random._philox", "Philox"),
        ("numpy.random._sfc64", "SFC64"),
        ("numpy.ma.core", "_mareconstruct"),  # masked arrays in GridSearchCV.cv_results_
        ("numpy.ma.core", "MaskedArray"),
        ("numpy.ma", "MaskedArray"),
        ("numpy.ma.core", "MaskedConstant"),
        ("numpy.random.bit_generator", "SeedSequence"),
        ("numpy.random.bit_generator", "__pyx_unpickle_SeedSequence"),
        # sklearn functions that real model files contain
        ("sklearn.neighbors._kd_tree", "newObj"),
        ("sklearn.neighbors._ball_tree", "newObj"),
        ("sklearn.utils.validation", "check_array"),
        # joblib's array placeholders
        ("joblib.numpy_pickle", "NumpyArrayWrapper"),
        # stdlib
        ("collections", "OrderedDict"),
        ("copyreg", "_reconstructor"),
        ("functools", "partial"),
        ("_codecs", "encode"),
        *[
            ("builtins", name)
            for name in (
                "dict",
                "list",
                "set",
                "frozenset",
                "tuple",
                "slice",
                "complex",
                "bytearray",
                "bytes",
                "str",
                "int",
                "float",
                "bool",
                "object",
            )
        ],
    ]
)

#: numpy scalar dtypes classes (``numpy.dtypes.Float64DType`` ...) are inert types.
_NUMPY_DTYPES_MODULES = ("numpy.dtypes",)

#: scipy.sparse container classes live in these private modules.
_SCIPY_SPARSE_PREFIX = "scipy.sparse."

#: sklearn modules never allowed, even for classes (tests, vendored code, switches).
_SKLEARN_FORBIDDEN_PARTS = (
    "tests",
    "externals",
    "experimental",
    "conftest",
    "_testing",
    "_build_utils",
)


class ForbiddenGlobal(Exception):
    """A model file references a global outside the allow-list."""

    def __init__(self, qualified: str, why: str = "not in the allow-list"):
        self.qualified = qualified
        super().__init__(f"forbidden global {qualified!r} ({why})")


def _is_sklearn_module(module: str) -> bool:
    if module != "sklearn" and not module.startswith("sklearn."):
        return False
    parts = module.split(".")
    return not any(part in _SKLEARN_FORBIDDEN_PARTS for part in parts)


def _is_scipy_sparse_module(module: str) -> bool:
    return module.startswith(_SCIPY_SPARSE_PREFIX) and ".tests" not in module


def _is_pyx_unpickle(name: str) -> bool:
    return name.startswith("__pyx_unpickle_") and name[15:].isidentifier()


def check_name(module: str, name: str) -> None:
    """Decide on names alone, importing nothing. Raises ``ForbiddenGlobal``.

    Names outside the exact list that pass here (sklearn, numpy, scipy.sparse)
    are checked again once resolved (:func:`resolve`).
    """
    qualified = f"{module}.{name}"
    # Dotted names (protocol 4 qualnames) reach attributes of attributes:
    # a class attribute can be any object, so only plain names are accepted.
    if not name or "." in name or not module:
        raise ForbiddenGlobal(qualified, "nested names are not allowed")
    if (module, name) in ALLOWED_GLOBALS:
        return
    if module in _NUMPY_DTYPES_MODULES and name.endswith("DType"):
        return
    if module == "numpy" and not name.startswith("_"):  # scalar types and ufuncs
        return
    if _is_sklearn_module(module) and (not name.startswith("__") or _is_pyx_unpickle(name)):
        return
    if _is_scipy_sparse_module(module) and not name.startswith("_"):
        return
    raise ForbiddenGlobal(qualified)


def _allowed_object(module: str, name: str, obj: Any) -> bool:
    """What a name outside the exact list must resolve to."""
    defined_in = getattr(obj, "__module__", "") or ""
    if isinstance(obj, type):
        if module in _NUMPY_DTYPES_MODULES:
            return defined_in.startswith("numpy")
        if module == "numpy":
            import numpy as np

            return issubclass(obj, np.generic)  # np.float64 ... (an estimator's dtype=)
        if _is_sklearn_module(module):
            return _is_sklearn_module(defined_in)
        if _is_scipy_sparse_module(module):
            from scipy.sparse import sparray, spmatrix

            return issubclass(obj, (spmatrix, sparray))
        return False
    if module == "numpy":
        import numpy as np

        return isinstance(obj, np.ufunc)
    if _is_sklearn_module(module) and callable(obj):
        if _is_pyx_unpickle(name):
            return _is_sklearn_module(defined_in)
        # metric functions only, defined (not re-exported) in sklearn.metrics
        return module.startswith("sklearn.metrics") and defined_in.startswith("sklearn.metrics")
    return False


def resolve(module: str, name: str) -> Any:
    """Import and return an allowed global, re-checking what it resolved to."""
    check_name(module, name)
    qualified = f"{module}.{name}"
    obj = getattr(importlib.import_module(module), name, None)
    if obj is None:
        raise ForbiddenGlobal(qualified, "no such attribute")
    if (module, name) in ALLOWED_GLOBALS or _allowed_object(module, name, obj):
        return obj
    kind = "class" if isinstance(obj, type) else type(obj).__name__
    where = getattr(obj, "__module__", None) or "?"
    raise ForbiddenGlobal(qualified, f"a {kind} from {where} is not allowed")


def is_allowed_type_name(type_name: str) -> bool:
    """For skops: ``"sklearn.tree._tree.Tree"`` → allowed? (imports to check)."""
    module, _, name = type_name.rpartition(".")
    try:
        resolve(module, name)
    except (ForbiddenGlobal, ImportError, ValueError):
        return False
    return True
