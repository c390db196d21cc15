"""The alert rules of deploy/prometheus/ checked and unit-tested by the real promtool,
and the local Prometheus config generated for make run."""

import shutil
import subprocess

import pytest
import yaml

from scripts import prometheus
from shared.config import ROOT

DEPLOY = ROOT / "deploy" / "prometheus"
promtool = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(promtool is None, reason="promtool is not installed "
                                    "(scripts/test_prereqs.sh installs Debian's prometheus)")


def _run(*args):
    return subprocess.run([promtool, *args], cwd=DEPLOY, capture_output=True, text=True,
                          timeout=120)


@needs_promtool
def test_the_alert_rules_are_valid():
    result = _run("check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 rules found" in result.stdout


@needs_promtool
def test_the_alert_rules_fire_when_they_should_and_only_then():
    result = _run("test", "rules", "alerts.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@needs_promtool
def test_a_broken_rule_is_caught(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("groups:\n  - name: x\n    rules:\n      - alert: X\n        expr: sum(\n")
    result = subprocess.run([promtool, "check", "rules", str(broken)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0


@needs_promtool
def test_the_local_config_scrapes_every_running_service_on_its_port(tmp_path):
    ports = {"registry": 1101, "runner": 1103, "reporting": 1107, "gateway": 1000}
    path = prometheus.write_config(tmp_path, ports, 1090, 2)
    config = yaml.safe_load(path.read_text())
    targets = {s["labels"]["service"]: s["targets"] for job in config["scrape_configs"]
               for s in job["static_configs"] if "labels" in s}
    assert targets == {name: [f"127.0.0.1:{port}"] for name, port in ports.items()}
    assert config["global"]["scrape_interval"] == "2s"
    result = subprocess.run([promtool, "check", "config", str(path)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
