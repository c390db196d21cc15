"""The four Grafana dashboards of deploy/grafana/: well formed, on the provisioned
datasource, charting only metrics the code defines (their data is proven by
tests/e2e/test_reporting_e2e.py against the real Prometheus)."""

import json
import re

from shared.config import ROOT

DASHBOARDS = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))


def _code_text() -> str:
    return "\n".join(p.read_text() for folder in ("services", "shared")
                     for p in (ROOT / folder).rglob("*.py"))


def test_four_dashboards_with_unique_uids():
    dashboards = [json.loads(path.read_text()) for path in DASHBOARDS]
    titles = {d["title"] for d in dashboards}
    assert {"Plateforme ML", "Plateforme ML — Exécutions", "Plateforme ML — Planificateur",
            "Plateforme ML — API"} <= titles
    assert len({d["uid"] for d in dashboards}) == len(dashboards)


def test_every_panel_queries_the_provisioned_prometheus_and_known_metrics():
    code = _code_text()
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        variables = {v["name"] for v in dashboard["templating"]["list"]}
        for panel in dashboard["panels"]:
            assert panel["targets"], (path.name, panel["title"])
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == "prometheus"
                expr = target["expr"]
                used = set(re.findall(r"\$(\w+)", expr))
                assert used <= variables, (path.name, panel["title"], used - variables)
                for name in re.findall(r"\bml_[a-z0-9_]+", expr):
                    base = re.sub(r"_(bucket|sum|count)$", "", name)
                    assert f'"{base}"' in code, (path.name, panel["title"], base)
