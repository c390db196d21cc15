"""Format detection, the allow-list, the opcode pre-scan and the restricted loader,
on real model files and real malicious pickles generated in a temp dir.

These run the restricted loader in the test process: that is safe precisely
because nothing outside the allow-list is ever resolved (each test asserts
the payload's marker file was not created).
"""

import pickle

import numpy as np
import pytest

from shared.modelfile import detect_format, load_model
from shared.modelfile.allowlist import ForbiddenGlobal, check_name, is_allowed_type_name, resolve
from shared.modelfile.formats import UnrecognisedFormat, detect_file
from shared.modelfile.loader import Rejected, describe, inspect_path, load
from shared.modelfile.unpickler import open_pickle_stream, prescan
from shared.testing import modelfiles as mf


@pytest.fixture(scope="module")
def logreg():
    return mf.fitted_logreg()


@pytest.fixture(scope="module")
def files(tmp_path_factory, logreg):
    d = tmp_path_factory.mktemp("models")
    paths = {
        "joblib": mf.write_joblib(d, logreg),
        **{
            f"joblib_{c}": mf.write_joblib(d, logreg, f"m_{c}.joblib", compress=(c, 3))
            for c in ("zlib", "gzip", "bz2", "lzma", "xz", "lz4")
        },
        "pickle": mf.write_pickle(d, logreg),
        "pickle2": mf.write_pickle(d, logreg, "p2.pkl", protocol=2),
        "skops": mf.write_skops(d, mf.fitted_forest()),
        "onnx": mf.write_onnx(d),
        "forest": mf.write_joblib(d, mf.fitted_forest(), "forest.joblib"),
        "text": mf.write_text(d),
        "random": mf.write_random(d),
        "empty": mf.write_empty(d),
        "dict": mf.write_pickle(d, {"weights": [1, 2, 3]}, "dict.pkl"),
        "array": mf.write_pickle(d, np.arange(10), "array.pkl"),
        "unfitted": mf.write_pickle(
            d, __import__("sklearn.linear_model").linear_model.Ridge(), "unfitted.pkl"
        ),
    }
    paths["truncated"] = d / "truncated.pkl"
    paths["truncated"].write_bytes(paths["pickle"].read_bytes()[:200])
    return paths


@pytest.fixture
def marker(tmp_path):
    return str(tmp_path / "pwned")


# -- detection -------------------------------------------------------------------------


def test_detects_formats_by_magic_bytes(files):
    assert detect_file(files["pickle"]).format == "pickle"
    assert detect_file(files["joblib"]).format == "pickle"  # an uncompressed joblib is a pickle
    for c in ("zlib", "gzip", "bz2", "lzma", "xz", "lz4"):
        detected = detect_file(files[f"joblib_{c}"])
        assert (detected.format, detected.compression) == ("joblib", c)
    assert detect_file(files["skops"]).format == "skops"
    assert detect_file(files["onnx"]).format == "onnx"
    assert detect_format(b'\x04"M\x18\x00').compression == "lz4"


@pytest.mark.parametrize(
    "name,reason",
    [("text", "unrecognised_format"), ("random", "unrecognised_format"), ("empty", "empty_file")],
)
def test_non_models_are_not_recognised(files, name, reason):
    with pytest.raises(UnrecognisedFormat) as caught:
        detect_file(files[name])
    assert caught.value.reason == reason


def test_text_starting_like_zlib_is_not_zlib():
    with pytest.raises(UnrecognisedFormat):
        detect_format(b"xyz is text\n")
    with pytest.raises(UnrecognisedFormat):
        detect_format(b"\x80\x01old protocol")


# -- the allow-list ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "module,name",
    [
        ("sklearn.linear_model._logistic", "LogisticRegression"),
        ("sklearn.tree._tree", "Tree"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "float64"),
        ("numpy", "int32"),
        ("numpy", "dtype"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.random._pickle", "__randomstate_ctor"),
        ("numpy.random._mt19937", "MT19937"),
        ("scipy.sparse._csr", "csr_matrix"),
        ("joblib.numpy_pickle", "NumpyArrayWrapper"),
        ("collections", "OrderedDict"),
        ("copyreg", "_reconstructor"),
        ("functools", "partial"),
        ("numpy", "log1p"),
        ("sklearn.metrics._classification", "f1_score"),
        ("sklearn._loss._loss", "__pyx_unpickle_CyHalfMultinomialLoss"),
        ("_codecs", "encode"),
        ("builtins", "set"),
        ("builtins", "slice"),
        ("builtins", "object"),
    ],
)
def test_allowed_globals_resolve(module, name):
    assert resolve(module, name) is not None


@pytest.mark.parametrize(
    "module,name",
    [
        ("os", "system"),
        ("posix", "system"),
        ("builtins", "eval"),
        ("builtins", "exec"),
        ("builtins", "getattr"),
        ("builtins", "__import__"),
        ("builtins", "open"),
        ("subprocess", "Popen"),
        ("numpy", "load"),
        ("numpy", "memmap"),
        ("numpy", "vectorize"),
        ("numpy", "_core"),
        ("numpy.testing", "assert_equal"),
        ("sklearn.utils", "check_array"),  # a re-export, not the allowed definition
        ("sklearn.datasets", "dump_svmlight_file"),  # a sklearn function that writes files
        ("sklearn.utils", "__pyx_unpickle_Foo"),
        ("sklearn.utils._testing", "TempMemmap"),  # a sklearn test helper class
        ("sklearn.externals.array_api_compat", "numpy"),
        ("sklearn.preprocessing", "__builtins__"),
        ("sklearn.base", "BaseEstimator.__init__"),  # nested attribute
        ("scipy.sparse", "load_npz"),
        ("joblib", "load"),
        ("pickle", "loads"),
        ("copyreg", "__newobj__"),
        ("runpy", "run_path"),
    ],
)
def test_forbidden_globals(module, name):
    with pytest.raises(ForbiddenGlobal) as caught:
        resolve(module, name)
    assert caught.value.qualified == f"{module}.{name}"


def test_reexported_non_sklearn_class_is_refused(monkeypatch):
    import subprocess

    import sklearn.base

    monkeypatch.setattr(sklearn.base, "Popen", subprocess.Popen, raising=False)
    check_name("sklearn.base", "Popen")  # passes on names alone...
    with pytest.raises(ForbiddenGlobal):  # ...but not once resolved
        resolve("sklearn.base", "Popen")


def test_skops_type_names():
    assert is_allowed_type_name("sklearn.tree._tree.Tree")
    assert not is_allowed_type_name("builtins.eval")
    assert not is_allowed_type_name("nonexistent.module.Thing")


# -- pre-scan ---------------------------------------------------------------------


def test_prescan_names_globals_without_loading(files, marker, tmp_path):
    with open_pickle_stream(str(files["pickle"])) as stream:
        scan = prescan(stream)
    assert scan.complete
    assert "sklearn.linear_model._logistic.LogisticRegression" in scan.globals
    for path, offending in [
        (mf.write_os_system(tmp_path, marker), "posix.system"),
        (mf.write_eval(tmp_path, marker), "builtins.eval"),
        (mf.write_popen(tmp_path, marker), "subprocess.Popen"),
    ]:
        with open_pickle_stream(str(path)) as stream, pytest.raises(ForbiddenGlobal) as caught:
            prescan(stream)
        assert caught.value.qualified == offending


def test_prescan_stops_at_joblib_raw_arrays(files):
    with open_pickle_stream(str(files["joblib_zlib"])) as stream:
        scan = prescan(stream)
    assert scan.joblib_arrays and not scan.complete  # genops cannot walk raw array bytes


def test_prescan_tracks_memoized_names():
    # protocol 4, names fetched back from the memo before STACK_GLOBAL
    raw = b"\x80\x04\x8c\x05posix\x94\x8c\x06system\x94\x8c\x01x\x94h\x00h\x01\x93\x94(h\x02tR."
    import io

    with pytest.raises(ForbiddenGlobal) as caught:
        prescan(io.BytesIO(raw))
    assert caught.value.qualified == "posix.system"


# -- restricted loading ------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,fmt",
    [
        ("joblib", "joblib"),
        ("joblib_zlib", "joblib"),
        ("joblib_gzip", "joblib"),
        ("joblib_bz2", "joblib"),
        ("joblib_lzma", "joblib"),
        ("joblib_xz", "joblib"),
        ("joblib_lz4", "joblib"),
        ("pickle", "pickle"),
        ("pickle2", "pickle"),
    ],
)
def test_real_sklearn_files_load(files, logreg, name, fmt):
    loaded = load(str(files[name]))
    assert loaded.format == fmt
    assert type(loaded.obj).__name__ == "LogisticRegression"
    assert loaded.sklearn_version == __import__("sklearn").__version__
    X, _ = mf.iris_frame()
    assert (loaded.obj.predict(X) == logreg.predict(X)).all()


def test_describe_reads_parameters_features_and_classes(files):
    info = describe(load(str(files["joblib_zlib"])))
    assert info["ok"] and info["estimator"] == "LogisticRegression"
    assert info["estimator_path"] == "sklearn.linear_model._logistic.LogisticRegression"
    assert info["parameters"]["C"] == 0.5 and info["parameters"]["max_iter"] == 500
    assert info["feature_names"] == [
        "sepal length (cm)",
        "sepal width (cm)",
        "petal length (cm)",
        "petal width (cm)",
    ]
    assert info["feature_types"] == ["number"] * 4
    assert info["classes"] == [0, 1, 2] and info["n_features"] == 4
    import json

    json.dumps(info, allow_nan=False)


def test_random_forest_with_random_state(files):
    info = describe(load(str(files["forest"])))
    assert info["estimator"] == "RandomForestClassifier"
    assert "RandomState" in info["parameters"]["random_state"]  # repr of a non-JSON value
    assert info["feature_names"] is None and info["n_features"] == 4


def test_skops_and_onnx(files):
    info = describe(load(str(files["skops"])))
    assert (info["format"], info["estimator"]) == ("skops", "RandomForestClassifier")
    assert info["sklearn_version"] == __import__("sklearn").__version__
    info = describe(load(str(files["onnx"])))
    assert info["format"] == "onnx" and info["feature_names"] == ["X"]
    assert info["feature_types"] == ["tensor(float)"] and info["n_features"] == 4
    session = load_model(str(files["onnx"]))
    X, _ = mf.iris_frame()
    labels = session.run(None, {"X": X.values[:3].astype(np.float32)})[0]
    assert list(labels) == [0, 0, 0]


@pytest.mark.parametrize(
    "writer,offending",
    [
        (mf.write_os_system, "posix.system"),
        (mf.write_eval, "builtins.eval"),
        (mf.write_popen, "subprocess.Popen"),
        (mf.write_joblib_with_payload, "posix.system"),
    ],
)
def test_malicious_files_are_rejected_naming_the_global(tmp_path, marker, writer, offending):
    path = writer(tmp_path, marker)
    result = inspect_path(str(path))
    assert result["ok"] is False
    assert result["reason"] == "forbidden_global"
    assert result["offending_global"] == offending
    assert offending in result["message"]
    with pytest.raises(Rejected):
        load_model(str(path))
    assert not (tmp_path / "pwned").exists()


def test_payload_behind_joblib_arrays_is_caught_by_the_loader_not_the_prescan(tmp_path, marker):
    path = mf.write_joblib_with_payload(tmp_path, marker, name="evil_z.joblib")
    with open_pickle_stream(str(path)) as stream:
        assert not prescan(stream).complete  # the pre-scan could not see it
    with pytest.raises(Rejected) as caught:
        load(str(path))
    assert caught.value.offending_global == "posix.system"
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(
    "name,reason,words",
    [
        ("text", "unrecognised_format", "not a recognised model file"),
        ("random", "unrecognised_format", "not a recognised model file"),
        ("empty", "empty_file", "empty"),
        ("dict", "not_a_model", "builtins.dict"),
        ("array", "not_a_model", "numpy.ndarray"),
        ("truncated", "corrupt_file", "not a readable"),
    ],
)
def test_non_models_are_rejected_clearly(files, name, reason, words):
    result = inspect_path(str(files[name]))
    assert result["ok"] is False and result["reason"] == reason
    assert words in result["message"]


def test_unfitted_estimator_is_accepted_with_a_warning(files):
    info = inspect_path(str(files["unfitted"]))
    assert info["ok"] and any("fitted" in w for w in info["warnings"])


def test_malicious_skops_type_is_rejected(tmp_path):
    import json

    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    path = tmp_path / "fn.skops"
    sio.dump(FunctionTransformer(func=json.dumps), path)
    assert "json.dumps" in sio.get_untrusted_types(file=str(path))
    result = inspect_path(str(path))
    assert result["ok"] is False and result["reason"] == "forbidden_global"
    assert result["offending_global"] == "json.dumps"


def test_pickle_of_a_dangerous_sklearn_function_is_rejected(tmp_path):
    from sklearn.datasets import dump_svmlight_file
    from sklearn.preprocessing import FunctionTransformer

    path = tmp_path / "fn.pkl"
    path.write_bytes(pickle.dumps(FunctionTransformer(func=dump_svmlight_file)))
    result = inspect_path(str(path))
    assert result["offending_global"] == "sklearn.datasets._svmlight_format_io.dump_svmlight_file"


def _zoo():
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import GradientBoostingRegressor, HistGradientBoostingClassifier
    from sklearn.model_selection import GridSearchCV
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    X, y = mf.iris_frame()
    df = X.assign(city=np.where(y == 0, "paris", "lyon"))
    prep = ColumnTransformer(
        [("num", StandardScaler(), list(X.columns)), ("cat", OneHotEncoder(), ["city"])]
    )
    return {
        "pipeline": (make_pipeline(prep, HistGradientBoostingClassifier(max_iter=5)), df),
        "hgb_categorical": (
            HistGradientBoostingClassifier(max_iter=5, categorical_features=["city"]),
            df,
        ),
        "gbr": (GradientBoostingRegressor(n_estimators=3), X),
        "knn": (KNeighborsClassifier(), X.values),
        "grid": (
            GridSearchCV(KNeighborsClassifier(), {"n_neighbors": [3]}, cv=2, scoring="f1_macro"),
            X,
        ),
        "log1p": (make_pipeline(FunctionTransformer(np.log1p), KNeighborsClassifier()), X),
    }, y


@pytest.mark.parametrize("name", ["pipeline", "hgb_categorical", "gbr", "knn", "grid", "log1p"])
def test_a_zoo_of_real_models_loads(tmp_path, name):
    models, y = _zoo()
    model, X = models[name]
    model.fit(X, y)
    path = mf.write_joblib(tmp_path, model, name=f"{name}.joblib", compress=3)
    info = describe(load(str(path)))
    assert info["ok"] and info["estimator"] == type(model).__name__
    if name == "pipeline":
        assert info["feature_types"] == ["number"] * 4 + ["string"]
    if name == "hgb_categorical":
        assert info["feature_types"][-1] == "category"
    reloaded = load_model(str(path))
    assert (reloaded.predict(X) == model.predict(X)).all()


def test_build_on_a_class_is_refused(tmp_path):
    # STACK_GLOBAL LogisticRegression, then BUILD (None, {"predict": None}) on the class itself
    module, name = b"sklearn.linear_model._logistic", b"LogisticRegression"
    raw = (
        b"\x80\x04\x8c"
        + bytes([len(module)])
        + module
        + b"\x8c"
        + bytes([len(name)])
        + name
        + b"\x93N}\x8c\x07predictNs\x86b."
    )
    path = tmp_path / "patch.pkl"
    path.write_bytes(raw)
    result = inspect_path(str(path))
    assert result["reason"] == "forbidden_global"
    assert result["offending_global"] == "sklearn.linear_model._logistic.LogisticRegression"
    from sklearn.linear_model import LogisticRegression

    assert callable(LogisticRegression.predict)  # the class was not touched


def test_payload_inside_a_joblib_object_array_is_refused(tmp_path, marker):
    arr = np.empty(3, dtype=object)
    arr[:] = [1, mf.OsSystem(marker), "x"]
    path = mf.write_joblib(tmp_path, {"model": arr, "w": np.ones(10)}, name="objarr.joblib")
    result = inspect_path(str(path))
    assert result["offending_global"] == "posix.system"
    assert not (tmp_path / "pwned").exists()


def test_object_arrays_inside_real_models_still_load(tmp_path):
    from sklearn.preprocessing import OneHotEncoder

    encoder = OneHotEncoder().fit(np.array([["a"], ["b"]], dtype=object))
    loaded = load(str(mf.write_joblib(tmp_path, encoder, name="ohe.joblib")))
    assert [list(c) for c in loaded.obj.categories_] == [["a", "b"]]


def test_legacy_joblib_side_files_are_refused():
    with pytest.raises(ForbiddenGlobal):
        resolve("joblib.numpy_pickle_compat", "NDArrayWrapper")
