"""Provision Superset through its REST API: the analytics connection, datasets, dashboard.

What is created is described in ``deploy/superset/dashboard.yml``. Every object is found
again by its name (database, dataset table, chart name, dashboard slug) and updated in
place, so running this again never duplicates anything. Runs in the platform's
environment (``requests``), against a Superset that already answers ``/health``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
import yaml

from shared.config import ROOT

DEFINITIONS = ROOT / "deploy" / "superset" / "dashboard.yml"


class ProvisionError(Exception):
    """Superset refused a provisioning call; the message says which and why."""


def load_definitions(path: Path = DEFINITIONS) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def read_only_url(url: str) -> str:
    """The analytics URL as Superset should open it: an SQLite file read-only (``mode=ro``);
    PostgreSQL through psycopg2 (Superset's SQLAlchemy 1.4 has no dialect for the
    platform's psycopg 3); no DML allowed on the connection in any case."""
    parts = urlsplit(url)
    if parts.scheme == "postgresql+psycopg":
        return "postgresql+psycopg2" + url[len(parts.scheme):]
    if not parts.scheme.startswith("sqlite") or url.startswith("sqlite:///file:"):
        return url
    path = url.split(":///", 1)[1].split("?", 1)[0]
    if not path or path == ":memory:":
        return url
    return f"sqlite:///file:{path}?mode=ro&uri=true"


def missing_sqlite_file(url: str) -> str | None:
    """The path of an SQLite analytics file that is not there yet, else None."""
    if not url.startswith("sqlite:///"):
        return None
    path = url.split(":///", 1)[1].split("?", 1)[0].removeprefix("file:")
    return path if path and path != ":memory:" and not Path(path).is_file() else None


def rison_eq(column: str, value: str) -> str:
    """``q=`` of a Superset list call filtering ``column == value`` (rison-encoded)."""
    quoted = "'" + value.replace("!", "!!").replace("'", "!'") + "'"
    return f"(filters:!((col:{column},opr:eq,value:{quoted})),page_size:100)"


def adhoc_metric(name: str, definitions: dict[str, Any]) -> dict[str, Any]:
    metric = definitions["metric_defs"][name]
    return {"expressionType": "SQL", "sqlExpression": metric["sql"], "label": metric["label"],
            "hasCustomLabel": True, "optionName": f"metric_{name}"}


def chart_form_data(chart: dict[str, Any], dataset_id: int,
                    definitions: dict[str, Any]) -> dict[str, Any]:
    """Superset's form data (the chart's ``params``) for one chart of dashboard.yml."""
    form: dict[str, Any] = {"datasource": f"{dataset_id}__table", "viz_type": chart["viz_type"],
                            "adhoc_filters": [], "row_limit": chart.get("row_limit", 1000)}
    metrics = [adhoc_metric(name, definitions) for name in chart.get("metrics", [])]
    if chart["viz_type"] == "table":
        form.update(query_mode="raw", all_columns=chart["columns"],
                    order_by_cols=[json.dumps(order) for order in chart.get("orderby", [])])
    elif chart["viz_type"] in ("big_number_total", "pie"):
        form.update(metric=metrics[0], groupby=chart.get("groupby", []))
    else:
        form.update(metrics=metrics, groupby=chart.get("groupby", []),
                    x_axis=chart["x_axis"], time_grain_sqla=chart.get("time_grain"))
    form.update(chart.get("params") or {})
    return form


def chart_query_context(chart: dict[str, Any], dataset_id: int,
                        definitions: dict[str, Any]) -> dict[str, Any]:
    """The saved query context: what ``/api/v1/chart/data`` runs for this chart."""
    metrics = [adhoc_metric(name, definitions) for name in chart.get("metrics", [])]
    columns: list[Any] = []
    if chart.get("x_axis"):
        columns.append({"columnType": "BASE_AXIS", "expressionType": "SQL",
                        "sqlExpression": chart["x_axis"], "label": chart["x_axis"],
                        "timeGrain": chart.get("time_grain")})
    columns += chart.get("columns", []) + chart.get("groupby", [])
    orderby = [list(order) for order in chart.get("orderby", [])]
    if not orderby and metrics and chart["viz_type"] != "big_number_total":
        orderby = [[metrics[0], False]]
    query = {"columns": columns, "metrics": metrics, "orderby": orderby, "filters": [],
             "extras": {"having": "", "where": ""}, "row_limit": chart.get("row_limit", 1000)}
    if chart.get("x_axis"):
        query["series_columns"] = chart.get("groupby", [])
    return {"datasource": {"id": dataset_id, "type": "table"}, "force": False,
            "queries": [query], "form_data": chart_form_data(chart, dataset_id, definitions),
            "result_format": "json", "result_type": "full"}


def dashboard_layout(charts: list[tuple[dict[str, Any], int]]) -> dict[str, Any]:
    """Superset's ``position_json``: the charts in rows (``row``) of their ``width``."""
    layout: dict[str, Any] = {
        "DASHBOARD_VERSION_KEY": "v2",
        "ROOT_ID": {"type": "ROOT", "id": "ROOT_ID", "children": ["GRID_ID"]},
        "GRID_ID": {"type": "GRID", "id": "GRID_ID", "children": [], "parents": ["ROOT_ID"]},
    }
    for chart, chart_id in charts:
        row_id = f"ROW-{chart.get('row', 1)}"
        if row_id not in layout:
            layout[row_id] = {"type": "ROW", "id": row_id, "children": [],
                              "parents": ["ROOT_ID", "GRID_ID"],
                              "meta": {"background": "BACKGROUND_TRANSPARENT"}}
            layout["GRID_ID"]["children"].append(row_id)
        component = f"CHART-{chart_id}"
        layout[row_id]["children"].append(component)
        layout[component] = {"type": "CHART", "id": component, "children": [],
                             "parents": ["ROOT_ID", "GRID_ID", row_id],
                             "meta": {"chartId": chart_id, "sliceName": chart["name"],
                                      "width": chart.get("width", 4), "height": 50}}
    return layout


class SupersetClient:
    """A logged-in session on Superset's REST API (JWT + the CSRF token its writes need)."""

    def __init__(self, base_url: str, username: str, password: str, timeout: float = 60):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        response = self.session.post(f"{self.base_url}/api/v1/security/login", json={
            "username": username, "password": password, "provider": "db", "refresh": False,
        }, timeout=timeout)
        if response.status_code != 200:
            raise ProvisionError(f"login as {username} refused: HTTP {response.status_code} "
                                 f"{response.text[:200]}")
        self.session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        csrf = self.call("GET", "/api/v1/security/csrf_token/")["result"]
        self.session.headers.update({"X-CSRFToken": csrf, "Referer": self.base_url})

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self.session.request(method, self.base_url + path, timeout=self.timeout,
                                        **kwargs)
        if response.status_code >= 400:
            raise ProvisionError(f"{method} {path}: HTTP {response.status_code} "
                                 f"{response.text[:500]}")
        return response.json() if response.content else {}

    def find(self, resource: str, column: str, value: str) -> list[dict[str, Any]]:
        return self.call("GET", f"/api/v1/{resource}/",
                         params={"q": rison_eq(column, value)})["result"]


def provision(base_url: str, username: str, password: str, analytics_url: str,
              log: Callable[[str], None] = print,
              definitions: dict[str, Any] | None = None) -> dict[str, Any]:
    """Create or update the connection, datasets, charts and dashboard; return their ids."""
    definitions = definitions or load_definitions()
    missing = missing_sqlite_file(analytics_url)
    if missing:
        raise ProvisionError(f"the analytics copy {missing} does not exist yet (the reporting "
                             "service writes it; ANALYTICS_DB_URL)")
    client = SupersetClient(base_url, username, password)
    database_id = _database(client, definitions["database_name"], read_only_url(analytics_url))
    datasets = {spec["table"]: _dataset(client, database_id, spec,
                                        definitions.get("column_labels") or {})
                for spec in definitions["datasets"]}
    dashboard_id = _dashboard(client, definitions["dashboard"])
    charts = []
    for chart in definitions["charts"]:
        charts.append((chart, _chart(client, chart, datasets[chart["dataset"]], dashboard_id,
                                     definitions)))
    client.call("PUT", f"/api/v1/dashboard/{dashboard_id}", json={
        "position_json": json.dumps(dashboard_layout(charts)), "published": True})
    log(f"Superset provisioned: connection \"{definitions['database_name']}\", datasets "
        f"{', '.join(datasets)}, dashboard \"{definitions['dashboard']['title']}\" "
        f"({len(charts)} charts)")
    return {"database": database_id, "datasets": datasets, "dashboard": dashboard_id,
            "charts": {chart["name"]: chart_id for chart, chart_id in charts}}


def _database(client: SupersetClient, name: str, uri: str) -> int:
    body = {"database_name": name, "sqlalchemy_uri": uri, "expose_in_sqllab": True,
            "allow_dml": False, "allow_file_upload": False, "allow_ctas": False,
            "allow_cvas": False}
    found = client.find("database", "database_name", name)
    if found:
        client.call("PUT", f"/api/v1/database/{found[0]['id']}", json=body)
        return found[0]["id"]
    return client.call("POST", "/api/v1/database/", json=body)["id"]


def _dataset(client: SupersetClient, database_id: int, spec: dict[str, Any],
             labels: dict[str, str]) -> int:
    found = [row for row in client.find("dataset", "table_name", spec["table"])
             if row.get("database", {}).get("id") == database_id]
    if found:
        dataset_id = found[0]["id"]
        # The table may have gained columns since: read them again.
        client.call("PUT", f"/api/v1/dataset/{dataset_id}/refresh")
    else:
        dataset_id = client.call("POST", "/api/v1/dataset/", json={
            "database": database_id, "table_name": spec["table"]})["id"]
    columns = client.call("GET", f"/api/v1/dataset/{dataset_id}")["result"]["columns"]
    # Every column listed (an unlisted one would be dropped), with its French label.
    client.call("PUT", f"/api/v1/dataset/{dataset_id}", json={
        "description": spec.get("description"), "main_dttm_col": spec.get("main_dttm_col"),
        "columns": [{"id": column["id"], "column_name": column["column_name"],
                     "verbose_name": labels.get(column["column_name"],
                                                column.get("verbose_name"))}
                    for column in columns]})
    return dataset_id


def _dashboard(client: SupersetClient, spec: dict[str, Any]) -> int:
    found = client.find("dashboard", "slug", spec["slug"])
    body = {"dashboard_title": spec["title"], "slug": spec["slug"], "published": True}
    if found:
        client.call("PUT", f"/api/v1/dashboard/{found[0]['id']}", json=body)
        return found[0]["id"]
    return client.call("POST", "/api/v1/dashboard/", json=body)["id"]


def _chart(client: SupersetClient, chart: dict[str, Any], dataset_id: int, dashboard_id: int,
           definitions: dict[str, Any]) -> int:
    body = {
        "slice_name": chart["name"], "viz_type": chart["viz_type"],
        "datasource_id": dataset_id, "datasource_type": "table",
        "params": json.dumps(chart_form_data(chart, dataset_id, definitions)),
        "query_context": json.dumps(chart_query_context(chart, dataset_id, definitions)),
        "dashboards": [dashboard_id],
    }
    found = client.find("chart", "slice_name", chart["name"])
    if found:
        client.call("PUT", f"/api/v1/chart/{found[0]['id']}", json=body)
        return found[0]["id"]
    return client.call("POST", "/api/v1/chart/", json=body)["id"]
