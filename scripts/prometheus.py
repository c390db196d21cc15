"""Debian's Prometheus for ``make run``: one call from the launcher (``add_to``).

When ``prometheus`` is installed (``/usr/bin/prometheus``, Debian package
``prometheus``), it is started as one more child of the launcher on
``PROMETHEUS_PORT`` (9090), data under ``$VAR_DIR/prometheus``, with a config
generated from ``deploy/prometheus/prometheus.yml`` (the docker-compose one): the
same jobs, labels and alert rules, with each target rewritten to
``127.0.0.1:<the port this platform uses>`` (ports differ in the tests).
When it is not installed, the launcher says so and goes on without it.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
from pathlib import Path
from typing import Any

import yaml

from shared.config import ROOT, int_setting, setting

SOURCE = ROOT / "deploy" / "prometheus" / "prometheus.yml"
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"


def binary() -> str | None:
    return shutil.which("prometheus")


def local_config(ports: dict[str, int], self_port: int, scrape_s: float) -> dict[str, Any]:
    """``deploy/prometheus/prometheus.yml`` with every target on this machine's ports.

    ``ports``: service label → port (the services' metrics ports and the gateway's).
    A target whose service is not running here is left out.
    """
    config = yaml.safe_load(SOURCE.read_text())
    interval = f"{scrape_s:g}s"
    config["global"]["scrape_interval"] = interval
    config["global"]["evaluation_interval"] = interval
    config["rule_files"] = [str(RULES)]
    for job in config["scrape_configs"]:
        kept = []
        for static in job.get("static_configs", []):
            service = (static.get("labels") or {}).get("service")
            if job["job_name"] == "prometheus":
                kept.append({**static, "targets": [f"127.0.0.1:{self_port}"]})
            elif service in ports:
                kept.append({**static, "targets": [f"127.0.0.1:{ports[service]}"]})
        job["static_configs"] = kept
    return config


def write_config(var_dir: Path, ports: dict[str, int], self_port: int,
                 scrape_s: float) -> Path:
    directory = var_dir / "prometheus"
    (directory / "data").mkdir(parents=True, exist_ok=True)
    path = directory / "prometheus.yml"
    path.write_text(yaml.safe_dump(local_config(ports, self_port, scrape_s), sort_keys=False))
    return path


def command(config_path: Path, data_dir: Path, port: int) -> list[str]:
    return [binary() or "prometheus", f"--config.file={config_path}",
            f"--storage.tsdb.path={data_dir}", f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=15d", "--web.enable-lifecycle"]


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def add_to(launcher: Any) -> None:
    """Append Prometheus to the launcher's children (after the services), or say why not."""
    from scripts.launcher import GATEWAY, SERVICES, Child

    port = int_setting("PROMETHEUS_PORT")
    if binary() is None:
        launcher.say("Prometheus is not installed (Debian: apt-get install prometheus): "
                     "metrics are served by each service, nothing collects them")
        return
    if not _port_free(port):
        launcher.say(f"Prometheus not started: port {port} (PROMETHEUS_PORT) is in use")
        return
    names = {child.name for child in launcher.children}
    ports = {spec.name: int_setting(spec.metrics_port_setting) for spec in SERVICES
             if spec.name in names}
    if GATEWAY in names:
        ports["gateway"] = launcher.gateway_port
    scrape_s = float(os.environ.get("PROMETHEUS_SCRAPE_S") or 15)
    var_dir = Path(setting("VAR_DIR"))
    path = write_config(var_dir, ports, port, scrape_s)
    launcher.children.append(Child(
        "prometheus", command(path, var_dir / "prometheus" / "data", port),
        launcher.log_dir / "prometheus.log", f"http://127.0.0.1:{port}/-/ready",
        dict(os.environ), launcher.echo))


if __name__ == "__main__":  # print the local config: python -m scripts.prometheus
    from scripts.launcher import SERVICES

    local = {spec.name: int_setting(spec.metrics_port_setting) for spec in SERVICES}
    local["gateway"] = int_setting("GATEWAY_PORT")
    yaml.safe_dump(local_config(local, int_setting("PROMETHEUS_PORT"), 15), sys.stdout,
                   sort_keys=False)
