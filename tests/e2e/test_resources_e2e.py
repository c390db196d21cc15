"""Resources per deployment and per run (issue 9 item 3, guide 10.3), end to end over
HTTP against the platform started as ``make run`` starts it (the ``stack`` fixture).

A data scientist gives a deployment its memory and time limit, a run overrides them;
the runner honours them (a run over its memory limit fails saying so, one over its
time limit is ``timed_out``), the execution shows what it was given and what it used;
an admin lowers the memory ceiling in the settings and the running platform refuses
what it accepted a moment ago, without a restart.
"""

from __future__ import annotations

import io
import time

import pytest
import requests

pytestmark = pytest.mark.e2e

ADMIN = ("admin", "admin123")
DATASCIENTIST = ("datascientist", "password123")
VIEWER = ("viewer", "password123")
FINAL = {"succeeded", "failed", "cancelled", "timed_out"}


def iris_model_bytes() -> tuple[bytes, list[dict]]:
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True, as_frame=True)
    buffer = io.BytesIO()
    joblib.dump(LogisticRegression(max_iter=300).fit(X, y), buffer)
    return buffer.getvalue(), X.to_dict(orient="records")


def wait_final(stack, token, execution_id, timeout=120.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        execution = requests.get(stack.api(f"/executions/{execution_id}"),
                                 headers=stack.auth(token), timeout=10).json()
        if execution["status"] in FINAL:
            return execution
        assert time.monotonic() < deadline, execution
        time.sleep(0.3)


def eventually(check, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "not in time"
        time.sleep(0.3)


def test_resources_of_deployments_and_runs(stack):
    ds, admin, viewer = (stack.token(*who) for who in (DATASCIENTIST, ADMIN, VIEWER))
    headers = stack.auth(ds)
    limits = requests.get(stack.api("/resource-limits"), headers=stack.auth(viewer),
                          timeout=10)
    assert limits.status_code == 200, limits.text
    assert limits.json()["max_memory_mb"] >= 1024

    model_file, rows = iris_model_bytes()
    import json

    created = requests.post(stack.api("/models"), headers=headers, timeout=60, files={
        "metadata": (None, json.dumps({"name": f"e2e-resources-{time.time_ns()}",
                                       "type": "classification",
                                       "framework": "scikit-learn"}), "application/json"),
        "file": ("iris.joblib", model_file, "application/octet-stream")})
    assert created.status_code == 201, created.text
    model_id = created.json()["id"]

    def create(**extra):
        return requests.post(stack.api("/deployments"), headers=headers, timeout=30,
                             json={"name": f"res-{time.time_ns()}", "model_id": model_id,
                                   **extra})

    too_big = create(memory_mb=10**6)
    assert too_big.status_code == 400, too_big.text
    assert "memory_mb" in too_big.json()["error"]["details"]
    assert "max_memory_mb" in too_big.json()["error"]["details"]["memory_mb"][0]
    response = create(memory_mb=1024, timeout_s=120)
    assert response.status_code == 201, response.text
    deployment = response.json()
    assert (deployment["memory_mb"], deployment["timeout_s"]) == (1024, 120)

    def run(**body):
        response = requests.post(stack.api(f"/deployments/{deployment['id']}/executions"),
                                 headers=headers, timeout=30, json=body)
        assert response.status_code == 201, response.text
        return response.json()

    # the deployment's memory, the run's own timeout; what it used is recorded
    execution = run(input={"rows": rows}, timeout_s=60)
    assert execution["resources"] == {"memory_mb": 1024, "timeout_s": 60}
    done = wait_final(stack, ds, execution["id"])
    assert done["status"] == "succeeded", done
    usage = done["usage"]
    assert usage["rows"] == 150 and usage["rows_per_second"] > 0
    assert 10 < usage["peak_memory_mb"] < 1024 and usage["duration_s"] > 0

    # over its memory limit: failed, saying so
    starved = wait_final(stack, ds, run(input={"rows": rows[:3]}, memory_mb=300)["id"])
    assert starved["status"] == "failed", starved
    assert starved["error"].startswith("memory limit of 300 MB exceeded"), starved["error"]

    # over its time limit: timed_out
    slow = wait_final(stack, ds, run(input={"rows": rows * 40}, timeout_s=1,
                                     parameters={"batch_size": 1})["id"])
    assert slow["status"] == "timed_out", slow
    assert "timed out after 1 s" in slow["error"]

    # the admin lowers the ceiling: refused at once by the running platform
    settings = requests.get(stack.api("/admin/settings"), headers=stack.auth(admin),
                            timeout=10).json()
    try:
        lowered = requests.put(stack.api("/admin/settings"), headers=stack.auth(admin),
                               timeout=10, json={"max_memory_mb": 768})
        assert lowered.status_code == 200, lowered.text
        # (a requests Response of a 400 is falsy: the answer travels in a tuple)
        refused, = eventually(lambda: ((r := create(memory_mb=1024)).status_code == 400
                                       and (r,)))
        assert "at most 768 MB" in refused.json()["error"]["details"]["memory_mb"][0]
        patch = requests.patch(stack.api(f"/deployments/{deployment['id']}"), headers=headers,
                               timeout=10, json={"memory_mb": 800})
        assert patch.status_code == 400 and "memory_mb" in patch.json()["error"]["details"]
        assert eventually(lambda: requests.get(
            stack.api("/resource-limits"), headers=stack.auth(viewer),
            timeout=10).json()["max_memory_mb"] == 768)
        # the deployment saved with 1024 MB before: its runs are capped, not refused
        capped = run(input={"rows": rows[:3]})
        assert capped["resources"]["memory_mb"] == 768
        assert wait_final(stack, ds, capped["id"])["status"] == "succeeded"
    finally:
        restored = requests.put(stack.api("/admin/settings"), headers=stack.auth(admin),
                                timeout=10,
                                json={"max_memory_mb": settings["max_memory_mb"]})
        assert restored.status_code == 200, restored.text
