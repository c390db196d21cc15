"""The launcher's failure paths: a crashed child, an unreachable broker, a busy port.
Each must stop with a message that says what happened and what to do."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from scripts.launcher import SERVICES, Child, Launcher, LaunchError, available_services
from shared.config import DEFAULTS, ROOT
from shared.embedded_db import free_port


def test_a_crashed_child_is_reported_with_its_exit_code_and_log_tail(tmp_path):
    child = Child(
        "boom", [sys.executable, "-c", "print('loading the model'); raise SystemExit(3)"],
        tmp_path / "log" / "boom.log", "http://127.0.0.1:9/health", dict(os.environ),
        echo=False,
    )
    launcher = Launcher(seed=False, echo=False)
    launcher.children = [child]
    child.start()
    child.process.wait(30)
    deadline = time.monotonic() + 5
    while not child.tail and time.monotonic() < deadline:  # the pump thread catches up
        time.sleep(0.05)
    with pytest.raises(LaunchError) as raised:
        launcher.check_crashed()
    assert "boom exited with code 3" in str(raised.value)
    assert "loading the model" in str(raised.value)
    assert "loading the model" in (tmp_path / "log" / "boom.log").read_text()


def test_a_busy_port_is_named():
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(LaunchError, match=rf"gateway \({port}\)"):
            Launcher(seed=False).check_ports_free({"gateway": port, "other": free_port()})


def test_unreachable_broker_stops_the_launcher_with_instructions(tmp_path):
    env = {**os.environ, "VAR_DIR": str(tmp_path),
           "AMQP_URI": f"amqp://guest:guest@127.0.0.1:{free_port()}/",
           "GATEWAY_PORT": str(free_port()), "AUTH_HTTP_PORT": str(free_port()),
           "EMBEDDED_DB_PORT": str(free_port())}
    env.pop("MONGO_URI", None)
    for spec in SERVICES:
        env[spec.metrics_port_setting] = str(free_port())
    done = subprocess.run([sys.executable, "-m", "scripts.launcher", "--no-seed"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "RabbitMQ is not reachable" in done.stderr
    assert "rabbitmq-server -detached" in done.stderr
    assert not (tmp_path / "db").exists(), "nothing should start before the broker check"


def test_every_service_has_a_metrics_port_setting():
    assert [spec.name for spec in SERVICES] == ["auth", "registry", "deployer", "runner",
                                                "scheduler", "admin", "reporting"]
    for spec in SERVICES:
        assert spec.metrics_port_setting in DEFAULTS
    # Every nameko service on disk is in the launcher's list.
    on_disk = {path.parent.name for path in (ROOT / "services").glob("*/service.py")}
    assert on_disk <= {spec.name for spec in SERVICES}
    assert {spec.name for spec in available_services()} == on_disk
