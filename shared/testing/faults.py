"""What the fault suite (``tests/faults/``) drives and checks.

* ``FaultPlatform``: a running stack (``shared.testing.stack``) seen as processes
  to kill — pids from the launcher's supervision state file — and as an API to
  submit runs to and wait on.
* ``assert_nothing_lost``: the one checker every scenario ends with. Nothing lost
  means: every execution the platform knows of (and every one it accepted) is in
  exactly one final state, readable, its log naming that end exactly once, with
  its results when it succeeded; no model is ``ready`` without its file; no
  schedule slot fired twice.
* ``RECOVERY``: each scenario's recovery time, printed at the end of the run.
"""

from __future__ import annotations

import collections
import io
import json
import os
import re
import signal
import time
from dataclasses import dataclass, field
from typing import Any

import requests

from shared.supervision import state_path
from shared.testing.stack import Stack

FINAL = {"succeeded", "failed", "cancelled", "timed_out"}
#: The log line each way of ending writes (services/runner/engine.py).
FINAL_LINE = re.compile(r"^(succeeded in |failed: |cancelled: |timed_out: |cancelled while queued)")

#: The fault platform's settings: short supervision back-offs and runner lease, a short
#: misfire grace, so every recovery takes seconds (tests/faults/conftest.py).
FAULT_ENV = {
    "RESTART_BACKOFF_S": "0.5",
    "RESTART_BACKOFF_FACTOR": "2",
    "RESTART_BACKOFF_MAX_S": "4",
    "RESTART_MAX_CRASHES": "10",
    "RESTART_WINDOW_S": "120",
    "RUNNER_SLOTS": "2",
    "RUNNER_LEASE_S": "3",
    "RUNNER_LOST_AFTER_S": "30",
    "RUNNER_KILL_GRACE_S": "1",
    "AMQP_HEARTBEAT": "10",
    "SCHEDULER_MISFIRE_GRACE_S": "2",
    "SCHEDULER_REDISPATCH_S": "5",
    "SCHEDULER_RESYNC_S": "30",
    # The registry inspects each model file in a sandbox: seconds more than the default
    # 10 s on a loaded 2-core machine (see issue 11 item 6 for what a timeout does).
    "RPC_TIMEOUT_S": "30",
}

#: scenario → (seconds, what was measured); printed by tests/faults/conftest.py.
RECOVERY: dict[str, tuple[float, str]] = {}

DATASCIENTIST = ("datascientist", "password123")


def record_recovery(scenario: str, seconds: float, what: str) -> None:
    RECOVERY[scenario] = (round(seconds, 1), what)
    print(f"recovery[{scenario}] = {seconds:.1f} s ({what})")


@dataclass
class FaultPlatform:
    stack: Stack
    accepted: set[str] = field(default_factory=set)
    #: execution id → its listing when last checked in full (assert_nothing_lost)
    verified: dict[str, tuple] = field(default_factory=dict)
    #: violations already reported by a scenario
    reported: set[tuple] = field(default_factory=set)

    # -- processes -----------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return json.loads(state_path(self.stack.var_dir).read_text())["services"]

    def pid(self, name: str, timeout: float = 60) -> int:
        """The pid of a supervised process (waits while it is being restarted)."""
        deadline = time.monotonic() + timeout
        while True:
            entry = self.state().get(name) or {}
            if entry.get("pid") and entry.get("status") in ("up", "starting"):
                return int(entry["pid"])
            assert time.monotonic() < deadline, f"{name} has no pid: {entry}"
            time.sleep(0.2)

    def kill(self, name: str, signum: int = signal.SIGKILL, group: bool = False) -> int:
        pid = self.pid(name)
        if group:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)
        return pid

    def stack_env(self, name: str) -> str:
        """A setting the platform was started with."""
        return self.stack.env[name]

    def restarts(self, name: str) -> int:
        return int(self.state().get(name, {}).get("restarts") or 0)

    def health(self) -> dict[str, Any]:
        try:
            return requests.get(self.stack.api("/health"), timeout=5).json()
        except (requests.RequestException, ValueError):
            return {}

    def wait_healthy(self, timeout: float = 120) -> float:
        """Until every service answers and every process is up; returns the seconds."""
        started = time.monotonic()
        while True:
            body = self.health()
            if body.get("status") == "ok" and body.get("processes") and all(
                    p["status"] == "up" for p in body["processes"].values()):
                return time.monotonic() - started
            assert time.monotonic() - started < timeout, f"not healthy: {body}"
            time.sleep(0.3)

    # -- API -------------------------------------------------------------------------

    def headers(self) -> dict[str, str]:
        return self.stack.auth(self.stack.token(*DATASCIENTIST))

    def get(self, path: str, **kwargs) -> requests.Response:
        return requests.get(self.stack.api(path), headers=self.headers(),
                            timeout=kwargs.pop("timeout", 30), **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return requests.post(self.stack.api(path), headers=self.headers(),
                             timeout=kwargs.pop("timeout", 60), **kwargs)

    def submit(self, model_id: str, data: bytes, parameters: dict | None = None,
               expect: int | None = 201) -> requests.Response:
        response = self.post(f"/models/{model_id}/executions", files={
            "file": ("input.csv", data, "text/csv"),
            "parameters": (None, json.dumps(parameters or {}), "application/json"),
        })
        if response.status_code in (200, 201, 202):
            self.accepted.add(response.json()["id"])
        if expect is not None:
            assert response.status_code == expect, response.text
        return response

    def execution(self, execution_id: str) -> dict[str, Any]:
        response = self.get(f"/executions/{execution_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def wait_status(self, execution_id: str, statuses: set[str], timeout: float = 120,
                    tolerate: tuple[int, ...] = (502, 503, 504)) -> dict[str, Any]:
        """Poll until the execution is in one of ``statuses`` (riding out 503s)."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            try:
                response = self.get(f"/executions/{execution_id}", timeout=15)
            except requests.RequestException as exc:
                last = exc
            else:
                if response.status_code == 200:
                    last = response.json()
                    if last["status"] in statuses:
                        return last
                elif response.status_code not in tolerate:
                    raise AssertionError(f"GET execution: {response.status_code} "
                                         f"{response.text}")
                else:
                    last = response.text
            time.sleep(0.3)
        raise AssertionError(f"execution {execution_id} not in {statuses} after "
                             f"{timeout:.0f} s: {last}")

    def wait_final(self, ids, timeout: float = 180) -> dict[str, dict[str, Any]]:
        deadline = time.monotonic() + timeout
        return {eid: self.wait_status(eid, FINAL, max(1.0, deadline - time.monotonic()))
                for eid in ids}

    def logs(self, execution_id: str) -> list[dict[str, Any]]:
        lines, after = [], 0
        while True:
            response = self.get(f"/executions/{execution_id}/logs", params={"after": after})
            assert response.status_code == 200, response.text
            body = response.json()
            lines += body["lines"]
            if not body["lines"] or body["next"] == after:
                return lines
            after = body["next"]

    def all_executions(self) -> list[dict[str, Any]]:
        items, page = [], 1
        while True:
            response = self.get("/executions", params={"per_page": 200, "page": page})
            assert response.status_code == 200, response.text
            body = response.json()
            items += body["items"]
            if page * body["per_page"] >= body["total"]:
                return items
            page += 1

    def all_models(self) -> list[dict[str, Any]]:
        items, page = [], 1
        while True:
            response = self.get("/models", params={"per_page": 100, "page": page})
            assert response.status_code == 200, response.text
            body = response.json()
            items += body["items"]
            if page * body["per_page"] >= body["total"]:
                return items
            page += 1


def _fingerprint(execution: dict[str, Any]) -> tuple:
    return tuple(execution.get(key) for key in
                 ("status", "attempt", "finished_at", "error", "result", "cancel_requested"))


def assert_nothing_lost(platform: FaultPlatform, timeout: float = 180) -> dict[str, int]:
    """The shared end of every scenario (see the module docstring); returns counts.

    An execution checked in full (one by one, its log, its results) by an earlier
    call is checked again in full only if its listing changed since. A violation
    fails the scenario that finds it and is not reported again by the next ones.
    """
    executions = {e["id"]: e for e in platform.all_executions()}
    missing = platform.accepted - set(executions)
    assert not missing, f"accepted executions the platform does not list: {missing}"
    # Whatever is still on its way must get to its end by itself.
    pending = [eid for eid, e in executions.items() if e["status"] not in FINAL]
    executions.update(platform.wait_final(pending, timeout))
    counts: collections.Counter = collections.Counter()
    problems: list[str] = []

    def problem(key: tuple, message: str) -> None:
        if key not in platform.reported:
            platform.reported.add(key)
            problems.append(message)

    for eid in list(executions):
        counts[executions[eid]["status"]] += 1
        if platform.verified.get(eid) == _fingerprint(executions[eid]):
            continue
        execution = executions[eid] = platform.execution(eid)  # readable one by one
        status = execution["status"]
        if status not in FINAL:
            problem(("status", eid), f"{eid} is still {status}: {execution}")
            continue
        finals = [ln["message"] for ln in platform.logs(eid) if FINAL_LINE.match(ln["message"])]
        if len(finals) != 1 or not finals[0].startswith(status):
            problem(("log", eid), f"{eid} is {status} but logged {len(finals)} endings: "
                                  f"{finals}")
        if status == "succeeded":
            response = platform.get(f"/executions/{eid}/results", params={"format": "csv"},
                                    timeout=60)
            rows = len(response.content.decode().strip().splitlines()) - 1 \
                if response.status_code == 200 else None
            if rows != execution["result"]["rows"]:
                problem(("result", eid), f"{eid} succeeded but its results are not there: "
                                         f"{response.status_code} {response.text[:200]}")
        platform.verified[eid] = _fingerprint(execution)
    slots = collections.Counter((e["deployment_id"], e["slot"]) for e in executions.values()
                                if e["trigger"] == "schedule")
    for slot, n in slots.items():
        if n > 1:
            problem(("slot", slot), f"slot {slot} fired {n} times")
    models = platform.all_models()
    for model in models:
        if model["status"] != "ready":
            continue
        response = platform.get(f"/models/{model['id']}/file", timeout=60) \
            if model["file"] else None
        if response is None or response.status_code != 200 or \
                len(response.content) != model["file"]["size"]:
            problem(("model", model["id"]),
                    f"model {model['id']} is ready without its file: "
                    f"{response.status_code if response is not None else 'no file'} "
                    f"{response.text[:200] if response is not None else ''}")
    assert not problems, "lost:\n" + "\n".join(problems)
    counts["models"] = len(models)
    return dict(counts)


def csv_rows(frame) -> bytes:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode()
