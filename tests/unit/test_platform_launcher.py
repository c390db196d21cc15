"""The launcher's failure paths: a crashed child, an unreachable broker, a busy port.
Each must stop with a message that says what happened and what to do. A child that
dies after startup is restarted with a growing back-off, and only one that keeps
crashing stops the platform (shared/supervision.py)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from scripts.launcher import SERVICES, Child, Launcher, LaunchError, available_services
from shared.config import DEFAULTS, ROOT
from shared.embedded_db import free_port
from shared.supervision import GiveUp, RestartPolicy, Supervisor, describe_exit, read_state


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


def test_the_back_off_grows_by_the_factor_up_to_the_max():
    policy = RestartPolicy(initial_s=0.5, factor=3, max_s=10, max_crashes=9, window_s=60)
    assert [policy.delay(n) for n in (1, 2, 3, 4, 5)] == [0.5, 1.5, 4.5, 10, 10]


def test_exit_reasons_name_the_code_or_the_signal():
    assert describe_exit(3) == "exited with code 3"
    assert describe_exit(-signal.SIGKILL) == "killed by SIGKILL (signal 9)"


def test_only_crashes_inside_the_window_count_towards_giving_up(tmp_path):
    now = [1000.0]
    supervisor = Supervisor(RestartPolicy(initial_s=1, factor=2, max_s=30, max_crashes=3,
                                          window_s=60),
                            tmp_path / "run" / "services.json", clock=lambda: now[0])
    assert supervisor.crashed("runner", "exited with code 1") == 1
    now[0] += 30
    assert supervisor.crashed("runner", "exited with code 1") == 2
    now[0] += 40  # the first crash is now out of the window
    assert supervisor.crashed("runner", "exited with code 1") == 2
    now[0] += 5
    with pytest.raises(GiveUp, match="runner crashed 3 times within 60 s"):
        supervisor.crashed("runner", "killed by SIGKILL (signal 9)")
    state = read_state(tmp_path / "run" / "services.json")
    assert state["services"]["runner"]["status"] == "down"
    assert state["services"]["runner"]["last_restart_reason"] == "killed by SIGKILL (signal 9)"


def test_a_crashing_child_is_restarted_with_back_off_then_given_up(tmp_path, monkeypatch):
    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    for name, value in {"RESTART_BACKOFF_S": "0.2", "RESTART_BACKOFF_FACTOR": "2",
                        "RESTART_BACKOFF_MAX_S": "0.3", "RESTART_MAX_CRASHES": "3",
                        "RESTART_WINDOW_S": "60"}.items():
        monkeypatch.setenv(name, value)
    child = Child(
        "flaky", [sys.executable, "-c", "print('loading the model'); raise SystemExit(3)"],
        tmp_path / "log" / "flaky.log", "http://127.0.0.1:9/health", dict(os.environ),
        echo=False,
    )
    launcher = Launcher(seed=False, echo=False)
    launcher.children = [child]
    child.start()
    launcher.supervisor.started("flaky", child.process.pid)
    state_file = tmp_path / "run" / "services.json"
    started = [child.process.pid]
    restarts_seen = []
    deadline = time.monotonic() + 30
    with pytest.raises(LaunchError) as raised:
        while time.monotonic() < deadline:
            launcher.supervise()
            state = json.loads(state_file.read_text())["services"]["flaky"]
            if child.process.pid != started[-1]:
                started.append(child.process.pid)
                restarts_seen.append(state["restarts"])
            time.sleep(0.05)
    assert restarts_seen == [1, 2], "restarted twice, then the third crash gives up"
    message = str(raised.value)
    assert "flaky exited with code 3" in message
    assert "loading the model" in message
    assert "flaky crashed 3 times within 60 s" in message
    state = json.loads(state_file.read_text())["services"]["flaky"]
    assert state["status"] == "down" and state["restarts"] == 2
    assert state["last_restart_reason"] == "exited with code 3"
    assert (tmp_path / "log" / "flaky.log").read_text().count("--- ") == 3


def test_health_shows_the_supervised_processes(tmp_path):
    from services.gateway.app import create_app

    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "services.json").write_text(json.dumps({
        "launcher_pid": os.getpid(), "services": {
            "runner": {"status": "restarting", "pid": 12, "restarts": 2,
                       "last_restart_reason": "killed by SIGKILL (signal 9)",
                       "last_crash_at": "2026-01-05T10:00:00Z",
                       "last_restart_at": "2026-01-05T09:00:00Z", "next_restart_in_s": 1.5},
            "gateway": {"status": "up", "pid": 13, "restarts": 0}}}))
    app = create_app({"VAR_DIR": str(tmp_path), "HEALTH_TIMEOUT_S": 0.2})
    body = app.test_client().get("/api/v1/health").get_json()
    assert body["status"] == "degraded"
    assert body["processes"]["runner"] == {
        "status": "restarting", "restarts": 2,
        "last_restart_reason": "killed by SIGKILL (signal 9)",
        "last_crash_at": "2026-01-05T10:00:00Z", "last_restart_at": "2026-01-05T09:00:00Z",
        "next_restart_in_s": 1.5}
    assert "pid" not in body["processes"]["gateway"]
    # A state file whose launcher is gone says nothing.
    (tmp_path / "run" / "services.json").write_text(json.dumps({
        "launcher_pid": 2 ** 22 + 7, "services": {"runner": {"status": "up"}}}))
    assert "processes" not in app.test_client().get("/api/v1/health").get_json()


def test_a_killed_embedded_database_is_restarted_on_its_data(tmp_path, monkeypatch):
    import pymongo

    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    monkeypatch.setenv("EMBEDDED_DB_PORT", str(free_port()))
    monkeypatch.setenv("RESTART_BACKOFF_S", "0.1")
    monkeypatch.delenv("MONGO_URI", raising=False)
    launcher = Launcher(seed=False, echo=False)
    uri = launcher.start_database()
    try:
        with pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000) as client:
            client.faults.kept.insert_one({"_id": "acknowledged"})
        launcher.database.process.kill()
        launcher.database.process.wait(10)
        deadline = time.monotonic() + 60
        while launcher.supervisor.record("database").restarts < 1:
            assert time.monotonic() < deadline
            launcher.supervise()
            time.sleep(0.05)
        with pymongo.MongoClient(uri, serverSelectionTimeoutMS=10000) as client:
            assert client.faults.kept.find_one({"_id": "acknowledged"}) is not None
        state = read_state(tmp_path / "run" / "services.json")["services"]["database"]
        assert state["status"] == "up" and state["restarts"] == 1
        assert state["last_restart_reason"] == "killed by SIGKILL (signal 9)"
    finally:
        launcher.database.stop()
