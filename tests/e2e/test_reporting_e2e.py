"""The reporting read side, Prometheus and the Grafana panels, end to end.

After a real workload (models created, edited and deleted, deployments started and
stopped, executions that succeed and fail, a scheduled run), every figure of the
dashboard and the reports equals what the owning services' lists say, before and
after a rebuild; the analytics copy (C4) holds the same rows; the real Prometheus
started by the launcher scrapes every service, and every Grafana panel's query
returns data.
"""

from __future__ import annotations

import io
import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from shared.config import ROOT

pytestmark = pytest.mark.e2e

DS = ("datascientist", "password123")
ADMIN = ("admin", "admin123")
VIEWER = ("viewer", "password123")
STATUSES = ("queued", "running", "succeeded", "failed", "cancelled", "timed_out")
FINAL = {"succeeded", "failed", "cancelled", "timed_out"}
TAG = f"rpt{time.time_ns() % 10**8}"


def _get(stack, path, who=VIEWER, **params):
    response = requests.get(stack.api(path), headers=stack.auth(stack.token(*who)),
                            params=params, timeout=30)
    assert response.status_code == 200, (path, response.status_code, response.text)
    return response.json()


def _total(stack, path, **params):
    return _get(stack, path, per_page=1, **params)["total"]


def _eventually(check, timeout=60.0):
    """The read side is updated by events: wait until ``check()`` holds (or fail)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@pytest.fixture(scope="module")
def model_bytes():
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True, as_frame=True)
    buffer = io.BytesIO()
    joblib.dump(LogisticRegression(max_iter=300).fit(X, y), buffer)
    return buffer.getvalue(), X


def _create_model(stack, model_bytes, name, version, department, region, metrics):
    metadata = {"name": name, "version": version, "type": "classification",
                "framework": "scikit-learn", "department": department, "region": region,
                "metrics": metrics}
    for _ in range(3):
        response = requests.post(stack.api("/models"), headers=stack.auth(stack.token(*DS)),
                                 timeout=60, files={
                                     "metadata": (None, json.dumps(metadata), "application/json"),
                                     "file": ("iris.joblib", model_bytes[0],
                                              "application/octet-stream")})
        if response.status_code != 503:
            break
        # A loaded machine: the file scan outlived the gateway's RPC timeout, and the
        # registry is still at it. Wait for the model rather than create it twice.
        found = _wait_model(stack, name, version)
        if found is not None:
            return found
    assert response.status_code == 201, response.text
    return response.json()


def _wait_model(stack, name, version, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(2)
        found = [m for m in _get(stack, "/models", q=name)["items"]
                 if m["name"] == name and m["version"] == version]
        if not found:
            continue
        if found[0]["status"] == "ready":
            return found[0]
    return None


def _run(stack, model_id, csv_text, path="models"):
    response = requests.post(stack.api(f"/{path}/{model_id}/executions"),
                             headers=stack.auth(stack.token(*DS)), timeout=60,
                             files={"file": ("input.csv", csv_text.encode(), "text/csv")})
    assert response.status_code == 201, response.text
    return response.json()


def _wait_final(stack, execution_id, timeout=120):
    deadline = time.monotonic() + timeout
    while True:
        execution = _get(stack, f"/executions/{execution_id}")
        if execution["status"] in FINAL:
            return execution
        assert time.monotonic() < deadline, execution
        time.sleep(0.3)


@pytest.fixture(scope="module")
def workload(stack, model_bytes):
    """Models in two departments (one edited, one deleted), a deployment scheduled every
    minute (started, one scheduled run, stopped), runs that succeed and one that fails."""
    headers = stack.auth(stack.token(*DS))
    frame = model_bytes[1]
    good = frame.head(25).to_csv(index=False)
    # Numbers the strict reader accepts but the model refuses to score: a run that fails
    # in the runner (a non-number would be refused at submission with a 422).
    bad = frame.head(3).assign(**{frame.columns[0]: float("inf")}).to_csv(index=False)
    a1 = _create_model(stack, model_bytes, f"{TAG}-churn", "1.0.0", f"{TAG}-Finance", "Europe",
                       {"accuracy": 0.91})
    a2 = _create_model(stack, model_bytes, f"{TAG}-churn", "1.1.0", f"{TAG}-Finance", "Asie",
                       {"accuracy": 0.94})
    b1 = _create_model(stack, model_bytes, f"{TAG}-stock", "1.0.0", f"{TAG}-RH", "Europe",
                       {"accuracy": 0.8})
    gone = _create_model(stack, model_bytes, f"{TAG}-gone", "1.0.0", f"{TAG}-RH", "Europe", {})
    assert requests.patch(stack.api(f"/models/{b1['id']}"), headers=headers, timeout=30,
                          json={"region": "Asie"}).status_code == 200
    assert requests.delete(stack.api(f"/models/{gone['id']}"), headers=headers,
                           timeout=30).status_code == 204
    deployment = requests.post(stack.api("/deployments"), headers=headers, timeout=30, json={
        "name": f"{TAG}-minute", "model_id": a1["id"], "schedule": "* * * * *",
        "timezone": "UTC"}).json()
    upload = requests.put(stack.api(f"/deployments/{deployment['id']}/input"), headers=headers,
                          timeout=60, files={"file": ("in.csv", good.encode(), "text/csv")})
    assert upload.status_code == 200, upload.text
    assert requests.post(stack.api(f"/deployments/{deployment['id']}/start"), headers=headers,
                         timeout=30).status_code == 200
    spare = requests.post(stack.api("/deployments"), headers=headers, timeout=30, json={
        "name": f"{TAG}-spare", "model_id": b1["id"], "schedule": None}).json()
    runs = [_run(stack, a1["id"], good), _run(stack, a2["id"], good),
            _run(stack, b1["id"], good), _run(stack, a1["id"], bad), _run(stack, b1["id"], good)]
    predicted = requests.post(stack.api(f"/deployments/{deployment['id']}/predict"),
                              headers=headers, timeout=30,
                              json={"instances": frame.head(2).to_dict(orient="records")})
    assert predicted.status_code == 200, predicted.text
    finished = [_wait_final(stack, run["id"]) for run in runs]
    assert [e["status"] for e in finished].count("failed") == 1, finished
    # One scheduled run (the next minute's slot), then stop the deployment.
    deadline = time.monotonic() + 150
    while _total(stack, "/executions", deployment_id=deployment["id"], trigger="schedule") < 1:
        assert time.monotonic() < deadline, "the scheduled run never came"
        time.sleep(1)
    scheduled = _get(stack, "/executions", deployment_id=deployment["id"])["items"][0]
    _wait_final(stack, scheduled["id"])
    assert requests.post(stack.api(f"/deployments/{deployment['id']}/stop"), headers=headers,
                         timeout=30).status_code == 200
    requests.get(stack.api("/models/000000000000000000000000"), headers=headers, timeout=10)
    return {"models": [a1, a2, b1], "deployment": deployment, "spare": spare,
            "runs": finished + [scheduled]}


# -- the figures equal the lists ----------------------------------------------------------


def _all(stack, path, **params):
    items, page = [], 1
    while True:
        body = _get(stack, path, per_page=200, page=page, **params)
        items += body["items"]
        if len(items) >= body["total"] or not body["items"]:
            return items
        page += 1


def _check_dashboard(stack):
    dashboard = _get(stack, "/dashboard")
    assert dashboard["counts"]["models"] == _total(stack, "/models")
    assert dashboard["counts"]["deployments"] == _total(stack, "/deployments")
    assert dashboard["deployments"]["active"] == _total(stack, "/deployments", status="active")
    assert dashboard["counts"]["executions"] == _total(stack, "/executions")
    for status in STATUSES:
        assert dashboard["executions"]["by_status"][status] == \
            _total(stack, "/executions", status=status), status
    since = dashboard["executions"]["last_24h"]["since"]
    assert dashboard["executions"]["last_24h"]["total"] == _total(stack, "/executions",
                                                                  **{"from": since})
    models = _all(stack, "/models")
    by_type, by_department = {}, {}
    for model in models:
        by_type[model["type"]] = by_type.get(model["type"], 0) + 1
        dep = model["department"] or "(none)"
        by_department[dep] = by_department.get(dep, 0) + 1
    assert dashboard["models_by_type"] == by_type
    assert dashboard["models_by_department"] == by_department
    return dashboard


def _check_reports(stack, workload):
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    period = {"from": (today - timedelta(days=1)).isoformat(),
              "to": (today + timedelta(days=1)).isoformat()}
    finance = f"{TAG}-Finance"
    usage = _get(stack, "/reports/department-usage", department=finance, **period)
    row = usage["items"][0]
    assert row["department"] == finance
    assert row["models"] == _total(stack, "/models", department=finance) == 2
    assert row["deployments"] == _total(stack, "/deployments", department=finance) == 1
    assert row["executions"] == _total(stack, "/executions", department=finance, **period)
    assert row["failed"] == _total(stack, "/executions", department=finance, status="failed",
                                   **period) == 1
    runs = _all(stack, "/executions", department=finance, **period)
    assert row["rows_scored"] == sum((e["result"] or {}).get("rows") or 0 for e in runs)
    assert abs(row["compute_s"] - sum(e["duration_s"] or 0 for e in runs)) < 0.01
    asia = _get(stack, "/reports/department-usage", department=finance, region="Asie", **period)
    assert asia["items"][0]["models"] == 1
    assert asia["items"][0]["executions"] == _total(stack, "/executions", department=finance,
                                                    region="Asie", **period) == 1

    trends = _get(stack, "/reports/execution-trends", interval="hour", department=finance,
                  **period)
    assert len(trends["points"]) == 48
    for point in trends["points"]:
        if point["total"]:
            window = {"from": point["start"], "to": point["end"]}
            assert point["total"] == _total(stack, "/executions", department=finance, **window)
            assert point["by_status"]["succeeded"] == _total(
                stack, "/executions", department=finance, status="succeeded", **window)
    totals = trends["totals"]
    assert totals["total"] == row["executions"]
    finished = totals["by_status"]["succeeded"] + totals["by_status"]["failed"]
    assert totals["success_rate"] == round(totals["by_status"]["succeeded"] / finished, 4)
    assert totals["duration_p50_s"] is not None
    weekly = _get(stack, "/reports/execution-trends", interval="week", department=finance)
    assert weekly["totals"]["total"] >= row["executions"]

    performance = _get(stack, "/reports/model-performance", name=f"{TAG}-churn")
    versions = [item["version"] for item in performance["items"]]
    assert versions == ["1.1.0", "1.0.0"]
    assert performance["metric_names"] == ["accuracy"]
    for item in performance["items"]:
        assert item["executions"] == _total(stack, "/executions", model_id=item["model_id"])
        assert item["failed"] == _total(stack, "/executions", model_id=item["model_id"],
                                        status="failed")

    status = _get(stack, "/reports/deployment-status", department=finance)
    assert status["summary"] == {"active": 0, "inactive": 1}
    (item,) = status["items"]
    newest = _get(stack, "/executions", deployment_id=item["id"], per_page=1)["items"][0]
    assert item["last_run"]["id"] == newest["id"]
    assert item["last_run"]["status"] == newest["status"]
    assert item["next_run_at"] is None  # stopped


def test_the_figures_equal_the_lists_after_a_real_workload(stack, workload):
    _eventually(lambda: _check_dashboard(stack))
    _eventually(lambda: _check_reports(stack, workload))
    dashboard = _get(stack, "/dashboard")
    kinds = {(a["object_type"], a["action"]) for a in dashboard["recent_activity"]}
    assert ("model", "deleted") in kinds and ("deployment", "stopped") in kinds
    mine = [a for a in dashboard["recent_activity"] if a["object_type"] == "deployment"
            and a["object_id"] == workload["deployment"]["id"]]
    assert mine and all(a["who"] == "datascientist" for a in mine)


def test_a_rebuild_gives_the_same_figures(stack, workload):
    before = _eventually(lambda: _check_dashboard(stack))
    admin = stack.auth(stack.token(*ADMIN))
    refused = requests.post(stack.api("/reports/rebuild"), headers=stack.auth(
        stack.token(*VIEWER)), timeout=10)
    assert refused.status_code == 403
    asked = requests.post(stack.api("/reports/rebuild"), headers=admin, timeout=10)
    assert asked.status_code == 202, asked.text
    asked_at = datetime.now(UTC) - timedelta(seconds=1)

    def rebuilt():
        state = _get(stack, "/reports/rebuild", who=ADMIN)
        assert state["state"] == "succeeded" and state["finished_at"], state
        assert datetime.fromisoformat(state["finished_at"].replace("Z", "+00:00")) > asked_at
        return state

    state = _eventually(rebuilt, timeout=120)
    assert state["counts"]["models"] == _total(stack, "/models")
    after = _eventually(lambda: _check_dashboard(stack))
    assert after["counts"] == before["counts"]
    _eventually(lambda: _check_reports(stack, workload))


def test_the_analytics_copy_holds_the_rows_of_the_sources(stack, workload):
    url = f"sqlite:///{Path(stack.var_dir) / 'analytics' / 'analytics.db'}"
    engine = sa.create_engine(url)

    def same():
        with engine.connect() as connection:
            models = {r.id: r for r in connection.execute(sa.text("SELECT * FROM models"))}
            executions = {r.id: r for r in connection.execute(
                sa.text("SELECT * FROM executions"))}
            deployments = {r.id for r in connection.execute(
                sa.text("SELECT id FROM deployments"))}
        listed = _all(stack, "/models")
        assert set(models) == {m["id"] for m in listed}
        for model in listed:
            assert models[model["id"]].department == model["department"]
            assert models[model["id"]].region == model["region"]
        assert deployments == {d["id"] for d in _all(stack, "/deployments")}
        runs = _all(stack, "/executions")
        assert set(executions) == {e["id"] for e in runs}
        for run in runs:
            row = executions[run["id"]]
            assert (row.status, row.trigger, row.department) == \
                (run["status"], run["trigger"], run["department"])
            assert row.rows == (run["result"] or {}).get("rows")

    _eventually(same)
    engine.dispose()


def test_reports_refuse_bad_parameters_and_export_csv(stack, workload):
    headers = stack.auth(stack.token(*VIEWER))
    for path, params, field in (
        ("/reports/execution-trends", {"interval": "month"}, "interval"),
        ("/reports/execution-trends", {"from": "hier"}, "from"),
        ("/reports/department-usage", {"from": "2026-02-01T00:00:00Z",
                                       "to": "2026-01-01T00:00:00Z"}, "to"),
        ("/reports/model-performance", {"per_page": 500}, "per_page"),
        ("/reports/deployment-status", {"status": "paused"}, "status"),
        ("/executions", {"from": "demain"}, "from"),
    ):
        response = requests.get(stack.api(path), headers=headers, params=params, timeout=10)
        assert response.status_code == 400, (path, response.text)
        assert field in response.json()["error"]["details"], response.json()
    for name in ("model-performance", "execution-trends", "department-usage",
                 "deployment-status"):
        by_param = requests.get(stack.api(f"/reports/{name}"), headers=headers,
                                params={"format": "csv"}, timeout=10)
        by_accept = requests.get(stack.api(f"/reports/{name}"), timeout=10,
                                 headers={**headers, "Accept": "text/csv"})
        for response in (by_param, by_accept):
            assert response.status_code == 200, response.text
            assert response.headers["Content-Type"].startswith("text/csv")
            assert f"report-{name}.csv" in response.headers["Content-Disposition"]
            assert response.text.splitlines()[0].count(",") >= 3
        if name in ("model-performance", "deployment-status"):  # every line, not a page
            total = requests.get(stack.api(f"/reports/{name}"), headers=headers,
                                 params={"per_page": 1}, timeout=10).json()["total"]
            assert len(by_param.text.strip().splitlines()) == total + 1
    assert requests.get(stack.api("/dashboard"), timeout=10).status_code == 401
    spec = requests.get(stack.api("/openapi.json"), timeout=10).json()
    for path in ("/api/v1/dashboard", "/api/v1/reports/execution-trends",
                 "/api/v1/reports/model-performance", "/api/v1/reports/department-usage",
                 "/api/v1/reports/deployment-status"):
        assert "200" in spec["paths"][path]["get"]["responses"], path
    assert "DashboardSchema" in json.dumps(spec["components"]) or \
        "Dashboard" in spec["components"]["schemas"]


# -- Prometheus and the Grafana panels ------------------------------------------------------


def _prometheus(stack, path, **params):
    response = requests.get(f"http://127.0.0.1:{stack.prometheus_port}/api/v1/{path}",
                            params=params, timeout=30)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success", body
    return body["data"]


def _panel_queries():
    for path in sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json")):
        dashboard = json.loads(path.read_text())
        for panel in dashboard["panels"]:
            for target in panel["targets"]:
                # Grafana's template variables, as "All" substitutes them.
                expr = re.sub(r"\$(department|service)\b", ".*", target["expr"])
                yield f"{path.stem}: {panel['title']}", expr


def test_prometheus_scrapes_every_service_and_every_grafana_panel_has_data(stack, workload):
    assert stack.prometheus_port, "the stack runs without Prometheus"

    def all_up():
        targets = _prometheus(stack, "targets")["activeTargets"]
        services = {t["labels"].get("service"): t["health"] for t in targets}
        assert {"registry", "deployer", "runner", "scheduler", "auth", "reporting",
                "gateway"} <= set(services), services
        assert all(health == "up" for health in services.values()), services

    _eventually(all_up, timeout=60)
    empty = []

    def every_panel_has_data():
        empty.clear()
        for title, expr in _panel_queries():
            data = _prometheus(stack, "query", query=expr)
            if not data["result"]:
                empty.append(f"{title}: {expr}")
        assert not empty, "panels without data:\n" + "\n".join(empty)

    _eventually(every_panel_has_data, timeout=90)
