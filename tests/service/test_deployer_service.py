"""The deployer against the real broker and database (fake registry service)."""

from __future__ import annotations

import io
import json
import time
from datetime import UTC, datetime, timedelta

import pandas as pd
import pymongo
import pytest
from bson import ObjectId
from nameko.events import event_handler
from nameko.standalone.events import event_dispatcher
from nameko.standalone.rpc import ClusterRpcProxy

from services.deployer.service import DeployerService
from shared.artifacts import ArtifactStore
from shared.errors import Conflict, InvalidInputData, NotFound, ValidationError
from shared.testing.deployer import MODELS, FakeRegistry, make_model, wait_for

pytestmark = pytest.mark.service

EVENTS: list[tuple[str, dict]] = []


class Listener:
    name = "deployer_test_listener"

    @event_handler("deployer", "deployment_created")
    def created(self, payload):
        EVENTS.append(("deployment_created", payload))

    @event_handler("deployer", "deployment_started")
    def started(self, payload):
        EVENTS.append(("deployment_started", payload))

    @event_handler("deployer", "deployment_stopped")
    def stopped(self, payload):
        EVENTS.append(("deployment_stopped", payload))

    @event_handler("deployer", "deployment_deleted")
    def deleted(self, payload):
        EVENTS.append(("deployment_deleted", payload))


@pytest.fixture
def cluster(container_factory, service_config):
    EVENTS.clear()
    for cls in (DeployerService, FakeRegistry, Listener):
        container_factory(cls, service_config).start()
    with ClusterRpcProxy(
        service_config, timeout=20, context_data={"username": "alice", "roles": ["data-scientist"]}
    ) as proxy:
        yield proxy


@pytest.fixture
def store(mongo_db):
    return ArtifactStore(mongo_db)


def make_deployment(cluster, unique, model=None, **overrides):
    data = {
        "name": unique("dep"),
        "model_id": model["id"],
        "parameters": {"threshold": 0.5},
        **overrides,
    }
    return cluster.deployer.create_deployment(data)


def test_create_validate_get_list(cluster, unique):
    model = make_model(unique)
    dep = make_deployment(
        cluster,
        unique,
        model,
        description="Nightly CHURN scoring",
        schedule="30 2 * * *",
        timezone="Europe/Paris",
    )
    assert dep["status"] == "inactive"
    assert dep["timezone"] == "Europe/Paris"
    assert dep["department"] == "finance" and dep["region"] == "emea"
    assert dep["model"] == {"name": model["name"], "version": "1.0.0"}
    assert dep["misfire_policy"] == "run_once" and dep["max_concurrent"] == 1
    assert dep["jitter_s"] == 0 and dep["history"] == [] and dep["input"] is None
    assert dep["created_by"] == "alice" and dep["created_at"].endswith("Z")
    assert dep["next_run_at"] is None
    assert cluster.deployer.get_deployment(dep["id"])["name"] == dep["name"]
    wait_for(lambda: any(e == "deployment_created" for e, _ in EVENTS))

    default_tz = make_deployment(cluster, unique, model)
    assert default_tz["timezone"] == "UTC" and default_tz["schedule"] is None

    with pytest.raises(ValidationError) as bad_cron:
        make_deployment(cluster, unique, model, schedule="61 * * * *")
    assert "schedule" in bad_cron.value.details
    assert "out of range" in bad_cron.value.details["schedule"][0]
    with pytest.raises(ValidationError) as six_fields:
        make_deployment(cluster, unique, model, schedule="0 0 * * * *")
    assert "schedule" in six_fields.value.details
    with pytest.raises(ValidationError) as bad_tz:
        make_deployment(cluster, unique, model, timezone="Mars/Olympus")
    assert "timezone" in bad_tz.value.details
    with pytest.raises(ValidationError) as no_name:
        cluster.deployer.create_deployment({"model_id": model["id"]})
    assert "name" in no_name.value.details
    with pytest.raises(ValidationError) as unknown_model:
        make_deployment(cluster, unique, {"id": str(ObjectId())})
    assert "model_id" in unknown_model.value.details
    with pytest.raises(NotFound):
        cluster.deployer.get_deployment("not-an-id")
    with pytest.raises(NotFound):
        cluster.deployer.get_deployment(str(ObjectId()))

    listed = cluster.deployer.list_deployments({"q": "churn", "model_id": model["id"]})
    assert [d["id"] for d in listed["items"]] == [dep["id"]] and listed["total"] == 1
    regex_chars = cluster.deployer.list_deployments({"q": "(.*"})
    assert regex_chars["total"] == 0
    by_dept = cluster.deployer.list_deployments(
        {"department": "finance", "model_id": model["id"], "sort": "name", "per_page": 1}
    )
    assert by_dept["total"] == 2 and len(by_dept["items"]) == 1 and by_dept["per_page"] == 1
    with pytest.raises(ValidationError):
        cluster.deployer.list_deployments({"sort": "password"})


def test_draft_model_is_409(cluster, unique):
    draft = make_model(unique, status="draft", input_schema=None)
    with pytest.raises(Conflict) as exc:
        make_deployment(cluster, unique, draft)
    assert "no valid file" in exc.value.message


def test_start_stop_edit_history_preview_delete(cluster, unique, mongo_db):
    model = make_model(unique)
    dep = make_deployment(cluster, unique, model, schedule="*/5 * * * *")
    started = cluster.deployer.start_deployment(dep["id"])
    assert started["status"] == "active"
    next_run = datetime.fromisoformat(started["next_run_at"].replace("Z", "+00:00"))
    now = datetime.now(UTC)
    assert now < next_run <= now + timedelta(minutes=5) and next_run.minute % 5 == 0
    assert cluster.deployer.active_deployments_for_model(model["id"])[0]["id"] == dep["id"]
    wait_for(lambda: any(e == "deployment_started" for e, _ in EVENTS))

    edited = cluster.deployer.update_deployment(
        dep["id"], {"schedule": "0 3 * * *", "timezone": "America/New_York"}
    )
    new_next = datetime.fromisoformat(edited["next_run_at"].replace("Z", "+00:00"))
    assert new_next.astimezone(__import__("zoneinfo").ZoneInfo("America/New_York")).hour == 3
    changes = {(h["field"], h["old"], h["new"], h["by"]) for h in edited["history"]}
    assert ("schedule", "*/5 * * * *", "0 3 * * *", "alice") in changes
    assert ("timezone", "UTC", "America/New_York", "alice") in changes
    assert all(h["at"].endswith("Z") for h in edited["history"])
    with pytest.raises(ValidationError) as bad:
        cluster.deployer.update_deployment(dep["id"], {"schedule": "not a cron"})
    assert "schedule" in bad.value.details

    preview = cluster.deployer.preview_schedule(dep["id"], 3)
    assert preview["timezone"] == "America/New_York" and len(preview["next_runs"]) == 3
    assert preview["next_runs"][0]["utc"] == edited["next_run_at"].replace(".000Z", "Z")
    assert all(
        r["local"].startswith(r["local"][:11]) and "T03:00:00" in r["local"]
        for r in preview["next_runs"]
    )
    assert len(cluster.deployer.preview_schedule(dep["id"])["next_runs"]) == 5
    for bad_count in (0, 101, "x"):
        with pytest.raises(ValidationError):
            cluster.deployer.preview_schedule(dep["id"], bad_count)

    stopped = cluster.deployer.stop_deployment(dep["id"])
    assert stopped["status"] == "inactive" and stopped["next_run_at"] is None
    assert [h["new"] for h in stopped["history"] if h["field"] == "status"] == [
        "active",
        "inactive",
    ]
    assert cluster.deployer.active_deployments_for_model(model["id"]) == []
    assert cluster.deployer.stop_deployment(dep["id"])["status"] == "inactive"  # idempotent

    MODELS[model["id"]] = {**model, "status": "draft"}
    with pytest.raises(Conflict):
        cluster.deployer.start_deployment(dep["id"])
    MODELS[model["id"]] = model

    cluster.deployer.delete_deployment(dep["id"])
    with pytest.raises(NotFound):
        cluster.deployer.get_deployment(dep["id"])
    wait_for(
        lambda: any(
            e == "deployment_deleted" and p["deployment_id"] == dep["id"] for e, p in EVENTS
        )
    )


def test_preview_expression_before_a_deployment_exists(cluster):
    preview = cluster.deployer.preview_expression(" 30  2 * * 1-5 ", "Europe/Paris", 3)
    assert preview["timezone"] == "Europe/Paris" and preview["schedule"] == "30 2 * * 1-5"
    assert len(preview["next_runs"]) == 3
    for run in preview["next_runs"]:
        local = datetime.fromisoformat(run["local"])
        assert (local.hour, local.minute) == (2, 30) and local.isoweekday() <= 5
        assert datetime.fromisoformat(run["utc"].replace("Z", "+00:00")) == local
    assert len(cluster.deployer.preview_expression("*/5 * * * *")["next_runs"]) == 5
    assert cluster.deployer.preview_expression("0 6 * * *", None)["timezone"] == "UTC"
    for schedule, timezone, count, field in (
        ("0 25 * * *", "UTC", 5, "schedule"),
        ("0 0 * * * *", "UTC", 5, "schedule"),
        (None, "UTC", 5, "schedule"),
        ("", "UTC", 5, "schedule"),
        ("0 6 * * *", "Mars/Olympus", 5, "timezone"),
        ("0 6 * * *", "UTC", 0, "count"),
        ("0 6 * * *", "UTC", 101, "count"),
    ):
        with pytest.raises(ValidationError) as bad:
            cluster.deployer.preview_expression(schedule, timezone, count)
        assert field in bad.value.details, (schedule, timezone, count, bad.value.details)


def test_history_records_name_description_and_parameters(cluster, unique):
    dep = make_deployment(cluster, unique, make_model(unique), description="v1")
    edited = cluster.deployer.update_deployment(
        dep["id"],
        {"name": dep["name"] + "-2", "description": "v2", "parameters": {"threshold": 0.7}},
    )
    changes = {h["field"]: (h["old"], h["new"], h["by"]) for h in edited["history"]}
    assert changes["name"] == (dep["name"], dep["name"] + "-2", "alice")
    assert changes["description"] == ("v1", "v2", "alice")
    assert changes["parameters"] == ({"threshold": 0.5}, {"threshold": 0.7}, "alice")
    same = cluster.deployer.update_deployment(dep["id"], {"parameters": {"threshold": 0.7}})
    assert len(same["history"]) == 3  # an unchanged value records nothing


def test_model_events_keep_deployments_in_step(cluster, unique, service_config):
    model = make_model(unique)
    dep = make_deployment(cluster, unique, model)
    active = make_deployment(cluster, unique, model, schedule="0 * * * *")
    cluster.deployer.start_deployment(active["id"])
    dispatch = event_dispatcher(service_config)
    changed = {**model, "department": "marketing", "region": "apac", "version": "1.1.0"}
    dispatch("registry", "model_updated", {"model": changed})
    got = wait_for(
        lambda: (d := cluster.deployer.get_deployment(dep["id"]))["region"] == "apac" and d
    )
    assert got["department"] == "marketing" and got["model"]["version"] == "1.1.0"

    dispatch(
        "registry",
        "model_deleted",
        {"model_id": model["id"], "name": model["name"], "version": "1.1.0"},
    )
    gone = wait_for(
        lambda: (d := cluster.deployer.get_deployment(active["id"]))["status"] == "inactive" and d
    )
    assert gone["model_deleted"] is True and gone["next_run_at"] is None
    with pytest.raises(Conflict):
        cluster.deployer.start_deployment(active["id"])


def test_last_execution_and_next_run_from_events(cluster, unique, service_config):
    model = make_model(unique)
    dep = make_deployment(cluster, unique, model, schedule="* * * * *")
    cluster.deployer.start_deployment(dep["id"])
    dispatch = event_dispatcher(service_config)
    exec_id = str(ObjectId())
    base = {"id": exec_id, "deployment_id": dep["id"], "created_at": "2026-11-26T10:00:00.000Z"}
    dispatch(
        "runner",
        "execution_succeeded",
        {"execution": {**base, "status": "succeeded", "finished_at": "2026-11-26T10:00:05.000Z"}},
    )
    # a late "queued" for the same execution must not step the status back
    dispatch("runner", "execution_queued", {"execution": {**base, "status": "queued"}})
    got = wait_for(lambda: cluster.deployer.get_deployment(dep["id"])["last_execution"])
    time.sleep(0.5)
    got = cluster.deployer.get_deployment(dep["id"])["last_execution"]
    assert got == {"id": exec_id, "status": "succeeded", "time": "2026-11-26T10:00:05.000Z"}

    later = "2030-01-01T00:00:00Z"
    dispatch(
        "scheduler",
        "execution_requested",
        {
            "deployment_id": dep["id"],
            "slot": "2026-11-26T10:00:00Z",
            "trigger": "schedule",
            "idempotency_key": f"{dep['id']}:2026-11-26T10:00:00Z",
            "next_run_at": later,
        },
    )
    wait_for(
        lambda: (
            cluster.deployer.get_deployment(dep["id"])["next_run_at"] == "2030-01-01T00:00:00.000Z"
        )
    )


def _put(store, data: bytes, filename: str):
    return store.put(io.BytesIO(data), filename, "application/octet-stream").to_dict()


def _exists(mongo_db, artifact_id):
    return mongo_db["artifacts.files"].count_documents({"_id": ObjectId(artifact_id)}) == 1


def test_input_upload_good_bad_missing_columns(cluster, unique, store, mongo_db):
    model = make_model(unique)
    dep = make_deployment(cluster, unique, model)

    csv = _put(store, b"age,income,extra\n30,1000,a\n40,2000,b\n50,3000,c\n", "in.csv")
    got = cluster.deployer.attach_input(dep["id"], csv)
    assert got["input"]["rows"] == 3 and got["input"]["format"] == "csv"
    assert got["input"]["columns"] == ["age", "income", "extra"]
    assert got["input"]["artifact_id"] == csv["id"] and got["input"]["filename"] == "in.csv"

    records = [{"age": 1, "income": 2}, {"age": 3, "income": 4}]
    js = _put(store, json.dumps(records).encode(), "in.json")
    got = cluster.deployer.attach_input(dep["id"], js)
    assert got["input"]["format"] == "json" and got["input"]["rows"] == 2
    assert not _exists(mongo_db, csv["id"]), "the replaced input was not deleted"

    buf = io.BytesIO()
    pd.DataFrame({"age": [1.0] * 7, "income": [2.0] * 7}).to_parquet(buf)
    pq = _put(store, buf.getvalue(), "in.parquet")
    got = cluster.deployer.attach_input(dep["id"], pq)
    assert got["input"]["format"] == "parquet" and got["input"]["rows"] == 7
    assert not _exists(mongo_db, js["id"])

    bad = _put(store, b"age,income\n1,2\n3,4,5,6\n", "bad.csv")
    with pytest.raises(InvalidInputData) as exc:
        cluster.deployer.attach_input(dep["id"], bad)
    assert "line 3" in exc.value.message
    assert not _exists(mongo_db, bad["id"]), "a rejected input was kept"

    garbage = _put(store, b'[{"age": 1,', "bad.json")
    with pytest.raises(InvalidInputData):
        cluster.deployer.attach_input(dep["id"], garbage)

    missing = _put(store, b"age,other\n1,2\n", "missing.csv")
    with pytest.raises(InvalidInputData) as exc:
        cluster.deployer.attach_input(dep["id"], missing)
    assert exc.value.details["missing_columns"] == ["income"]
    assert "income" in exc.value.message
    assert not _exists(mongo_db, missing["id"])

    kept = cluster.deployer.get_deployment(dep["id"])["input"]
    assert kept["artifact_id"] == pq["id"] and _exists(mongo_db, pq["id"])

    cluster.deployer.delete_deployment(dep["id"])
    assert not _exists(mongo_db, pq["id"]), "the input dataset outlived its deployment"


def test_indexes_exist(cluster, mongo_db):
    keys = [list(spec["key"].keys()) for spec in mongo_db.deployments.list_indexes()]
    assert ["model_id", "status"] in keys and ["status", "next_run_at"] in keys
    assert isinstance(mongo_db.client, pymongo.MongoClient)
