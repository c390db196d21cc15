"""The sandboxed inspector: a child process with a timeout and a memory limit,
fed from a private temp file, that never blocks the eventlet hub — forked from
the warm zygote, or cold when the zygote is off; both give the same answers."""

import os
import shutil
import signal

import eventlet
import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier

from shared.modelfile import inspect_artifact, inspect_file, sandbox
from shared.modelfile.sandbox import _child_env
from shared.testing import modelfiles as mf


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return mf.write_joblib(tmp_path_factory.mktemp("sandbox"), mf.fitted_logreg(), compress=3)


@pytest.fixture(scope="module")
def slow_model_path(tmp_path_factory):
    """A forest of 400 trees: its inspection takes a tenth of a second or more."""
    X, y = load_iris(return_X_y=True)
    forest = RandomForestClassifier(n_estimators=400, random_state=0).fit(X, y)
    return mf.write_joblib(tmp_path_factory.mktemp("slow"), forest, name="forest.joblib")


@pytest.fixture(scope="module")
def hungry_model_path(tmp_path_factory):
    """A real estimator carrying a 64 MB array: loading it needs that much memory."""
    model = mf.fitted_logreg()
    model.coef_ = np.random.default_rng(0).random((3, 8_000_000))
    return mf.write_joblib(tmp_path_factory.mktemp("hungry"), model, name="hungry.joblib")


@pytest.fixture(params=["zygote", "cold"])
def mode(request, monkeypatch):
    if request.param == "cold":
        monkeypatch.setenv("MODELFILE_ZYGOTE", "0")
    else:
        sandbox.zygote().warm()
    return request.param


def test_child_inspects_a_real_model_without_blocking_the_hub(mode, model_path,
                                                              slow_model_path):
    ticks = []

    def ticker():
        while True:
            ticks.append(1)
            eventlet.sleep(0.01)

    thread = eventlet.spawn(ticker)
    try:
        info = inspect_file(str(model_path))
        slow = inspect_file(str(slow_model_path))
    finally:
        thread.kill()
    assert slow["ok"] is True and slow["estimator"] == "RandomForestClassifier", slow
    assert info["ok"] is True, info
    assert (info["format"], info["compression"]) == ("joblib", "zlib")
    assert info["estimator"] == "LogisticRegression"
    assert info["sklearn_version"] == __import__("sklearn").__version__
    assert info["parameters"]["C"] == 0.5
    assert len(info["feature_names"]) == 4
    assert len(ticks) > 3  # other green threads ran while the children worked


def test_child_rejects_a_malicious_pickle_and_nothing_runs(mode, tmp_path):
    marker = tmp_path / "pwned"
    info = inspect_file(str(mf.write_os_system(tmp_path, str(marker))))
    assert info == {
        "ok": False,
        "reason": "forbidden_global",
        "offending_global": "posix.system",
        "message": "forbidden global 'posix.system' (not in the allow-list)",
    }
    assert not marker.exists()


def test_timeout_kills_the_child(mode, slow_model_path):
    info = inspect_file(str(slow_model_path), timeout_s=0.02)
    assert info["ok"] is False and info["reason"] == "timeout"


def test_memory_limit_applies(mode, hungry_model_path):
    # 150 MB of address space: a cold child cannot even import scikit-learn; a child
    # forked from the zygote (whose libraries already take more) cannot map the array.
    info = inspect_file(str(hungry_model_path), memory_mb=150)
    assert info["ok"] is False and info["reason"] in ("memory_limit", "crashed"), info
    assert inspect_file(str(hungry_model_path))["ok"] is True  # the default limit is enough


def test_each_inspection_is_a_fresh_child_of_the_warm_zygote(model_path, tmp_path):
    server = sandbox.zygote()
    server.warm()
    pids = set()
    for n in range(3):
        job = {"path": str(model_path), "result": str(tmp_path / f"{n}.json"),
               "workdir": str(tmp_path), "memory_mb": 2048}
        pid, code = server.run(job, timeout_s=60)
        assert code == 0 and '"ok": true' in (tmp_path / f"{n}.json").read_text()
        pids.add(pid)
    assert len(pids) == 3 and server.pid not in pids  # one process per file, never the zygote


def test_a_dead_zygote_is_replaced(model_path):
    server = sandbox.zygote()
    server.warm()
    old = server.pid
    os.kill(old, signal.SIGKILL)
    assert inspect_file(str(model_path))["ok"] is True  # a cold child while it restarts
    server.warm()
    assert server.pid not in (None, old)
    assert inspect_file(str(model_path))["ok"] is True


def test_inspections_do_not_wait_for_a_starting_zygote(model_path):
    sandbox.stop_zygote()
    assert inspect_file(str(model_path))["ok"] is True  # cold: the zygote is importing
    sandbox.zygote().warm()
    assert inspect_file(str(model_path))["ok"] is True


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
