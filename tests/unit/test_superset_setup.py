"""Superset's pieces that need no Superset: the settings, the secret key, the read-only
analytics URL, and the provisioned charts of deploy/superset/dashboard.yml (every chart
on a known dataset with defined metrics, rows that fit Superset's 12-column grid)."""

from __future__ import annotations

import runpy
import socket
import stat
import time
from collections import Counter
from pathlib import Path

import pytest

from scripts import superset
from scripts.superset_provision import (
    chart_form_data,
    chart_query_context,
    dashboard_layout,
    load_definitions,
    missing_sqlite_file,
    read_only_url,
    rison_eq,
)
from shared.config import ROOT

C4_TABLES = {"models", "deployments", "executions"}


def test_sqlite_analytics_is_opened_read_only_and_other_urls_are_kept():
    assert read_only_url("sqlite:////var/a/analytics.db") == (
        "sqlite:///file:/var/a/analytics.db?mode=ro&uri=true")
    already = "sqlite:///file:/x.db?mode=ro&uri=true"
    assert read_only_url(already) == already
    postgres = "postgresql+psycopg2://u:p@analytics-db:5432/analytics"
    assert read_only_url(postgres) == postgres
    assert read_only_url("postgresql+psycopg://u:p@analytics-db:5432/analytics") == postgres


def test_a_missing_analytics_file_is_named(tmp_path):
    there = tmp_path / "analytics.db"
    assert missing_sqlite_file(f"sqlite:///{there}") == str(there)
    there.write_bytes(b"")
    assert missing_sqlite_file(f"sqlite:///{there}") is None
    assert missing_sqlite_file("postgresql://postgres/analytics") is None


def test_rison_filter_quotes_what_rison_escapes():
    assert rison_eq("slice_name", "Nombre d'exécutions") == (
        "(filters:!((col:slice_name,opr:eq,value:'Nombre d!'exécutions')),page_size:100)")
    assert "value:'a!!b'" in rison_eq("c", "a!b")


def test_the_analytics_url_defaults_to_var_dir_and_passwords_stay_out_of_logs(monkeypatch,
                                                                               tmp_path):
    monkeypatch.delenv("ANALYTICS_DB_URL", raising=False)
    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    assert superset.analytics_db_url() == f"sqlite:///{tmp_path}/analytics/analytics.db"
    monkeypatch.setenv("ANALYTICS_DB_URL", "postgresql://a:secret@db/x")
    assert superset.analytics_db_url() == "postgresql://a:secret@db/x"
    assert superset.without_password("postgresql://a:secret@db/x") == "postgresql://a:***@db/x"


def test_superset_enabled_0_starts_nothing_and_says_so(monkeypatch):
    monkeypatch.setenv("SUPERSET_ENABLED", "0")
    said = []
    assert superset.start_in_background(log=said.append) is None
    assert said == ["Superset disabled (SUPERSET_ENABLED=0)"]


def test_a_failed_install_is_reported_in_the_background_without_raising(monkeypatch,
                                                                         tmp_path):
    def broken_install(*args, **kwargs):
        raise superset.SupersetError("the install of Superset failed (exit 1)")

    monkeypatch.setattr(superset, "install", broken_install)
    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    monkeypatch.delenv("SUPERSET_ENABLED", raising=False)
    said = []
    started = time.monotonic()
    instance = superset.start_in_background(log=said.append)
    assert time.monotonic() - started < 2, "the launcher must not wait for Superset"
    deadline = time.monotonic() + 10
    while not any(line.startswith("WARNING") for line in said) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert said[-1] == ("WARNING: Superset is not available: the install of Superset "
                        "failed (exit 1)")
    assert instance.process is None


def test_a_busy_superset_port_is_named(tmp_path):
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        sock.listen()
        port = sock.getsockname()[1]
        instance = superset.Superset(var_dir=tmp_path, port=port, analytics_url="sqlite://")
        with pytest.raises(superset.SupersetError, match=rf"port {port} \(SUPERSET_PORT\)"):
            instance.start_server()
    assert instance.process is None


def test_the_secret_key_is_generated_once_private_and_kept(tmp_path):
    instance = superset.Superset(var_dir=tmp_path, port=1, analytics_url="sqlite://")
    path = instance.secret_key_file()
    key = path.read_text().strip()
    assert len(key) >= 40 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert instance.secret_key_file().read_text().strip() == key
    env = instance.env()
    assert env["SUPERSET_SECRET_KEY_FILE"] == str(path)
    assert env["SUPERSET_CONFIG_PATH"] == str(ROOT / "deploy/superset/superset_config.py")


def test_superset_config_reads_the_key_file_and_refuses_to_run_without_a_key(
        monkeypatch, tmp_path):
    config = str(ROOT / "deploy/superset/superset_config.py")
    monkeypatch.delenv("SUPERSET_SECRET_KEY", raising=False)
    monkeypatch.setenv("SUPERSET_SECRET_KEY_FILE", str(tmp_path / "absent"))
    with pytest.raises(RuntimeError, match="secret key"):
        runpy.run_path(config)
    (tmp_path / "key").write_text("k" * 48 + "\n")
    monkeypatch.setenv("SUPERSET_SECRET_KEY_FILE", str(tmp_path / "key"))
    monkeypatch.setenv("SUPERSET_HOME", str(tmp_path))
    loaded = runpy.run_path(config)
    assert loaded["SECRET_KEY"] == "k" * 48
    assert loaded["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{Path(tmp_path) / 'superset.db'}"
    assert loaded["PREVENT_UNSAFE_DB_CONNECTIONS"] is False


def test_dashboard_definitions_cover_the_c4_tables_with_french_unique_names():
    definitions = load_definitions()
    assert {spec["table"] for spec in definitions["datasets"]} == C4_TABLES
    assert definitions["dashboard"]["title"] == "Plateforme ML"
    names = [chart["name"] for chart in definitions["charts"]]
    assert len(names) == len(set(names))
    assert {"Exécutions par jour et par statut", "Exécutions par département",
            "Modèles par type", "Liste des exécutions"} <= set(names)
    for chart in definitions["charts"]:
        assert chart["dataset"] in C4_TABLES, chart["name"]
        assert set(chart.get("metrics", [])) <= set(definitions["metric_defs"]), chart["name"]
    widths = Counter()
    for chart in definitions["charts"]:
        widths[chart["row"]] += chart["width"]
    assert all(total <= 12 for total in widths.values()), widths


def test_every_chart_gets_a_query_context_on_its_dataset():
    definitions = load_definitions()
    for chart in definitions["charts"]:
        context = chart_query_context(chart, 7, definitions)
        assert context["datasource"] == {"id": 7, "type": "table"}
        [query] = context["queries"]
        assert query["columns"] or query["metrics"], chart["name"]
        assert chart_form_data(chart, 7, definitions)["datasource"] == "7__table"
    table = next(chart for chart in definitions["charts"] if chart["viz_type"] == "table")
    [query] = chart_query_context(table, 1, definitions)["queries"]
    assert query["orderby"] == [["created_at", False]] and "id" in query["columns"]
    per_day = next(chart for chart in definitions["charts"] if chart.get("time_grain"))
    [query] = chart_query_context(per_day, 1, definitions)["queries"]
    assert query["columns"][0]["timeGrain"] == "P1D" and "status" in query["columns"]


def test_the_layout_places_every_chart_once_in_its_row():
    definitions = load_definitions()
    charts = [(chart, index + 10) for index, chart in enumerate(definitions["charts"])]
    layout = dashboard_layout(charts)
    placed = [item["meta"]["chartId"] for item in layout.values()
              if isinstance(item, dict) and item.get("type") == "CHART"]
    assert sorted(placed) == [chart_id for _, chart_id in charts]
    for row_id in layout["GRID_ID"]["children"]:
        assert sum(layout[child]["meta"]["width"] for child in layout[row_id]["children"]) <= 12
