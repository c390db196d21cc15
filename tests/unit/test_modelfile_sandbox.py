"""The sandboxed inspector: a child process with a timeout and a memory limit,
fed from a private temp file, that never blocks the eventlet hub."""

import os
import shutil

import eventlet
import pytest

from shared.modelfile import inspect_artifact, inspect_file
from shared.modelfile.sandbox import _child_env
from shared.testing import modelfiles as mf


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return mf.write_joblib(tmp_path_factory.mktemp("sandbox"), mf.fitted_logreg(), compress=3)


def test_child_inspects_a_real_model_without_blocking_the_hub(model_path):
    ticks = []

    def ticker():
        while True:
            ticks.append(1)
            eventlet.sleep(0.01)

    thread = eventlet.spawn(ticker)
    try:
        info = inspect_file(str(model_path))
    finally:
        thread.kill()
    assert info["ok"] is True, info
    assert (info["format"], info["compression"]) == ("joblib", "zlib")
    assert info["estimator"] == "LogisticRegression"
    assert info["sklearn_version"] == __import__("sklearn").__version__
    assert info["parameters"]["C"] == 0.5
    assert len(info["feature_names"]) == 4
    assert len(ticks) > 10  # other green threads ran while the child worked


def test_child_rejects_a_malicious_pickle_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    info = inspect_file(str(mf.write_os_system(tmp_path, str(marker))))
    assert info == {
        "ok": False,
        "reason": "forbidden_global",
        "offending_global": "posix.system",
        "message": "forbidden global 'posix.system' (not in the allow-list)",
    }
    assert not marker.exists()


def test_timeout_kills_the_child(model_path):
    info = inspect_file(str(model_path), timeout_s=0.05)
    assert info["ok"] is False and info["reason"] == "timeout"


def test_memory_limit_applies(model_path):
    # 150 MB of address space is not enough to import scikit-learn.
    info = inspect_file(str(model_path), memory_mb=150)
    assert info["ok"] is False and info["reason"] in ("memory_limit", "crashed")


def test_unrecognised_files_are_refused_before_any_child(tmp_path):
    info = inspect_file(str(mf.write_text(tmp_path)))
    assert info["ok"] is False and info["reason"] == "unrecognised_format"


def test_child_environment_carries_no_service_secrets(monkeypatch, tmp_path):
    monkeypatch.setenv("MONGO_URI", "mongodb://user:secret@db/")
    monkeypatch.setenv("AMQP_URI", "amqp://user:secret@mq/")
    env = _child_env(str(tmp_path))
    assert "MONGO_URI" not in env and "AMQP_URI" not in env
    assert env["OMP_NUM_THREADS"] == "1"


class FakeStore:
    def __init__(self, source):
        self.source = source
        self.paths = []

    def download_to(self, artifact_id, path):
        self.paths.append(path)
        assert os.stat(os.path.dirname(path)).st_mode & 0o077 == 0  # private dir
        shutil.copyfile(self.source, path)


def test_inspect_artifact_uses_a_private_temp_file_and_deletes_it(model_path):
    store = FakeStore(model_path)
    info = inspect_artifact(store, "abc")
    assert info["ok"] is True
    (path,) = store.paths
    assert os.path.basename(path) == "model.bin"  # never the user's file name
    assert not os.path.exists(os.path.dirname(path))
