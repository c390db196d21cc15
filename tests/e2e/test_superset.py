"""The real Apache Superset (from PyPI, in .venv-superset/), started and provisioned by
the launcher's own call (``scripts.superset.start_in_background``), read through its
REST API as admin:
the provisioned chart's query returns exactly the executions of the analytics copy.

The analytics database is the contract C4 one. Until the reporting service writes it,
:func:`analytics_db_url` creates it here (exact C4 schema, rows inserted by the test);
with a real stack, that function becomes ``return stack.analytics_db_url`` — one line.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from scripts.superset import ADMIN, start_in_background
from scripts.superset_provision import SupersetClient, load_definitions, provision
from shared.embedded_db import free_port

# The first start migrates Superset's metadata database (~1 min here), and installs
# Superset when `make test` has not already (a few minutes).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]

# Contract C4, exactly (timestamps UTC, declared DATETIME).
C4_SCHEMA = """
CREATE TABLE models(id TEXT PRIMARY KEY, name TEXT, version TEXT, type TEXT, framework TEXT,
  department TEXT, region TEXT, status TEXT, created_by TEXT, created_at DATETIME,
  updated_at DATETIME);
CREATE TABLE deployments(id TEXT PRIMARY KEY, name TEXT, model_id TEXT, model_name TEXT,
  status TEXT, department TEXT, region TEXT, schedule TEXT, timezone TEXT,
  created_at DATETIME, next_run_at DATETIME);
CREATE TABLE executions(id TEXT PRIMARY KEY, status TEXT, trigger TEXT, model_id TEXT,
  model_name TEXT, model_version TEXT, deployment_id TEXT, department TEXT, region TEXT,
  created_by TEXT, created_at DATETIME, started_at DATETIME, finished_at DATETIME,
  duration_s REAL, rows INTEGER);
"""
EXECUTION_COLUMNS = ["id", "status", "trigger", "model_name", "model_version", "department",
                     "region", "created_by", "created_at", "started_at", "finished_at",
                     "duration_s", "rows"]


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def create_c4_analytics_db(path: Path) -> str:
    """An analytics copy in the C4 schema with models, deployments and executions over
    three days, several statuses, triggers and departments."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as db:
        db.executescript(C4_SCHEMA)
        base = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
        models = [("m-churn", "churn", "1.2.0", "classification", "scikit-learn", "Finance",
                   "EU"), ("m-price", "pricing", "2.0.0", "regression", "onnx", "Ventes", "NA"),
                  ("m-fraud", "fraude", "0.9.1", "classification", "scikit-learn", "Risques",
                   "EU")]
        for index, (mid, name, version, kind, framework, department, region) in enumerate(models):
            db.execute("INSERT INTO models VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                       (mid, name, version, kind, framework, department, region, "ready",
                        "datascientist", _stamp(base - timedelta(days=3 - index)),
                        _stamp(base)))
        db.execute("INSERT INTO deployments VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                   ("d-churn", "churn-quotidien", "m-churn", "churn", "active", "Finance", "EU",
                    "0 6 * * *", "Europe/Paris", _stamp(base), _stamp(base + timedelta(days=4))))
        db.execute("INSERT INTO deployments VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                   ("d-price", "prix-hebdo", "m-price", "pricing", "inactive", "Ventes", "NA",
                    "0 7 * * 1", "America/Toronto", _stamp(base), None))
        statuses = ["succeeded", "succeeded", "failed", "succeeded", "cancelled", "running"]
        for number in range(24):
            mid, name, version, _kind, _fw, department, region = models[number % 3]
            created = base + timedelta(hours=5 * number)
            status = statuses[number % len(statuses)]
            done = status in ("succeeded", "failed", "cancelled")
            db.execute("INSERT INTO executions VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", (
                f"e-{number:03d}", status, "scheduled" if number % 2 else "manual", mid, name,
                version, "d-churn" if mid == "m-churn" else None, department, region,
                "business", _stamp(created), _stamp(created + timedelta(seconds=2)),
                _stamp(created + timedelta(seconds=2 + number)) if done else None,
                float(number) if done else None, 100 * number if status == "succeeded" else 0))
    return f"sqlite:///{path}"


@pytest.fixture(scope="module")
def analytics_db_url(tmp_path_factory) -> str:
    """The analytics copy Superset reads (its URL). The one line to change for a real
    stack's copy (reporting service): ``return stack.analytics_db_url``."""
    return create_c4_analytics_db(tmp_path_factory.mktemp("analytics") / "analytics.db")


def sqlite_path(url: str) -> str:
    return url.split(":///", 1)[1].split("?", 1)[0]


def query_analytics(url: str, sql: str, *args) -> list[tuple]:
    with sqlite3.connect(sqlite_path(url)) as db:
        return db.execute(sql, args).fetchall()


@pytest.fixture(scope="module")
def superset(tmp_path_factory, analytics_db_url):
    """One real Superset for the module, started by the launcher's own call
    (``start_in_background``) with the settings make run reads, waited for here."""
    said: list[str] = []
    with pytest.MonkeyPatch.context() as env:
        env.setenv("VAR_DIR", str(tmp_path_factory.mktemp("superset-var")))
        env.setenv("SUPERSET_PORT", str(free_port()))
        env.setenv("ANALYTICS_DB_URL", analytics_db_url)
        env.delenv("SUPERSET_ENABLED", raising=False)
        instance = start_in_background(log=said.append)
    try:
        deadline = time.monotonic() + 1200
        while not any(line.startswith(("Superset ready", "WARNING")) for line in said):
            assert time.monotonic() < deadline, said
            time.sleep(1)
        assert not [line for line in said if line.startswith("WARNING")], said
        assert instance.provisioned, said
        yield instance
    finally:
        instance.stop()


@pytest.fixture(scope="module")
def api(superset) -> SupersetClient:
    return SupersetClient(f"http://127.0.0.1:{superset.port}", *ADMIN)


def chart_by_name(api: SupersetClient, name: str) -> dict:
    found = api.find("chart", "slice_name", name)
    assert len(found) == 1, f"{name!r}: {len(found)} charts"
    return api.call("GET", f"/api/v1/chart/{found[0]['id']}")["result"]


def run_chart(api: SupersetClient, chart: dict, force: bool = False) -> list[dict]:
    """The chart's own saved query, through /api/v1/chart/data."""
    query_context = json.loads(chart["query_context"])
    query_context["force"] = force
    response = api.session.post(f"{api.base_url}/api/v1/chart/data", json=query_context,
                                timeout=60)
    assert response.status_code == 200, response.text[:500]
    return response.json()["result"][0]["data"]


def test_admin_logs_in_to_the_api_and_a_wrong_password_is_refused(superset):
    base = f"http://127.0.0.1:{superset.port}"
    login = requests.post(f"{base}/api/v1/security/login", json={
        "username": "admin", "password": "admin", "provider": "db"}, timeout=30)
    assert login.status_code == 200 and login.json()["access_token"]
    wrong = requests.post(f"{base}/api/v1/security/login", json={
        "username": "admin", "password": "not-admin", "provider": "db"}, timeout=30)
    assert wrong.status_code == 401
    assert requests.get(f"{base}/api/v1/chart/", timeout=30).status_code == 401


def test_the_connection_datasets_and_dashboard_are_provisioned(api, analytics_db_url):
    definitions = load_definitions()
    [database] = api.find("database", "database_name", definitions["database_name"])
    assert database["allow_dml"] is False
    detail = api.call("GET", f"/api/v1/database/{database['id']}/connection")["result"]
    assert "mode=ro" in detail["sqlalchemy_uri"]
    assert sqlite_path(analytics_db_url) in detail["sqlalchemy_uri"]
    for table in ("models", "deployments", "executions"):
        [dataset] = [row for row in api.find("dataset", "table_name", table)
                     if row["database"]["id"] == database["id"]]
        columns = api.call("GET", f"/api/v1/dataset/{dataset['id']}")["result"]["columns"]
        labels = {column["column_name"]: column["verbose_name"] for column in columns}
        assert labels["created_at"] == "Créé le" and labels["status"] == "Statut"
    [dashboard] = api.find("dashboard", "slug", "plateforme-ml")
    assert dashboard["dashboard_title"] == "Plateforme ML"
    charts = api.call("GET", f"/api/v1/dashboard/{dashboard['id']}/charts")["result"]
    assert {chart["slice_name"] for chart in charts} == {
        chart["name"] for chart in definitions["charts"]}
    layout = json.loads(api.call("GET", f"/api/v1/dashboard/{dashboard['id']}")["result"]
                        ["position_json"])
    placed = {item["meta"]["chartId"] for item in layout.values()
              if isinstance(item, dict) and item.get("type") == "CHART"}
    assert placed == {chart["id"] for chart in charts}


def test_the_executions_chart_returns_the_platforms_executions(api, analytics_db_url):
    chart = chart_by_name(api, "Liste des exécutions")
    rows = run_chart(api, chart)
    expected = query_analytics(
        analytics_db_url,
        f"SELECT {', '.join(EXECUTION_COLUMNS)} FROM executions ORDER BY created_at DESC")
    assert expected
    assert [tuple(row[column] for column in EXECUTION_COLUMNS) for row in rows] == expected


def test_the_per_day_and_department_charts_count_the_executions(api, analytics_db_url):
    per_day = run_chart(api, chart_by_name(api, "Exécutions par jour et par statut"))
    got = {(datetime.fromtimestamp(row["created_at"] / 1000, UTC).strftime("%Y-%m-%d"),
            row["status"]): row["Exécutions"] for row in per_day}
    expected = dict(((day, status), count) for day, status, count in query_analytics(
        analytics_db_url, "SELECT date(created_at), status, COUNT(*) FROM executions "
        "GROUP BY 1, 2"))
    assert got == expected and got
    by_department = run_chart(api, chart_by_name(api, "Exécutions par département"))
    assert {row["department"]: row["Exécutions"] for row in by_department} == dict(
        query_analytics(analytics_db_url,
                        "SELECT department, COUNT(*) FROM executions GROUP BY 1"))
    by_type = run_chart(api, chart_by_name(api, "Modèles par type"))
    assert {row["type"]: row["Modèles"] for row in by_type} == dict(
        query_analytics(analytics_db_url, "SELECT type, COUNT(*) FROM models GROUP BY 1"))


def test_a_new_execution_in_the_analytics_copy_shows_in_superset(api, analytics_db_url):
    [(count,)] = query_analytics(analytics_db_url, "SELECT COUNT(*) FROM executions")
    with sqlite3.connect(sqlite_path(analytics_db_url)) as db:
        db.execute("INSERT INTO executions (id, status, trigger, model_id, model_name, "
                   "department, region, created_at) VALUES ('e-new', 'succeeded', 'manual', "
                   "'m-churn', 'churn', 'Finance', 'EU', ?)",
                   (_stamp(datetime(2027, 1, 1, tzinfo=UTC)),))  # after every other
    rows = run_chart(api, chart_by_name(api, "Liste des exécutions"), force=True)
    assert rows[0]["id"] == "e-new" and len(rows) == count + 1


def test_the_connection_is_read_only(api, analytics_db_url):
    [database] = api.find("database", "database_name", load_definitions()["database_name"])
    [(before,)] = query_analytics(analytics_db_url, "SELECT COUNT(*) FROM executions")

    def sql_lab(sql: str) -> requests.Response:
        return api.session.post(f"{api.base_url}/api/v1/sqllab/execute/", json={
            "database_id": database["id"], "sql": sql, "runAsync": False,
            "client_id": uuid.uuid4().hex[:10]}, timeout=60)

    select = sql_lab("SELECT COUNT(*) AS n FROM executions")
    assert select.status_code == 200 and select.json()["data"] == [{"n": before}], select.text
    delete = sql_lab("DELETE FROM executions")
    assert delete.json()["errors"][0]["error_type"] == "DML_NOT_ALLOWED_ERROR", delete.text
    assert query_analytics(analytics_db_url, "SELECT COUNT(*) FROM executions") == [(before,)]


def test_provisioning_again_duplicates_nothing(superset, api, analytics_db_url):
    again = provision(f"http://127.0.0.1:{superset.port}", *ADMIN, analytics_db_url,
                      log=lambda _message: None)
    assert again == superset.provisioned
    definitions = load_definitions()
    assert len(api.find("database", "database_name", definitions["database_name"])) == 1
    assert len(api.find("dashboard", "slug", "plateforme-ml")) == 1
    for chart in definitions["charts"]:
        assert len(api.find("chart", "slice_name", chart["name"])) == 1
    assert api.call("GET", "/api/v1/dataset/")["count"] == 3
