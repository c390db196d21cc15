"""Deployments, scheduled and manual runs, end to end over HTTP against the platform
started as `make run` starts it (the ``stack`` fixture).

What a user checks: a model run on 1,000 rows gives the local model's predictions,
with readable logs and downloadable results; a re-run succeeds; a long run is
cancelled within seconds; a run past its timeout ends ``timed_out``; an active
deployment answers online predictions; a deployment scheduled ``* * * * *`` in
Europe/Paris produces one successful scheduled execution per minute.
"""

from __future__ import annotations

import io
import json
import time

import pandas as pd
import pytest
import requests

pytestmark = pytest.mark.e2e

DATASCIENTIST = ("datascientist", "password123")
BUSINESS = ("business", "password123")
VIEWER = ("viewer", "password123")
FINAL = {"succeeded", "failed", "cancelled", "timed_out"}


@pytest.fixture(scope="module")
def iris():
    """A LogisticRegression on iris (trained on a DataFrame) and its file bytes."""
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True, as_frame=True)
    model = LogisticRegression(max_iter=300).fit(X, y)
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return model, X, buffer.getvalue()


@pytest.fixture(scope="module")
def model_id(stack, iris):
    token = stack.token(*DATASCIENTIST)
    metadata = {"name": f"e2e-runs-{time.time_ns()}", "type": "classification",
                "framework": "scikit-learn", "department": "Marketing", "region": "Europe"}
    response = requests.post(stack.api("/models"), headers=stack.auth(token), timeout=60, files={
        "metadata": (None, json.dumps(metadata), "application/json"),
        "file": ("iris.joblib", iris[2], "application/octet-stream"),
    })
    assert response.status_code == 201, response.text
    return response.json()["id"]


def rows_csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def sample(iris, n: int) -> pd.DataFrame:
    X = iris[1]
    return X.sample(n=n, replace=True, random_state=7).reset_index(drop=True)


def run_model(stack, token, model_id, data: bytes, parameters: dict) -> dict:
    response = requests.post(stack.api(f"/models/{model_id}/executions"),
                             headers=stack.auth(token), timeout=60, files={
                                 "file": ("input.csv", data, "text/csv"),
                                 "parameters": (None, json.dumps(parameters), "application/json"),
                             })
    assert response.status_code == 201, response.text
    return response.json()


def wait_for(stack, token, execution_id, statuses, timeout=90.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        execution = requests.get(stack.api(f"/executions/{execution_id}"),
                                 headers=stack.auth(token), timeout=10).json()
        if execution["status"] in statuses:
            return execution
        assert time.monotonic() < deadline, f"still {execution['status']}: {execution}"
        time.sleep(0.3)


def test_run_on_1000_rows_logs_results_and_rerun(stack, iris, model_id):
    token = stack.token(*BUSINESS)
    frame = sample(iris, 1000)
    execution = run_model(stack, token, model_id, rows_csv(frame), {"output_format": "csv"})
    assert execution["status"] in ("queued", "running", "succeeded")
    assert execution["trigger"] in ("manual", "api")
    done = wait_for(stack, token, execution["id"], FINAL)
    assert done["status"] == "succeeded", done
    assert done["result"]["rows"] == 1000
    assert done["duration_s"] > 0

    results = requests.get(stack.api(f"/executions/{done['id']}/results"),
                           headers=stack.auth(token), params={"format": "json"}, timeout=30)
    assert results.status_code == 200, results.text
    scored = pd.DataFrame(results.json())  # JSON records
    assert list(scored["prediction"]) == list(iris[0].predict(frame))

    logs = requests.get(stack.api(f"/executions/{done['id']}/logs"),
                        headers=stack.auth(token), timeout=10).json()
    assert logs["lines"] and logs["next"] == logs["lines"][-1]["n"]
    assert any("1000 rows" in line["message"] for line in logs["lines"])
    later = requests.get(stack.api(f"/executions/{done['id']}/logs"), headers=stack.auth(token),
                         params={"after": logs["lines"][-2]["n"]}, timeout=10).json()
    assert [line["n"] for line in later["lines"]] == [logs["lines"][-1]["n"]]

    rerun = requests.post(stack.api(f"/executions/{done['id']}/rerun"),
                          headers=stack.auth(token), timeout=30)
    assert rerun.status_code == 201, rerun.text
    assert rerun.json()["rerun_of"] == done["id"]
    assert rerun.json()["trigger"] == "rerun"
    assert wait_for(stack, token, rerun.json()["id"], FINAL)["status"] == "succeeded"

    viewer = stack.token(*VIEWER)
    refused = requests.post(stack.api(f"/executions/{done['id']}/rerun"),
                            headers=stack.auth(viewer), timeout=10)
    assert refused.status_code == 403


def slow_input(iris) -> bytes:
    # batch_size 1 over many rows: thousands of predict calls, a run of a minute or more.
    return rows_csv(sample(iris, 60_000))


def test_long_run_is_cancelled_within_seconds(stack, iris, model_id):
    token = stack.token(*BUSINESS)
    execution = run_model(stack, token, model_id, slow_input(iris), {"batch_size": 1})
    wait_for(stack, token, execution["id"], {"running"} | FINAL)
    time.sleep(2.5)  # past model loading, scoring batch after batch
    asked = time.monotonic()
    cancel = requests.post(stack.api(f"/executions/{execution['id']}/cancel"),
                           headers=stack.auth(token), timeout=10)
    assert cancel.status_code == 202, cancel.text
    done = wait_for(stack, token, execution["id"], FINAL, timeout=30)
    assert done["status"] == "cancelled", done
    assert time.monotonic() - asked < 15
    again = requests.post(stack.api(f"/executions/{execution['id']}/cancel"),
                          headers=stack.auth(token), timeout=10)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"


def test_run_past_its_timeout_ends_timed_out(stack, iris, model_id):
    token = stack.token(*DATASCIENTIST)
    execution = run_model(stack, token, model_id, slow_input(iris),
                          {"batch_size": 1, "timeout_s": 4})
    done = wait_for(stack, token, execution["id"], FINAL, timeout=60)
    assert done["status"] == "timed_out", done
    assert done["duration_s"] < 20


def test_deployment_scheduled_every_minute_in_paris_runs_once_per_slot(stack, iris, model_id):
    token = stack.token(*DATASCIENTIST)
    headers = stack.auth(token)
    created = requests.post(stack.api("/deployments"), headers=headers, timeout=10, json={
        "name": f"e2e-minute-{time.time_ns()}", "description": "chaque minute",
        "model_id": model_id, "parameters": {"predict_proba": True},
        "schedule": "* * * * *", "timezone": "Europe/Paris",
    })
    assert created.status_code == 201, created.text
    deployment = created.json()
    assert deployment["status"] == "inactive"
    assert deployment["department"] == "Marketing"

    frame = sample(iris, 5)
    attached = requests.put(stack.api(f"/deployments/{deployment['id']}/input"), headers=headers,
                            files={"file": ("lot.csv", rows_csv(frame), "text/csv")}, timeout=30)
    assert attached.status_code == 200, attached.text
    assert attached.json()["input"]["rows"] == 5

    started = requests.post(stack.api(f"/deployments/{deployment['id']}/start"),
                            headers=headers, timeout=10)
    assert started.status_code == 200, started.text
    assert started.json()["status"] == "active" and started.json()["next_run_at"]

    instance = frame.iloc[0].to_dict()
    predicted = requests.post(stack.api(f"/deployments/{deployment['id']}/predict"),
                              headers=stack.auth(stack.token(*BUSINESS)),
                              json={"instances": [instance]}, timeout=30)
    assert predicted.status_code == 200, predicted.text
    assert predicted.json()["predictions"] == list(iris[0].predict(frame.iloc[:1]))
    viewer = requests.post(stack.api(f"/deployments/{deployment['id']}/predict"),
                           headers=stack.auth(stack.token(*VIEWER)),
                           json={"instances": [instance]}, timeout=10)
    assert viewer.status_code == 403

    # Within the next minute (plus the run itself): one scheduled execution, succeeded.
    deadline = time.monotonic() + 100
    while True:
        listed = requests.get(stack.api("/executions"), headers=headers, timeout=10, params={
            "deployment_id": deployment["id"], "trigger": "schedule"}).json()
        finished = [e for e in listed["items"] if e["status"] in FINAL]
        if finished:
            break
        assert time.monotonic() < deadline, listed
        time.sleep(1)
    assert finished[0]["status"] == "succeeded", finished[0]
    assert finished[0]["result"]["rows"] == 5
    stopped = requests.post(stack.api(f"/deployments/{deployment['id']}/stop"),
                            headers=headers, timeout=10)
    assert stopped.status_code == 200 and stopped.json()["next_run_at"] is None
    listed = requests.get(stack.api("/executions"), headers=headers, timeout=10, params={
        "deployment_id": deployment["id"], "trigger": "schedule", "per_page": 200}).json()
    slots = [e.get("slot") or e["created_at"][:16] for e in listed["items"]]
    assert len(slots) == len(set(slots)), slots  # never two executions for one slot


def test_manual_run_before_start_and_stop_does_not_kill_a_running_execution(
        stack, iris, model_id):
    token = stack.token(*DATASCIENTIST)
    headers = stack.auth(token)
    created = requests.post(stack.api("/deployments"), headers=headers, timeout=10, json={
        "name": f"e2e-stop-{time.time_ns()}", "model_id": model_id,
        "parameters": {"batch_size": 1}, "schedule": "0 3 * * *", "timezone": "Europe/Paris",
    })
    assert created.status_code == 201, created.text
    deployment_id = created.json()["id"]
    requests.put(stack.api(f"/deployments/{deployment_id}/input"), headers=headers, timeout=30,
                 files={"file": ("lot.csv", slow_input(iris), "text/csv")}).raise_for_status()

    # The guide: test with a manual run before activating the schedule.
    trial = requests.post(stack.api(f"/deployments/{deployment_id}/executions"),
                          headers=headers, json={"parameters": {"batch_size": 50_000}},
                          timeout=30)
    assert trial.status_code == 201, trial.text
    assert trial.json()["deployment_id"] == deployment_id
    assert wait_for(stack, token, trial.json()["id"], FINAL)["status"] == "succeeded"

    assert requests.post(stack.api(f"/deployments/{deployment_id}/start"), headers=headers,
                         timeout=10).status_code == 200
    slow = requests.post(stack.api(f"/deployments/{deployment_id}/executions"),
                         headers=headers, json={}, timeout=30)
    assert slow.status_code == 201, slow.text
    wait_for(stack, token, slow.json()["id"], {"running"} | FINAL)
    stopped = requests.post(stack.api(f"/deployments/{deployment_id}/stop"), headers=headers,
                            timeout=10)
    assert stopped.json()["status"] == "inactive"
    time.sleep(3)
    still = requests.get(stack.api(f"/executions/{slow.json()['id']}"), headers=headers,
                         timeout=10).json()
    assert still["status"] == "running", still  # stopping a deployment kills nothing
    requests.post(stack.api(f"/executions/{slow.json()['id']}/cancel"), headers=headers,
                  timeout=10)
    assert wait_for(stack, token, slow.json()["id"], FINAL)["status"] == "cancelled"
