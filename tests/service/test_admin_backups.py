"""Backups against the real admin service (nameko container, real broker and database)
through the gateway's test client: a backup of a database with documents and a GridFS
file succeeds and its archive checks; a backup that fails says why in its record (no
server path) and in the admin service's log; a maintenance window reaches the gateway
by its event and holds writes with 503 + Retry-After while reads go on."""

from __future__ import annotations

import io
import json
import logging
import time

import pytest
from nameko.standalone.events import event_dispatcher

from services.admin.service import AdminService
from shared import backup_archive, events
from shared.artifacts import ArtifactStore
from shared.mongo import connect
from shared.testing.gateway import gateway_app, gateway_config
from shared.testing.webhooks import receiver  # noqa: F401

pytestmark = pytest.mark.service


def _client(container_factory, config, token_issuer):
    container_factory(AdminService, config).start()
    return gateway_app(gateway_config(config, token_issuer, REVOCATION_ENABLED=False,
                                      MAINTENANCE_ENABLED=True))


def _wait(client, auth, backup_id, timeout=60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        backup = client.get(f"/api/v1/admin/backups/{backup_id}", headers=auth("admin")).json
        if backup["status"] != "running":
            return backup
        assert time.monotonic() < deadline, backup
        time.sleep(0.2)


def test_a_backup_holds_the_documents_and_files_and_its_archive_checks(
        container_factory, service_config, token_issuer, auth):
    db = connect(service_config["MONGO_URI"])[service_config["MONGO_DB"]]
    db["models"].insert_many([{"name": f"m{i}"} for i in range(3)])
    blob = bytes(range(256)) * 5000
    ArtifactStore(db).put_bytes(blob, "model.joblib")
    with _client(container_factory, service_config, token_issuer) as app:
        client = app.test_client()
        started = client.post("/api/v1/admin/backups", headers=auth("admin"))
        assert started.status_code == 202, started.json
        busy = client.post("/api/v1/admin/backups", headers=auth("admin"))
        assert busy.status_code in (409, 503), busy.json  # one at a time (or in its window)
        backup = _wait(client, auth, started.json["id"])
        assert backup["status"] == "succeeded", backup
        assert backup["counts"]["models"] == 3 and backup["summary"]["files"] == 1
        download = client.get(f"/api/v1/admin/backups/{backup['id']}/download",
                              headers=auth("admin"))
        assert download.status_code == 200
        assert "attachment" in download.headers["Content-Disposition"]
        manifest = backup_archive.verify(io.BytesIO(download.data))
        assert manifest["collections"]["artifacts.chunks"]["count"] >= 1
        assert "backups.files" not in manifest["collections"]
        for role in ("data-scientist", "business-user", "viewer"):
            assert client.get("/api/v1/admin/backups", headers=auth(role)).status_code == 403


def test_a_failed_backup_says_why_in_its_record_the_log_and_a_webhook(
        container_factory, service_config, token_issuer, auth, caplog, tmp_path,
        receiver):  # noqa: F811
    config = {**service_config, "BACKUP_WORK_DIR": str(tmp_path / "missing" / "dir")}
    caplog.set_level(logging.INFO, logger="services.admin.backups")
    with _client(container_factory, config, token_issuer) as app:
        client = app.test_client()
        assert client.put("/api/v1/admin/settings", headers=auth("admin"), json={
            "webhook_allowed_hosts": ["127.0.0.1"]}).status_code == 200
        assert client.post("/api/v1/integrations", headers=auth("admin"), json={
            "name": "sauvegardes", "url": receiver.url, "events": ["backup_failed"],
            "active": True}).status_code == 201
        started = client.post("/api/v1/admin/backups", headers=auth("admin"))
        assert started.status_code == 202, started.json
        backup = _wait(client, auth, started.json["id"])
        event = json.loads(receiver.wait(1, timeout=30)[0]["body"])
    assert event["type"] == "backup_failed"
    assert event["data"]["backup"]["id"] == backup["id"]
    assert backup["status"] == "failed"
    assert backup["error"] == "FileNotFoundError: No such file or directory"
    assert str(tmp_path) not in backup["error"]
    assert any(f"backup {backup['id']} failed" in r.getMessage() for r in caplog.records)


def test_the_gateway_holds_writes_during_a_window_it_learns_by_event(
        container_factory, service_config, token_issuer, auth):
    from datetime import UTC, datetime, timedelta

    with _client(container_factory, service_config, token_issuer) as app:
        client = app.test_client()
        # the first mutating request starts the gateway's feed (no window yet)
        assert client.put("/api/v1/admin/settings", json={"retention_days": 0},
                          headers=auth("admin")).status_code == 200
        dispatch = event_dispatcher({"AMQP_URI": service_config["AMQP_URI"]})
        until = (datetime.now(UTC) + timedelta(seconds=30)).isoformat().replace("+00:00", "Z")
        dispatch("admin", events.MAINTENANCE_STARTED, {"id": "backup:t", "kind": "backup",
                                                       "until": until, "pause": False})
        deadline = time.monotonic() + 10
        while True:
            held = client.put("/api/v1/admin/settings", json={"retention_days": 0},
                              headers=auth("admin"))
            if held.status_code == 503 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert held.status_code == 503, held.json
        assert 1 <= int(held.headers["Retry-After"]) <= 5
        assert held.json["error"]["details"]["reason"] == "maintenance"
        # authorisation still comes first: a role that may not change it is told 403
        denied = client.put("/api/v1/admin/settings", json={"retention_days": 0},
                            headers=auth("viewer"))
        assert denied.status_code == 403, denied.json
        assert client.put("/api/v1/admin/settings", json={}).status_code == 401
        assert client.get("/api/v1/admin/settings", headers=auth("admin")).status_code == 200
        dispatch("admin", events.MAINTENANCE_ENDED, {"id": "backup:t", "ended": True})
        deadline = time.monotonic() + 10
        while client.put("/api/v1/admin/settings", json={"retention_days": 0},
                         headers=auth("admin")).status_code != 200:
            assert time.monotonic() < deadline, "writes still held after maintenance_ended"
            time.sleep(0.1)


def test_a_scheduled_backup_is_made_once_per_slot(
        container_factory, service_config, token_issuer, auth):
    """``backup_interval_hours`` (set through the API, honoured without a restart): the
    slot in progress gets one backup, triggered by the schedule, and only one however
    often the schedule is checked."""
    config = {**service_config, "BACKUP_SCHEDULE_POLL_S": 0.2}
    with _client(container_factory, config, token_issuer) as app:
        client = app.test_client()
        assert client.get("/api/v1/admin/backups", headers=auth("admin")).json["total"] == 0
        changed = client.put("/api/v1/admin/settings", headers=auth("admin"),
                             json={"backup_interval_hours": 1})
        assert changed.status_code == 200, changed.json
        deadline = time.monotonic() + 60
        while True:
            items = client.get("/api/v1/admin/backups", headers=auth("admin")).json["items"]
            if items and items[0]["status"] != "running":
                break
            assert time.monotonic() < deadline, items
            time.sleep(0.3)
        assert [(b["trigger"], b["status"]) for b in items] == [("schedule", "succeeded")]
        time.sleep(1.5)  # several more checks of the schedule: the slot is taken
        again = client.get("/api/v1/admin/backups", headers=auth("admin")).json
        assert again["total"] == 1, again["items"]


def test_an_uploaded_archive_over_the_limit_is_413_and_leaves_nothing(
        container_factory, service_config, token_issuer, auth, monkeypatch):
    monkeypatch.setenv("BACKUP_UPLOAD_MAX_MB", "0.5")  # refused past 1.5 MB (headers' slack)
    db = connect(service_config["MONGO_URI"])[service_config["MONGO_DB"]]
    with _client(container_factory, service_config, token_issuer) as app:
        client = app.test_client()
        big = client.post("/api/v1/admin/restore", headers=auth("admin"),
                          data={"file": (io.BytesIO(b"\0" * (3 * 1024 * 1024)), "b.tar.gz")},
                          content_type="multipart/form-data")
        assert big.status_code == 413, big.json
        assert big.json["error"]["code"] == "payload_too_large"
        assert client.get("/api/v1/admin/restores", headers=auth("admin")).json["total"] == 0
    assert db["backups.files"].count_documents({}) == 0
