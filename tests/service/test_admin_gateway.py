"""Settings, integrations (webhooks) and the audit trail over HTTP (Flask test client)
against the real admin service (nameko container) on the real broker and database.

Every test here lets the platform connect to 127.0.0.1 only (``loopback_only``): SSRF
targets are refused at validation, never by connecting."""

from __future__ import annotations

import csv
import io
import json
import time
import uuid

import pytest
from nameko.rpc import rpc
from nameko.standalone.events import event_dispatcher

from services.admin.service import AdminService
from shared.errors import EXPECTED, NotFound
from shared.testing.gateway import gateway_app, gateway_config
from shared.testing.webhooks import loopback_only, receiver, verify_signature  # noqa: F401

pytestmark = pytest.mark.service

OTHER_ROLES = ("data-scientist", "business-user", "viewer")
MODELS = {}


class FakeRegistry:
    name = "registry"

    @rpc(expected_exceptions=EXPECTED)
    def get_model(self, model_id):
        if model_id not in MODELS:
            raise NotFound("no such model", {"id": model_id})
        return MODELS[model_id]


@pytest.fixture
def admin_config(service_config):
    return {**service_config, "WEBHOOK_POLL_S": 0.2, "WEBHOOK_RETRY_BASE_S": 0.3,
            "WEBHOOK_RETRY_MAX_S": 2, "WEBHOOK_MAX_ATTEMPTS": 6, "WEBHOOK_TIMEOUT_S": 2}


@pytest.fixture
def client(container_factory, admin_config, token_issuer, loopback_only):  # noqa: F811
    for cls in (AdminService, FakeRegistry):
        container_factory(cls, admin_config).start()
    with gateway_app(gateway_config(admin_config, token_issuer)) as app:
        yield app.test_client()


def error(response, status: int, code: str) -> dict:
    assert response.status_code == status, (response.status_code, response.get_data(True))
    assert response.json["error"]["code"] == code
    return response.json["error"]


def allow_loopback(client, auth, hosts=("127.0.0.1",)) -> None:
    put = client.put("/api/v1/admin/settings", json={"webhook_allowed_hosts": list(hosts)},
                     headers=auth("admin"))
    assert put.status_code == 200, put.json


def wait_delivery(client, auth, integration_id, predicate, timeout=20.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        page = client.get(f"/api/v1/integrations/{integration_id}/deliveries",
                          headers=auth("admin")).json
        for item in page["items"]:
            if predicate(item):
                return item
        if time.monotonic() > deadline:
            raise AssertionError(f"no such delivery: {page}")
        time.sleep(0.1)


# -- settings ---------------------------------------------------------------------


def test_settings_read_validate_store_and_refuse_other_roles(client, auth):
    got = client.get("/api/v1/admin/settings", headers=auth("admin"))
    assert got.status_code == 200
    assert set(got.json) >= {"default_timezone", "default_execution_timeout_s",
                             "max_execution_timeout_s", "max_upload_mb", "retention_days",
                             "login_max_failures", "login_lockout_s", "webhook_allowed_hosts"}
    assert got.json["default_timezone"] == "UTC"

    changes = {"default_timezone": "Europe/Paris", "max_upload_mb": 50, "retention_days": 30,
               "log_retention_days": 7, "login_max_failures": 3, "login_lockout_s": 60,
               "webhook_allowed_hosts": ["hooks.internal", "10.1.0.0/16"],
               "default_execution_timeout_s": 600, "max_execution_timeout_s": 7200,
               "max_memory_mb": 4096}
    put = client.put("/api/v1/admin/settings", json=changes, headers=auth("admin"))
    assert put.status_code == 200, put.json
    again = client.get("/api/v1/admin/settings", headers=auth("admin")).json
    assert {k: again[k] for k in changes} == changes

    bad = {
        "default_timezone": "Mars/Olympus",
        "max_upload_mb": 0,
        "retention_days": -1,
        "login_max_failures": 2.5,
        "login_lockout_s": "soon",
        "webhook_allowed_hosts": ["not a host!"],
        "nonsense": 1,
    }
    for key, value in bad.items():
        response = client.put("/api/v1/admin/settings", json={key: value}, headers=auth("admin"))
        assert key in error(response, 400, "validation_error")["details"], (key, response.json)
    response = client.put("/api/v1/admin/settings", json={"default_execution_timeout_s": 9000},
                          headers=auth("admin"))
    assert "default_execution_timeout_s" in error(response, 400, "validation_error")["details"]
    response = client.put("/api/v1/admin/settings", json={"result_retention_days": 31},
                          headers=auth("admin"))
    assert "result_retention_days" in error(response, 400, "validation_error")["details"]
    assert client.get("/api/v1/admin/settings", headers=auth("admin")).json == again

    error(client.get("/api/v1/admin/settings"), 401, "unauthorized")
    for role in OTHER_ROLES:
        error(client.get("/api/v1/admin/settings", headers=auth(role)), 403, "forbidden")
        error(client.put("/api/v1/admin/settings", json={"max_upload_mb": 1},
                         headers=auth(role)), 403, "forbidden")


# -- integrations -----------------------------------------------------------------


def test_integration_secret_once_signed_test_delivery_and_crud(client, auth, receiver):  # noqa: F811
    allow_loopback(client, auth)
    body = {"name": "alertes", "url": receiver.url, "events": ["execution_failed"],
            "department": None, "active": True}
    created = client.post("/api/v1/integrations", json=body, headers=auth("admin"))
    assert created.status_code == 201, created.json
    integration = created.json
    secret = integration["secret"]
    assert secret.startswith("whsec_")
    iid = integration["id"]
    got = client.get(f"/api/v1/integrations/{iid}", headers=auth("admin")).json
    assert "secret" not in got and got["url"] == receiver.url
    listed = client.get("/api/v1/integrations", headers=auth("admin")).json
    assert [i["id"] for i in listed["items"]] == [iid]
    assert secret not in json.dumps(listed)

    test = client.post(f"/api/v1/integrations/{iid}/test", headers=auth("admin"))
    assert test.status_code == 202, test.json
    request = receiver.wait(1)[0]
    assert verify_signature(secret, request["headers"], request["body"])
    assert not verify_signature("whsec_" + "A" * 32, request["headers"], request["body"])
    event = json.loads(request["body"])
    assert event["type"] == "integration_test" and event["id"] == test.json["webhook_id"]
    assert request["headers"]["webhook-id"] == test.json["webhook_id"]
    delivered = wait_delivery(client, auth, iid, lambda d: d["status"] == "delivered")
    assert delivered["attempt_count"] == 1
    assert delivered["attempts"][0]["status_code"] == 200
    assert delivered["attempts"][0]["duration_ms"] >= 0

    patched = client.patch(f"/api/v1/integrations/{iid}", json={"active": False},
                           headers=auth("admin"))
    assert patched.status_code == 200 and patched.json["active"] is False
    for role in OTHER_ROLES:
        h = auth(role)
        error(client.get("/api/v1/integrations", headers=h), 403, "forbidden")
        error(client.post("/api/v1/integrations", json=body, headers=h), 403, "forbidden")
        error(client.get(f"/api/v1/integrations/{iid}", headers=h), 403, "forbidden")
        error(client.patch(f"/api/v1/integrations/{iid}", json={"active": True}, headers=h),
              403, "forbidden")
        error(client.delete(f"/api/v1/integrations/{iid}", headers=h), 403, "forbidden")
        error(client.post(f"/api/v1/integrations/{iid}/test", headers=h), 403, "forbidden")
        error(client.get(f"/api/v1/integrations/{iid}/deliveries", headers=h), 403, "forbidden")
    error(client.post("/api/v1/integrations", json={**body, "events": ["nope"]},
                      headers=auth("admin")), 400, "validation_error")
    assert client.delete(f"/api/v1/integrations/{iid}", headers=auth("admin")).status_code == 204
    error(client.get(f"/api/v1/integrations/{iid}", headers=auth("admin")), 404, "not_found")
    error(client.get("/api/v1/integrations/nope/deliveries", headers=auth("admin")), 404,
          "not_found")


SSRF_TARGETS = [
    "http://127.0.0.1:9/hook",
    "http://localhost/hook",
    "http://10.0.0.5/hook",
    "http://192.168.1.1/",
    "http://172.16.0.1/",
    "http://100.64.0.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://0.0.0.0/",
    "http://[fe80::1]/",
    "http://224.0.0.1/",
    "ftp://example.com/hook",
    "file:///etc/passwd",
    "gopher://127.0.0.1:25/",
    "http://user:secret@127.0.0.1/",
    "http:///nohost",
]


def test_ssrf_targets_refused_at_validation(client, auth, loopback_only):  # noqa: F811
    base = {"name": "x", "events": ["model_created"]}
    for url in SSRF_TARGETS:
        response = client.post("/api/v1/integrations", json={**base, "url": url},
                               headers=auth("admin"))
        assert "url" in error(response, 400, "validation_error")["details"], url
    # Allowed hosts open private addresses, never the metadata service.
    allow_loopback(client, auth, ["169.254.169.254", "fd00:ec2::254", "10.0.0.5", "127.0.0.1"])
    for url in ("http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/"):
        response = client.post("/api/v1/integrations", json={**base, "url": url},
                               headers=auth("admin"))
        assert "url" in error(response, 400, "validation_error")["details"], url
    ok = client.post("/api/v1/integrations", json={**base, "url": "http://10.0.0.5/h"},
                     headers=auth("admin"))
    assert ok.status_code == 201, ok.json
    patch = client.patch(f"/api/v1/integrations/{ok.json['id']}",
                         json={"url": "http://192.168.0.1/"}, headers=auth("admin"))
    assert "url" in error(patch, 400, "validation_error")["details"]
    assert loopback_only == []


def test_retries_with_backoff_until_the_receiver_recovers(client, auth, receiver):  # noqa: F811
    allow_loopback(client, auth)
    receiver.script = [503, 500, 302]  # a redirect is a failure, never followed
    created = client.post("/api/v1/integrations", json={
        "name": "flaky", "url": receiver.url, "events": ["model_created"]},
        headers=auth("admin")).json
    client.post(f"/api/v1/integrations/{created['id']}/test", headers=auth("admin"))
    delivered = wait_delivery(client, auth, created["id"], lambda d: d["status"] == "delivered")
    assert [a["status_code"] for a in delivered["attempts"]] == [503, 500, 302, 200]
    assert "redirect" in delivered["attempts"][2]["error"]
    sent = [r["at"] for r in receiver.requests]
    gaps = [b - a for a, b in zip(sent, sent[1:], strict=False)]
    assert gaps[0] >= 0.25 and gaps[1] >= 0.5, gaps  # 0.3 s, then 0.6 s, ...
    # The same message (id) each time, a fresh signature per attempt, all valid.
    assert len({r["headers"]["webhook-id"] for r in receiver.requests}) == 1
    assert all(verify_signature(created["secret"], r["headers"], r["body"])
               for r in receiver.requests)


def test_a_receiver_that_is_down_loses_nothing_and_blocks_nothing(client, auth, receiver):  # noqa: F811
    allow_loopback(client, auth)
    down = receiver.url.replace(str(receiver.port), str(_closed_port()))
    created = client.post("/api/v1/integrations", json={
        "name": "down", "url": down, "events": ["model_created"]}, headers=auth("admin")).json
    client.post(f"/api/v1/integrations/{created['id']}/test", headers=auth("admin"))
    failing = wait_delivery(client, auth, created["id"], lambda d: d["attempt_count"] >= 2)
    assert failing["status"] in ("pending", "sending")
    assert failing["attempts"][0]["status_code"] is None and failing["attempts"][0]["error"]
    started = time.monotonic()
    assert client.get("/api/v1/admin/settings", headers=auth("admin")).status_code == 200
    assert time.monotonic() - started < 2
    # The receiver comes back at that address within the retry window: delivered.
    client.patch(f"/api/v1/integrations/{created['id']}", json={"url": receiver.url},
                 headers=auth("admin"))
    done = wait_delivery(client, auth, created["id"], lambda d: d["status"] == "delivered")
    assert done["attempts"][-1]["status_code"] == 200
    assert verify_signature(created["secret"], receiver.requests[0]["headers"],
                            receiver.requests[0]["body"])


def test_the_target_is_checked_again_at_delivery_time(client, auth, receiver):  # noqa: F811
    allow_loopback(client, auth)
    created = client.post("/api/v1/integrations", json={
        "name": "later", "url": receiver.url, "events": ["model_created"]},
        headers=auth("admin")).json
    allow_loopback(client, auth, [])  # no longer allowed: the next send is refused
    client.post(f"/api/v1/integrations/{created['id']}/test", headers=auth("admin"))
    refused = wait_delivery(client, auth, created["id"], lambda d: d["attempt_count"] >= 1)
    assert refused["attempts"][0]["error"].startswith("refused:")
    assert receiver.requests == []


def test_platform_events_reach_subscribed_integrations_of_their_department(
        client, auth, receiver, admin_config):  # noqa: F811
    allow_loopback(client, auth)
    finance = client.post("/api/v1/integrations", json={
        "name": "finance", "url": receiver.url + "/finance", "department": "Finance",
        "events": ["deployment_started", "execution_succeeded"]}, headers=auth("admin")).json
    client.post("/api/v1/integrations", json={
        "name": "rh", "url": receiver.url + "/rh", "department": "RH",
        "events": ["deployment_started", "execution_succeeded"]}, headers=auth("admin"))
    client.post("/api/v1/integrations", json={
        "name": "stopped only", "url": receiver.url + "/stop", "events": ["deployment_stopped"]},
        headers=auth("admin"))
    model_id = uuid.uuid4().hex[:24]
    MODELS[model_id] = {"id": model_id, "name": "m", "department": "Finance"}
    dispatch = event_dispatcher(admin_config)
    deployment = {"id": uuid.uuid4().hex[:24], "name": "d", "department": "Finance"}
    dispatch("deployer", "deployment_started", {"deployment": deployment})
    execution = {"id": uuid.uuid4().hex[:24], "status": "succeeded", "model_id": model_id}
    dispatch("runner", "execution_succeeded", {"execution": execution})
    requests = receiver.wait(2)
    time.sleep(1)  # nothing else arrives
    assert sorted(r["path"] for r in receiver.requests) == ["/hook/finance", "/hook/finance"]
    bodies = {json.loads(r["body"])["type"]: json.loads(r["body"]) for r in requests}
    assert bodies["deployment_started"]["data"]["deployment"]["id"] == deployment["id"]
    assert bodies["execution_succeeded"]["data"]["execution"]["id"] == execution["id"]
    assert all(verify_signature(finance["secret"], r["headers"], r["body"]) for r in requests)


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- audit trail ------------------------------------------------------------------


def test_admin_changes_are_audited_once_with_request_id_and_client(client, auth, receiver):  # noqa: F811
    rid = uuid.uuid4().hex
    put = client.put("/api/v1/admin/settings", json={"webhook_allowed_hosts": ["127.0.0.1"]},
                     headers=auth("admin", "boss", **{"X-Request-ID": rid}),
                     environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert put.status_code == 200
    created = client.post("/api/v1/integrations", headers=auth("admin", "boss"), json={
        "name": "audited", "url": receiver.url, "events": ["model_created"]}).json
    deadline = time.monotonic() + 10
    while True:
        page = client.get("/api/v1/admin/audit", headers=auth("admin"),
                          query_string={"request_id": rid}).json
        if page["total"]:
            break
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert page["total"] == 1
    entry = page["items"][0]
    assert entry["user"] == "boss" and entry["client"] == "198.51.100.7"
    assert entry["action"] == "settings.updated" and entry["object_type"] == "settings"
    assert "webhook_allowed_hosts" in entry["summary"] and entry["request_id"] == rid
    by_object = client.get("/api/v1/admin/audit", headers=auth("admin"),
                           query_string={"object_type": "integration",
                                         "object_id": created["id"]}).json
    assert [e["action"] for e in by_object["items"]] == ["integration.created"]
    assert created["secret"] not in json.dumps(by_object)
    newest = client.get("/api/v1/admin/audit", headers=auth("admin"),
                        query_string={"user": "boss"}).json["items"]
    assert [e["action"] for e in newest] == ["integration.created", "settings.updated"]
    future = client.get("/api/v1/admin/audit", headers=auth("admin"),
                        query_string={"from": "2999-01-01T00:00:00Z"}).json
    assert future["total"] == 0
    error(client.get("/api/v1/admin/audit", headers=auth("admin"),
                     query_string={"from": "yesterday"}), 400, "validation_error")

    export = client.get("/api/v1/admin/audit/export", headers=auth("admin"),
                        query_string={"user": "boss"})
    assert export.status_code == 200 and export.mimetype == "text/csv"
    assert "attachment" in export.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(export.get_data(as_text=True))))
    assert [r["action"] for r in rows] == ["integration.created", "settings.updated"]
    assert rows[1]["request_id"] == rid and rows[1]["client"] == "198.51.100.7"

    # Read only: no verb edits or deletes an entry.
    entry_url = f"/api/v1/admin/audit/{entry['id']}"
    for method in ("put", "patch", "delete"):
        assert getattr(client, method)(entry_url, headers=auth("admin")).status_code in (404, 405)
        assert getattr(client, method)("/api/v1/admin/audit",
                                       headers=auth("admin")).status_code == 405
    for role in OTHER_ROLES:
        error(client.get("/api/v1/admin/audit", headers=auth(role)), 403, "forbidden")
        error(client.get("/api/v1/admin/audit/export", headers=auth(role)), 403, "forbidden")


def test_auth_events_of_contract_c2_are_audited(client, auth, admin_config):
    dispatch = event_dispatcher(admin_config)
    name = f"mallory-{uuid.uuid4().hex[:6]}"
    dispatch("auth", "login_failed", {"username": name, "client_id": "ml-platform-web",
                                      "client": "203.0.113.9", "at": "2026-01-01T00:00:00Z",
                                      "reason": "invalid_credentials"})
    dispatch("auth", "user_locked_out", {"username": name, "until": "2026-01-01T00:05:00Z",
                                         "failures": 5})
    deadline = time.monotonic() + 10
    while True:
        items = client.get("/api/v1/admin/audit", headers=auth("admin"),
                           query_string={"user": name}).json["items"]
        if len(items) == 2:
            break
        assert time.monotonic() < deadline, items
        time.sleep(0.1)
    actions = {e["action"]: e for e in items}
    assert set(actions) == {"login.failed", "user.locked_out"}
    assert actions["login.failed"]["client"] == "203.0.113.9"
    assert "invalid_credentials" in actions["login.failed"]["summary"]


def test_the_loopback_guard_refuses_and_records_other_addresses(loopback_only):  # noqa: F811
    import socket

    with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
        sock.connect(("192.0.2.1", 80))
    assert loopback_only == [("192.0.2.1", 80)]
    loopback_only.clear()  # recorded as it should be: let the fixture's final check pass
