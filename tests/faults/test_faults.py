"""Kill what a bad night in production kills, with work in flight, and check that
nothing is lost (``shared.testing.faults.assert_nothing_lost``) and that the
platform recovers by itself. Each scenario prints its recovery time; the run ends
with a table of them.

One platform for the whole module (started by the launcher, as ``make run``
starts it) on a private RabbitMQ node; scenarios run in file order and each
starts by waiting until the platform is healthy again.
"""

from __future__ import annotations

import http.client
import json
import time
from urllib.parse import urlsplit

import pytest
import requests

from shared.testing.faults import FINAL, assert_nothing_lost, csv_rows, record_recovery

pytestmark = pytest.mark.faults

#: Rows scored one by one (batch_size 1): a run of several seconds on this machine.
SLOW_ROWS = 3000


def slow_input(iris, rows: int = SLOW_ROWS) -> bytes:
    X = iris[0]
    return csv_rows(X.sample(n=rows, replace=True, random_state=3).reset_index(drop=True))


def fast_input(iris) -> bytes:
    return csv_rows(iris[0].head(20))


SLOW = {"batch_size": 1}


def wait_running(platform, ids, timeout=60):
    for eid in ids:
        platform.wait_status(eid, {"running"} | FINAL, timeout)


def test_runner_killed_mid_run_and_with_runs_queued(platform, iris, model_id):
    platform.wait_healthy()
    slow = [platform.submit(model_id, slow_input(iris), SLOW).json()["id"] for _ in range(2)]
    queued = [platform.submit(model_id, fast_input(iris)).json()["id"] for _ in range(3)]
    wait_running(platform, slow)
    time.sleep(1.0)  # scoring, not loading
    restarts = platform.restarts("runner")
    killed_at = time.monotonic()
    platform.kill("runner")
    # The interrupted runs are taken over (attempt 2) once their lease has expired.
    for eid in slow:
        execution = platform.wait_status(eid, {"running", *FINAL}, timeout=90)
        while execution["status"] == "running" and execution["attempt"] < 2:
            time.sleep(0.2)
            execution = platform.execution(eid)
    record_recovery("runner killed mid-run", time.monotonic() - killed_at,
                    "SIGKILL of the runner → interrupted runs running again (attempt 2)")
    done = platform.wait_final(slow + queued, timeout=180)
    assert all(e["status"] == "succeeded" for e in done.values()), done
    assert {done[eid]["attempt"] for eid in slow} == {2}
    assert platform.restarts("runner") == restarts + 1
    processes = platform.health()["processes"]
    assert processes["runner"]["last_restart_reason"] == "killed by SIGKILL (signal 9)"
    assert_nothing_lost(platform)


def test_broker_killed_with_runs_queued_and_down_when_a_run_is_submitted(
        platform, broker, iris, model_id):
    platform.wait_healthy()
    slow = [platform.submit(model_id, slow_input(iris), SLOW).json()["id"] for _ in range(2)]
    queued = [platform.submit(model_id, fast_input(iris)).json()["id"] for _ in range(3)]
    wait_running(platform, slow)
    broker.kill()
    try:
        refused = platform.submit(model_id, fast_input(iris), expect=None)
        assert refused.status_code == 503, (refused.status_code, refused.text)
        assert refused.json()["error"]["code"] == "service_unavailable"
        read = platform.get(f"/executions/{slow[0]}")
        assert read.status_code in (200, 503), (read.status_code, read.text)
    finally:
        broker.start()
    back_at = time.monotonic()
    deadline = back_at + 120
    while True:  # the services reconnect by themselves: nobody restarts them
        response = platform.submit(model_id, fast_input(iris), expect=None)
        if response.status_code == 201:
            break
        assert response.status_code == 503, (response.status_code, response.text)
        assert time.monotonic() < deadline, "no run accepted 2 min after the broker returned"
        time.sleep(1.0)
    record_recovery("broker killed, runs queued", time.monotonic() - back_at,
                    "broker back → a new run accepted (201)")
    done = platform.wait_final(slow + queued + [response.json()["id"]], timeout=180)
    assert all(e["status"] == "succeeded" for e in done.values()), done
    assert_nothing_lost(platform)


def test_database_killed_mid_run(platform, iris, model_id):
    platform.wait_healthy()
    execution_id = platform.submit(model_id, slow_input(iris), SLOW).json()["id"]
    wait_running(platform, [execution_id])
    time.sleep(1.0)
    killed_at = time.monotonic()
    platform.kill("database")  # the launcher starts it again on the same data
    down = platform.get("/models", timeout=30)
    assert down.status_code in (200, 503), (down.status_code, down.text)
    platform.wait_healthy()
    record_recovery("database killed mid-run", time.monotonic() - killed_at,
                    "SIGKILL of the database → every process up and healthy")
    done = platform.wait_status(execution_id, FINAL, timeout=180)
    assert platform.restarts("database") >= 1
    # The run rides out the outage (hardening-runtime, issue 11 item 7).
    assert done["status"] == "succeeded", done
    assert_nothing_lost(platform)


def _start_upload(platform, method: str, path: str, body: bytes, content_type: str,
                  sent: int) -> http.client.HTTPConnection:
    """Send the headers and the first ``sent`` bytes of ``body``; the rest never comes."""
    parts = urlsplit(platform.stack.base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    conn.putrequest(method, f"/api/v1{path}")
    for name, value in {**platform.headers(), "Content-Type": content_type,
                        "Content-Length": str(len(body)), "X-Filename": "iris.joblib"}.items():
        conn.putheader(name, value)
    conn.endheaders()
    conn.send(body[:sent])
    return conn


def test_gateway_killed_mid_upload(platform, iris):
    platform.wait_healthy()
    created = platform.post("/models", json={
        "name": f"faults-upload-{time.time_ns()}", "type": "classification",
        "framework": "scikit-learn", "department": "Marketing", "region": "Europe"})
    assert created.status_code == 201, created.text
    draft = created.json()
    assert draft["status"] == "draft"
    model_bytes = iris[1] * 1  # a real model file, cut in the middle
    raw = _start_upload(platform, "PUT", f"/models/{draft['id']}/file", model_bytes,
                        "application/octet-stream", len(model_bytes) // 2)
    boundary = "faultsboundary"
    metadata = json.dumps({"name": f"faults-upload2-{time.time_ns()}", "type": "classification",
                           "framework": "scikit-learn"})
    multipart = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"metadata\"\r\n"
                 f"Content-Type: application/json\r\n\r\n{metadata}\r\n--{boundary}\r\n"
                 f"Content-Disposition: form-data; name=\"file\"; filename=\"iris.joblib\"\r\n"
                 f"Content-Type: application/octet-stream\r\n\r\n").encode() + model_bytes + \
        f"\r\n--{boundary}--\r\n".encode()
    form = _start_upload(platform, "POST", "/models", multipart,
                         f"multipart/form-data; boundary={boundary}", len(multipart) - 200)
    time.sleep(0.5)  # the gateway is reading both bodies
    restarts = platform.restarts("gateway")
    killed_at = time.monotonic()
    platform.kill("gateway", group=True)  # gunicorn's master and its worker
    for conn in (raw, form):
        with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
            conn.send(b"x" * 64)
            conn.getresponse()
        conn.close()
    platform.wait_healthy()
    record_recovery("gateway killed mid-upload", time.monotonic() - killed_at,
                    "SIGKILL of the gateway → answering again, every process up")
    assert platform.restarts("gateway") == restarts + 1
    model = platform.get(f"/models/{draft['id']}").json()
    assert model["status"] == "draft" and model["file"] is None, model
    assert not [m for m in platform.all_models() if m["name"].startswith("faults-upload2-")]
    # The client tries again: one answer, one state.
    again = requests.put(platform.stack.api(f"/models/{draft['id']}/file"),
                         headers=platform.headers(), timeout=60,
                         files={"file": ("iris.joblib", model_bytes, "application/octet-stream")})
    assert again.status_code == 200, again.text
    assert platform.get(f"/models/{draft['id']}").json()["status"] == "ready"
    assert_nothing_lost(platform)
