"""The audit trail through the whole platform (the ``stack`` fixture, as ``make run``).

Every mutating endpoint of the OpenAPI document (POST, PUT, PATCH, DELETE) is called
once, each request with its own ``X-Request-ID``; each must leave exactly ONE audit
entry carrying that request id, the caller and the client address — however many
events the request caused across services. An endpoint added to the document without
a step here fails the test: add its step to ``STEPS``.
"""

from __future__ import annotations

import io
import json
import socket
import time
import uuid

import pytest
import requests

pytestmark = pytest.mark.e2e

ADMIN = ("admin", "admin123")
DATASCIENTIST = ("datascientist", "password123")
BUSINESS = ("business", "password123")
MUTATING = ("post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def model_bytes():
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True, as_frame=True)
    buffer = io.BytesIO()
    joblib.dump(LogisticRegression(max_iter=300).fit(X, y), buffer)
    return buffer.getvalue(), X


class Walk:
    """Calls the API as a user, each call with a fresh request id; remembers them."""

    def __init__(self, stack):
        self.stack = stack
        self.calls: list[tuple[str, str, str, str]] = []  # (method, route, request id, user)
        self.ids: dict[str, str] = {}

    def __call__(self, who, method: str, route: str, status: int, retry_busy: bool = False,
                 **kwargs) -> dict | None:
        path = route.format(**self.ids)
        for _ in range(3 if retry_busy else 1):
            rid = uuid.uuid4().hex
            headers = {**self.stack.auth(self.stack.token(*who)), "X-Request-ID": rid}
            response = requests.request(method.upper(), self.stack.api(path), headers=headers,
                                        timeout=60, **kwargs)
            # A model file is inspected in a sandbox: on a loaded machine the registry may
            # answer after the gateway's RPC timeout (503, the change undone). Such a
            # request is not counted; the next one, with its own request id, is.
            if not (retry_busy and response.status_code == 503):
                break
        assert response.status_code == status, (method, path, response.text)
        assert response.headers["X-Request-ID"] == rid
        self.calls.append((method, route, rid, who[0]))
        return response.json() if response.content else None


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def walk_every_mutating_endpoint(walk: Walk, model_bytes) -> None:
    data, X = model_bytes
    rows = X.head(3).to_dict(orient="records")
    slow = X.sample(n=30_000, replace=True, random_state=1).to_csv(index=False).encode()
    meta = {"name": f"audit-{uuid.uuid4().hex[:8]}", "type": "classification",
            "framework": "scikit-learn", "department": "Finance", "region": "Europe"}
    ds, biz, admin = DATASCIENTIST, BUSINESS, ADMIN

    model = walk(ds, "post", "/models", 201, retry_busy=True, files={
        "metadata": (None, json.dumps(meta), "application/json"),
        "file": ("iris.joblib", data, "application/octet-stream")})
    walk.ids["model_id"] = model["id"]
    walk(ds, "patch", "/models/{model_id}", 200, json={"description": "audited"})
    walk(ds, "put", "/models/{model_id}/file", 200, retry_busy=True,
         files={"file": ("iris.joblib", data, "application/octet-stream")})
    run = walk(biz, "post", "/models/{model_id}/executions", 201, files={
        "file": ("in.csv", X.head(5).to_csv(index=False).encode(), "text/csv")})
    walk.ids["execution_id"] = run["id"]
    deployment = walk(ds, "post", "/deployments", 201, json={
        "name": f"audit-{uuid.uuid4().hex[:8]}", "model_id": model["id"],
        "schedule": "0 3 * * *"})
    walk.ids["deployment_id"] = deployment["id"]
    walk(ds, "patch", "/deployments/{deployment_id}", 200, json={"schedule": "0 4 * * *"})
    walk(ds, "put", "/deployments/{deployment_id}/input", 200,
         files={"file": ("in.csv", X.head(5).to_csv(index=False).encode(), "text/csv")})
    walk(ds, "post", "/deployments/{deployment_id}/start", 200)
    walk(biz, "post", "/deployments/{deployment_id}/executions", 201, json={})
    walk(biz, "post", "/deployments/{deployment_id}/predict", 200, json={"instances": rows})
    _wait_final(walk, run["id"])
    walk(biz, "post", "/executions/{execution_id}/rerun", 201)
    long_run = requests.post(walk.stack.api(f"/models/{model['id']}/executions"),
                             headers=walk.stack.auth(walk.stack.token(*biz)), timeout=60, files={
                                 "file": ("slow.csv", slow, "text/csv"),
                                 "parameters": (None, json.dumps({"batch_size": 1}),
                                                "application/json")}).json()
    walk.ids["execution_id"] = long_run["id"]
    walk(biz, "post", "/executions/{execution_id}/cancel", 202)
    walk(ds, "post", "/deployments/{deployment_id}/stop", 200)
    walk(ds, "delete", "/deployments/{deployment_id}", 204)
    walk(ds, "delete", "/models/{model_id}", 204)

    walk(admin, "put", "/admin/settings", 200, json={"webhook_allowed_hosts": ["127.0.0.1"]})
    integration = walk(admin, "post", "/integrations", 201, json={
        "name": "audit", "url": f"http://127.0.0.1:{_closed_port()}/hook",
        "events": ["model_created"]})
    walk.ids["integration_id"] = integration["id"]
    walk(admin, "patch", "/integrations/{integration_id}", 200, json={"active": False})
    walk(admin, "post", "/integrations/{integration_id}/test", 202)
    walk(admin, "delete", "/integrations/{integration_id}", 204)

    user = walk(admin, "post", "/users", 201, json={
        "username": f"audit-{uuid.uuid4().hex[:8]}", "role": "viewer",
        "password": "audited-pass-1"})
    walk.ids["user_id"] = user["id"]
    walk(admin, "patch", "/users/{user_id}", 200, json={"role": "business-user"})
    walk(admin, "post", "/users/{user_id}/reset-password", 200,
         json={"password": "audited-pass-2", "temporary": True})
    walk(admin, "post", "/users/{user_id}/unlock", 200)
    walk(admin, "post", "/reports/rebuild", 202)
    # Last: a backup, then its restore (the platform comes back to the same state; the
    # audit trail is kept and gains the restore). Each is waited for, so that no later
    # request meets their maintenance window.
    backup = walk(admin, "post", "/admin/backups", 202)
    _wait_job(walk, f"/admin/backups/{backup['id']}")
    restore = walk(admin, "post", "/admin/restore", 202, json={"backup_id": backup["id"]})
    _wait_job(walk, f"/admin/restores/{restore['id']}")


def _wait_job(walk: Walk, path: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while True:
        job = requests.get(walk.stack.api(path), timeout=10,
                           headers=walk.stack.auth(walk.stack.token(*ADMIN))).json()
        if job["status"] != "running":
            assert job["status"] == "succeeded", job
            return
        assert time.monotonic() < deadline, job
        time.sleep(0.5)


def _wait_final(walk: Walk, execution_id: str, timeout: float = 90) -> None:
    token = walk.stack.token(*BUSINESS)
    deadline = time.monotonic() + timeout
    while True:
        status = requests.get(walk.stack.api(f"/executions/{execution_id}"),
                              headers=walk.stack.auth(token), timeout=10).json()["status"]
        if status in ("succeeded", "failed", "cancelled", "timed_out"):
            return
        assert time.monotonic() < deadline
        time.sleep(0.3)


def _entries(stack, request_id: str) -> list[dict]:
    response = requests.get(stack.api("/admin/audit"), timeout=10,
                            headers=stack.auth(stack.token(*ADMIN)),
                            params={"request_id": request_id})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_each_mutating_request_leaves_exactly_one_audit_entry(stack, model_bytes):
    document = requests.get(stack.api("/openapi.json"), timeout=10).json()
    endpoints = {(method, path.removeprefix("/api/v1"))
                 for path, item in document["paths"].items()
                 for method in item if method in MUTATING}

    walk = Walk(stack)
    walk_every_mutating_endpoint(walk, model_bytes)
    walked = {(method, route) for method, route, _, _ in walk.calls}
    assert endpoints - walked == set(), "mutating endpoints without a step in this test"

    counted = walk.calls
    pending = {rid for *_, rid, _ in counted}
    deadline = time.monotonic() + 60
    while pending and time.monotonic() < deadline:
        pending = {rid for rid in pending if not _entries(stack, rid)}
        time.sleep(0.5)
    assert not pending, [c for c in counted if c[2] in pending]
    time.sleep(2)  # late events of a request (another service's reaction) would show now
    for method, route, rid, user in counted:
        entries = _entries(stack, rid)
        assert len(entries) == 1, (method, route, entries)
        entry = entries[0]
        assert entry["request_id"] == rid and entry["user"] == user, (route, entry)
        assert entry["client"] == "127.0.0.1", (route, entry)
        assert entry["action"] and entry["object_type"], (route, entry)

    by_route = {route: _entries(stack, rid)[0] for _, route, rid, _ in counted}
    assert by_route["/models"]["action"] == "model.created"
    assert by_route["/deployments/{deployment_id}/start"]["action"] == "deployment.started"
    assert by_route["/executions/{execution_id}/cancel"]["action"].startswith("execution.cancel")
    assert by_route["/users"]["action"] == "user.created"
    assert by_route["/users/{user_id}/reset-password"]["action"] == "user.password_reset"
    assert by_route["/users/{user_id}/unlock"]["action"] == "user.unlocked"
    deleted = by_route["/models/{model_id}"]
    assert deleted["action"] == "model.deleted"
    # The trail outlives what it describes: the model is gone, its history is not.
    history = requests.get(stack.api("/admin/audit"), headers=stack.auth(stack.token(*ADMIN)),
                           params={"object_id": walk.ids["model_id"], "per_page": 100},
                           timeout=10).json()
    assert {"model.created", "model.updated", "model.deleted"} <= {
        e["action"] for e in history["items"]}
