"""Test support for the runner: fake registry/deployer, model and input factories,
fixtures for a runner container and an RPC client (used by tests/*/test_runner_* and
tests/*/test_executions_*; import the fixtures you use by name)."""

from __future__ import annotations

import io
import json
import time
import uuid

import joblib
import numpy as np
import pandas as pd
import pytest
from nameko.rpc import rpc
from nameko.standalone.rpc import ClusterRpcProxy

from services.runner.service import RunnerService
from shared.artifacts import ArtifactStore
from shared.errors import EXPECTED, NotFound

# The fakes' state, keyed by unique ids, so tests never collide.
MODELS: dict[str, dict] = {}
DEPLOYMENTS: dict[str, dict] = {}
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


class FakeRegistry:
    name = "registry"

    @rpc(expected_exceptions=EXPECTED)
    def get_model(self, model_id):
        if model_id not in MODELS:
            raise NotFound("no such model", {"id": model_id})
        return MODELS[model_id]

    @rpc(expected_exceptions=EXPECTED)
    def get_file(self, model_id):
        model = self.get_model(model_id)
        if not model.get("file"):
            raise NotFound("no file", {"id": model_id})
        return model["file"]


class FakeDeployer:
    name = "deployer"

    @rpc(expected_exceptions=EXPECTED)
    def get_deployment(self, deployment_id):
        if deployment_id not in DEPLOYMENTS:
            raise NotFound("no such deployment", {"id": deployment_id})
        return DEPLOYMENTS[deployment_id]


# -- factories --------------------------------------------------------------------


def iris_frame() -> tuple[pd.DataFrame, pd.Series]:
    from sklearn.datasets import load_iris

    x, y = load_iris(return_X_y=True, as_frame=True)
    x.columns = FEATURES
    return x, y


def iris_model():
    from sklearn.linear_model import LogisticRegression

    x, y = iris_frame()
    return LogisticRegression(max_iter=500).fit(x, y)


def regression_model():
    from sklearn.linear_model import Ridge

    x, y = iris_frame()
    return Ridge().fit(x[FEATURES[:3]], x["petal_width"])


def onnx_bytes(model, n_features: int) -> bytes:
    from skl2onnx import to_onnx

    sample = np.zeros((1, n_features), dtype=np.float32)
    return to_onnx(model.__class__(**model.get_params()).fit(
        iris_frame()[0].to_numpy(np.float32)[:, :n_features], iris_frame()[1]), sample,
        target_opset=17).SerializeToString()


def joblib_bytes(model) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return buffer.getvalue()


def schema(names=FEATURES):
    return [{"name": n, "type": "float"} for n in names]


@pytest.fixture
def store(mongo_db):
    return ArtifactStore(mongo_db)


@pytest.fixture
def make_model(store):
    def make(model=None, data: bytes | None = None, fmt="joblib", names=FEATURES, with_file=True):
        model_id = uuid.uuid4().hex[:24]
        entry = {"id": model_id, "name": f"m-{model_id[:6]}", "version": "1.0.0",
                 "input_schema": schema(names), "file": None}
        if with_file:
            data = data if data is not None else joblib_bytes(model or iris_model())
            ref = store.put_bytes(data, f"model.{fmt}")
            entry["file"] = {"artifact_id": ref.id, "sha256": ref.sha256, "format": fmt,
                             "filename": ref.filename, "size": ref.size,
                             "content_type": "application/octet-stream"}
        MODELS[model_id] = entry
        return entry

    return make


@pytest.fixture
def make_deployment():
    def make(model, status="active", parameters=None, input_=None):
        deployment_id = uuid.uuid4().hex[:24]
        DEPLOYMENTS[deployment_id] = {"id": deployment_id, "model_id": model["id"],
                                      "status": status, "parameters": parameters or {},
                                      "input": input_}
        return DEPLOYMENTS[deployment_id]

    return make


def upload(store, frame: pd.DataFrame | None, fmt: str, raw: bytes | None = None) -> dict:
    if raw is None:
        buffer = io.BytesIO()
        if fmt == "csv":
            frame.to_csv(buffer, index=False)
        elif fmt == "json":
            buffer.write(frame.to_json(orient="records").encode())
        else:
            frame.to_parquet(buffer, index=False)
        raw = buffer.getvalue()
    return store.put_bytes(raw, f"input.{fmt}").to_dict()


@pytest.fixture
def runner_config(service_config):
    return {**service_config, "RUNNER_SLOTS": 2, "RUNNER_MEMORY_MB": 2048,
            "RUNNER_LEASE_S": 3, "RUNNER_KILL_GRACE_S": 1, "RUNNER_LOST_AFTER_S": 60,
            "max_workers": 20}


@pytest.fixture
def runner(container_factory, runner_config):
    for fake in (FakeRegistry, FakeDeployer):
        container_factory(fake, runner_config).start()
    container = container_factory(RunnerService, runner_config)
    container.start()
    return container


@pytest.fixture
def cluster(runner_config):
    with ClusterRpcProxy(runner_config, timeout=30,
                         context_data={"username": "alice", "request_id": "t1"}) as proxy:
        yield proxy


def wait_final(cluster, execution_id, timeout=60.0, statuses=("succeeded", "failed",
                                                              "cancelled", "timed_out")):
    deadline = time.monotonic() + timeout
    while True:
        execution = cluster.runner.get_execution(execution_id)
        if execution["status"] in statuses:
            return execution
        if time.monotonic() > deadline:
            raise AssertionError(f"execution still {execution['status']}: {execution}")
        time.sleep(0.2)


def result_frame(cluster, store, execution_id) -> pd.DataFrame:
    result = cluster.runner.get_result(execution_id)
    data = b"".join(store.iter_chunks(result["artifact_id"]))
    if result["format"] == "csv":
        return pd.read_csv(io.BytesIO(data))
    if result["format"] == "json":
        return pd.DataFrame.from_records(json.loads(data))
    return pd.read_parquet(io.BytesIO(data))


def all_logs(cluster, execution_id) -> list[dict]:
    return cluster.runner.get_logs(execution_id, 0)["lines"]


def slow_input(rows: int = 20_000) -> pd.DataFrame:
    x, _ = iris_frame()
    return pd.concat([x] * (rows // len(x) + 1), ignore_index=True).iloc[:rows]


def old_sklearn_bytes(model) -> bytes:
    """The joblib file of ``model`` as if saved by scikit-learn 1.0.2 (same-length
    version string: the pickle stays valid), to provoke the version warning."""
    import sklearn

    data = joblib_bytes(model)
    current = sklearn.__version__.encode()
    assert len(current) == 5, "adjust the fake version to the length of the real one"
    return data.replace(current, b"1.0.2")
