"""The runner service against the real broker and database, with the registry and
the deployer replaced by small fakes. Child processes are real."""

from __future__ import annotations

import time

import numpy as np
import pytest
import requests
from nameko.standalone.events import event_dispatcher

from services.runner.service import RunnerService
from shared.errors import Conflict, InvalidInputData, NotFound, ValidationError
from shared.testing.runner import (
    DEPLOYMENTS,
    FEATURES,
    FakeDeployer,
    FakeRegistry,
    all_logs,
    iris_frame,
    iris_model,
    old_sklearn_bytes,
    onnx_bytes,
    regression_model,
    result_frame,
    slow_input,
    upload,
    wait_final,
)

pytestmark = pytest.mark.service
pytest_plugins = ["shared.testing.runner"]

# -- batch runs: predictions equal the local model's -------------------------------


def test_iris_csv_with_probabilities_matches_local_model(runner, cluster, make_model, store):
    local = iris_model()
    model = make_model(local)
    x, _ = iris_frame()
    ref = upload(store, x, "csv")
    execution = cluster.runner.create_execution({
        "model_id": model["id"], "input": {"artifact": ref}, "trigger": "manual",
        "parameters": {"predict_proba": True, "batch_size": 40, "threshold": 0.3}})
    assert execution["status"] == "queued"
    assert execution["created_by"] == "alice"
    assert execution["parameters"]["threshold"] == 0.3
    assert execution["unused_parameters"] == ["threshold"]

    done = wait_final(cluster, execution["id"])
    assert done["status"] == "succeeded", done
    assert done["result"]["rows"] == 150 and done["input"]["rows"] == 150
    assert done["duration_s"] > 0 and done["rows_per_second"] > 0
    assert done["peak_memory_mb"] > 10 and done["attempt"] == 1
    frame = result_frame(cluster, store, execution["id"])
    assert list(frame.columns) == FEATURES + ["prediction", "proba_0", "proba_1", "proba_2"]
    assert (frame["prediction"].to_numpy() == local.predict(x)).all()
    np.testing.assert_allclose(frame[["proba_0", "proba_1", "proba_2"]].to_numpy(),
                               local.predict_proba(x), rtol=1e-6)

    messages = [line["message"] for line in all_logs(cluster, execution["id"])]
    assert any("threshold" in m and "not used by the runner" in m for m in messages)
    observability = next(d for d in runner.dependencies if d.attr_name == "observability")
    text = requests.get(f"http://127.0.0.1:{observability.port}/metrics", timeout=5).text
    assert 'ml_runner_executions_total{status="succeeded",trigger="manual"}' in text
    assert "ml_runner_rows_scored_total" in text
    assert 'ml_runner_execution_duration_seconds_count{status="succeeded"}' in text
    assert any("batch 1 of 4" in m for m in messages)
    assert any("batch 4 of 4" in m for m in messages)


def test_regression_json_input_parquet_output(runner, cluster, make_model, store):
    local = regression_model()
    model = make_model(local, names=FEATURES[:3])
    x, _ = iris_frame()
    ref = upload(store, x[FEATURES[:3]], "json")
    execution = cluster.runner.create_execution({
        "model_id": model["id"], "input": {"artifact": ref},
        "parameters": {"output_format": "parquet"}})
    done = wait_final(cluster, execution["id"])
    assert done["status"] == "succeeded", done
    assert done["result"]["format"] == "parquet"
    frame = result_frame(cluster, store, execution["id"])
    np.testing.assert_allclose(frame["prediction"], local.predict(x[FEATURES[:3]]), rtol=1e-9)


def test_onnx_model_parquet_input_json_output(runner, cluster, make_model, store):
    from sklearn.linear_model import LogisticRegression

    data = onnx_bytes(LogisticRegression(max_iter=500), 4)
    model = make_model(data=data, fmt="onnx")
    x, _ = iris_frame()
    ref = upload(store, x, "parquet")
    execution = cluster.runner.create_execution({
        "model_id": model["id"], "input": {"artifact": ref},
        "parameters": {"output_format": "json", "predict_proba": True}})
    done = wait_final(cluster, execution["id"])
    assert done["status"] == "succeeded", done
    frame = result_frame(cluster, store, execution["id"])

    import onnxruntime

    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    expected = session.run(None, {session.get_inputs()[0].name: x.to_numpy(np.float32)})[0]
    assert (frame["prediction"].to_numpy() == expected).all()
    assert {"proba_0", "proba_1", "proba_2"} <= set(frame.columns)


def test_inline_rows_and_csv_result_download(runner, cluster, make_model, store):
    local = iris_model()
    model = make_model(data=old_sklearn_bytes(local))  # saved by "scikit-learn 1.0.2"
    x, _ = iris_frame()
    rows = x.head(5).to_dict(orient="records")
    execution = cluster.runner.create_execution({"model_id": model["id"],
                                                 "input": {"rows": rows}})
    assert execution["input"]["rows"] == 5
    done = wait_final(cluster, execution["id"])
    assert done["status"] == "succeeded", done
    frame = result_frame(cluster, store, execution["id"])
    assert (frame["prediction"].to_numpy() == local.predict(x.head(5))).all()
    result = cluster.runner.get_result(execution["id"])
    assert result["content_type"] == "text/csv" and result["size"] == done["result"]["size"]
    warnings = [line["message"] for line in all_logs(cluster, execution["id"])
                if line["level"] == "WARNING"]
    assert any("saved with scikit-learn 1.0.2" in m for m in warnings), warnings
    assert any("InconsistentVersionWarning" in m for m in warnings), warnings


# -- refused at request time ---------------------------------------------------------


def test_request_time_checks(runner, cluster, make_model, store):
    model = make_model()
    # unreadable CSV: the line is named
    bad = b"sepal_length,sepal_width,petal_length,petal_width\n1,2,3,4\n1,2,3,4,5,6\n"
    with pytest.raises(InvalidInputData) as exc:
        cluster.runner.create_execution({"model_id": model["id"],
                                         "input": {"artifact": upload(store, None, "csv", bad)}})
    assert "line 3" in exc.value.message
    # columns missing from the model's input_schema are named
    x, _ = iris_frame()
    with pytest.raises(InvalidInputData) as exc:
        cluster.runner.create_execution({"model_id": model["id"], "input": {
            "artifact": upload(store, x[FEATURES[:2]], "parquet")}})
    assert exc.value.details["missing_columns"] == FEATURES[2:]
    with pytest.raises(InvalidInputData) as exc:
        cluster.runner.create_execution({"model_id": model["id"],
                                         "input": {"rows": [{"sepal_length": 1}]}})
    assert "petal_width" in exc.value.message
    # bad parameter values name the parameter
    for name, value in (("batch_size", 0), ("timeout_s", "soon"), ("output_format", "xls"),
                        ("predict_proba", "maybe")):
        with pytest.raises(ValidationError) as exc:
            cluster.runner.create_execution({"model_id": model["id"], "parameters": {name: value},
                                             "input": {"rows": [dict.fromkeys(FEATURES, 1)]}})
        assert f"parameters.{name}" in exc.value.details
    # a model without a file → conflict; an unknown model → not found
    bare = make_model(with_file=False)
    with pytest.raises(Conflict):
        cluster.runner.create_execution({"model_id": bare["id"],
                                         "input": {"rows": [dict.fromkeys(FEATURES, 1)]}})
    with pytest.raises(NotFound):
        cluster.runner.create_execution({"model_id": "nope", "input": {"rows": [{}]}})
    with pytest.raises(NotFound):
        cluster.runner.get_execution("not-an-id")


# -- failures of the run itself ---------------------------------------------------------


def test_model_that_raises_fails_with_last_line_and_traceback(runner, cluster, make_model):
    model = make_model()
    rows = [{**dict.fromkeys(FEATURES, 1.0), "petal_width": None}]  # NaN: rejected by the model
    execution = cluster.runner.create_execution({"model_id": model["id"], "input": {"rows": rows}})
    done = wait_final(cluster, execution["id"])
    assert done["status"] == "failed"
    assert done["error"].startswith("ValueError: Input X contains NaN")
    assert "\n" not in done["error"]
    messages = [line["message"] for line in all_logs(cluster, execution["id"])]
    # the model's error, never the platform's traceback (tests/service/test_runner_hardening.py)
    assert any(m.startswith("ValueError: Input X contains NaN") for m in messages)
    assert not any("Traceback" in m or "site-packages" in m for m in messages)


def test_timeout(runner, cluster, make_model, store):
    model = make_model()
    ref = upload(store, slow_input(), "csv")
    execution = cluster.runner.create_execution({
        "model_id": model["id"], "input": {"artifact": ref},
        "parameters": {"batch_size": 1, "timeout_s": 2}})
    done = wait_final(cluster, execution["id"], timeout=30)
    assert done["status"] == "timed_out", done
    assert "timed out after 2 s" in done["error"]
    assert done["duration_s"] < 10


def test_memory_limit(container_factory, runner_config, cluster, make_model, store):
    config = {**runner_config, "RUNNER_MEMORY_MB": 900}
    for fake in (FakeRegistry, FakeDeployer):
        container_factory(fake, config).start()
    container_factory(RunnerService, config).start()
    model = make_model()
    big = slow_input(1_500_000)
    ref = upload(store, big, "parquet")
    execution = cluster.runner.create_execution({
        "model_id": model["id"], "input": {"artifact": ref},
        "parameters": {"batch_size": 100_000_000, "predict_proba": True,
                       "output_format": "json"}})
    done = wait_final(cluster, execution["id"], timeout=60)
    assert done["status"] == "failed", done
    assert "memory limit" in done["error"], done["error"]


# -- cancel and re-run ---------------------------------------------------------------------


def test_cancel_queued_and_running_then_rerun(container_factory, runner_config, cluster,
                                              make_model, store):
    config = {**runner_config, "RUNNER_SLOTS": 1}
    for fake in (FakeRegistry, FakeDeployer):
        container_factory(fake, config).start()
    container_factory(RunnerService, config).start()
    model = make_model()
    ref = upload(store, slow_input(), "csv")
    slow = {"model_id": model["id"], "input": {"artifact": ref}, "parameters": {"batch_size": 1}}
    first = cluster.runner.create_execution(slow)
    second = cluster.runner.create_execution(slow)
    wait_final(cluster, first["id"], statuses=("running",))

    cancelled = cluster.runner.cancel_execution(second["id"])  # queued: at once
    assert cancelled["status"] == "cancelled"
    with pytest.raises(Conflict):
        cluster.runner.cancel_execution(second["id"])

    # wait until the child really scores, then cancel the running one
    deadline = time.monotonic() + 30
    while not any("batch 1" in ln["message"] for ln in all_logs(cluster, first["id"])):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    started = time.monotonic()
    assert cluster.runner.cancel_execution(first["id"])["cancel_requested"] is True
    done = wait_final(cluster, first["id"], timeout=15)
    assert done["status"] == "cancelled" and time.monotonic() - started < 5

    # re-run: same model, parameters and input; small batches now so it ends quickly
    again = cluster.runner.rerun_execution(first["id"])
    assert again["trigger"] == "rerun" and again["rerun_of"] == first["id"]
    assert again["parameters"] == first["parameters"]
    assert again["input"]["filename"] == "input.csv"
    assert again["created_by"] == "alice"
    cluster.runner.cancel_execution(again["id"])
    listed = cluster.runner.list_executions({"model_id": model["id"], "status": "cancelled"})
    assert listed["total"] == 3
    assert cluster.runner.list_executions({"trigger": "rerun"})["items"][0]["id"] == again["id"]


def test_rerun_and_log_paging(runner, cluster, make_model):
    model = make_model()
    rows = [dict.fromkeys(FEATURES, 1.0)] * 3
    first = cluster.runner.create_execution({"model_id": model["id"], "input": {"rows": rows},
                                             "parameters": {"batch_size": 1}})
    wait_final(cluster, first["id"])
    again = cluster.runner.rerun_execution(first["id"])
    done = wait_final(cluster, again["id"])
    assert done["status"] == "succeeded" and done["result"]["rows"] == 3

    everything = cluster.runner.get_logs(first["id"], 0)
    numbers = [line["n"] for line in everything["lines"]]
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= 4
    page = cluster.runner.get_logs(first["id"], 2, 2)
    assert [line["n"] for line in page["lines"]] == [3, 4] and page["next"] == 4
    tail = cluster.runner.get_logs(first["id"], everything["next"])
    assert tail == {"lines": [], "next": everything["next"], "status": "succeeded"}
    assert everything["lines"][0]["ts"].endswith("Z")


# -- deployments, the scheduler's requests, online prediction -----------------------------


def test_deployment_run_merges_parameters_and_uses_its_dataset(
        runner, cluster, make_model, make_deployment, store, runner_config):
    model = make_model()
    x, _ = iris_frame()
    ref = upload(store, x, "csv")
    deployment = make_deployment(model, parameters={"predict_proba": True, "owner": "ops"},
                                 input_={"artifact_id": ref["id"], "filename": "input.csv",
                                         "rows": 150, "columns": FEATURES, "format": "csv"})
    execution = cluster.runner.create_execution({
        "deployment_id": deployment["id"], "parameters": {"output_format": "json"},
        "input": None})
    assert execution["deployment_id"] == deployment["id"]
    assert execution["parameters"] == {"predict_proba": True, "owner": "ops",
                                       "output_format": "json"}
    done = wait_final(cluster, execution["id"])
    assert done["status"] == "succeeded", done
    assert "proba_2" in result_frame(cluster, store, execution["id"]).columns

    # the scheduler's request: a redelivery never makes a second execution
    payload = {"deployment_id": deployment["id"], "slot": "2026-01-01T00:00:00Z",
               "trigger": "schedule", "idempotency_key": f"{deployment['id']}:2026-01-01"}

    dispatch = event_dispatcher(runner_config)
    dispatch("scheduler", "execution_requested", payload)
    dispatch("scheduler", "execution_requested", payload)
    deadline = time.monotonic() + 20
    while True:
        listed = cluster.runner.list_executions({"deployment_id": deployment["id"],
                                                 "trigger": "schedule"})
        if listed["total"] and listed["items"][0]["status"] == "succeeded":
            break
        assert time.monotonic() < deadline, listed
        time.sleep(0.3)
    time.sleep(1.0)
    assert cluster.runner.list_executions({"deployment_id": deployment["id"],
                                           "trigger": "schedule"})["total"] == 1


def test_online_prediction(runner, cluster, make_model, make_deployment, runner_config):
    local = iris_model()
    model = make_model(local)
    active = make_deployment(model, parameters={"predict_proba": False})
    inactive = make_deployment(model, status="inactive")
    x, _ = iris_frame()
    instances = x.iloc[[0, 60, 120]].to_dict(orient="records")

    answer = cluster.runner.predict(active["id"], instances)
    assert answer["predictions"] == local.predict(x.iloc[[0, 60, 120]]).tolist()
    answer = cluster.runner.predict(active["id"], instances, {"predict_proba": True})
    assert set(answer["probabilities"][0]) == {"0", "1", "2"}
    np.testing.assert_allclose([p["0"] for p in answer["probabilities"]],
                               local.predict_proba(x.iloc[[0, 60, 120]])[:, 0], rtol=1e-6)

    with pytest.raises(Conflict):
        cluster.runner.predict(inactive["id"], instances)
    with pytest.raises(InvalidInputData) as exc:
        cluster.runner.predict(active["id"], [{"sepal_length": "big", "colour": 1,
                                               "sepal_width": 1, "petal_length": 1}])
    assert exc.value.details["missing_fields"] == ["petal_width"]
    assert exc.value.details["unknown_fields"] == ["colour"]
    assert exc.value.details["non_numeric_fields"] == ["sepal_length"]

    # warm: the second call reuses the model process
    started = time.perf_counter()
    for _ in range(20):
        cluster.runner.predict(active["id"], instances)
    assert (time.perf_counter() - started) / 20 < 0.25
    observability = next(d for d in runner.dependencies
                         if d.__class__.__name__ == "Observability")
    text = requests.get(f"http://127.0.0.1:{observability.port}/metrics", timeout=5).text
    assert "ml_runner_online_prediction_latency_seconds_count" in text
    health = requests.get(f"http://127.0.0.1:{observability.port}/health", timeout=5)
    assert health.status_code == 200
    assert health.json()["checks"] == {"repo": "ok", "runtime": "ok"}

    # stopping the deployment: every replica forgets its copy at once (broadcast event)
    DEPLOYMENTS[active["id"]] = {**active, "status": "inactive"}
    event_dispatcher(runner_config)("deployer", "deployment_stopped",
                                    {"deployment": DEPLOYMENTS[active["id"]]})
    deadline = time.monotonic() + 3
    while True:
        try:
            cluster.runner.predict(active["id"], instances)
        except Conflict:
            break
        assert time.monotonic() < deadline, "a stopped deployment still predicts"
        time.sleep(0.1)


def test_two_replicas_share_the_load(container_factory, runner_config, cluster, make_model,
                                     store):
    config = {**runner_config, "RUNNER_SLOTS": 1}
    for fake in (FakeRegistry, FakeDeployer):
        container_factory(fake, config).start()
    replicas = [container_factory(RunnerService, config) for _ in range(2)]
    for replica in replicas:
        replica.start()
    model = make_model()
    ref = upload(store, slow_input(3000), "csv")
    ids = [cluster.runner.create_execution({"model_id": model["id"], "input": {"artifact": ref},
                                            "parameters": {"batch_size": 100}})["id"]
           for _ in range(4)]
    for execution_id in ids:
        assert wait_final(cluster, execution_id)["status"] == "succeeded"
    runners = {doc["runner_id"] for doc in
               next(d for d in replicas[0].dependencies if d.attr_name == "repo")
               .db.executions.find({}, {"runner_id": 1})}
    assert len(runners) == 2


def test_big_file_checked_on_its_head_then_by_the_run(container_factory, runner_config,
                                                      cluster, make_model, store):
    config = {**runner_config, "RUNNER_INSPECT_MAX_MB": 0.001}  # "big" = over 1 KB
    for fake in (FakeRegistry, FakeDeployer):
        container_factory(fake, config).start()
    container_factory(RunnerService, config).start()
    model = make_model()
    x, _ = iris_frame()
    good = x.to_csv(index=False).encode()
    # the head is fine: queued; the bad line far below is found by the run
    ref = upload(store, None, "csv", good + b"1,2,3,4,5,6\n")
    execution = cluster.runner.create_execution({"model_id": model["id"],
                                                 "input": {"artifact": ref}})
    assert execution["input"]["rows"] is None
    done = wait_final(cluster, execution["id"])
    assert done["status"] == "failed" and "line 152" in done["error"], done["error"]
    # columns are still checked on the head of a big file
    with pytest.raises(InvalidInputData) as exc:
        cluster.runner.create_execution({"model_id": model["id"], "input": {
            "artifact": upload(store, x[FEATURES[1:]], "csv")}})
    assert exc.value.details["missing_columns"] == ["sepal_length"]
