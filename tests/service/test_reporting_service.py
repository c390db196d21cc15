"""The reporting service against the real broker and database, fed real events.

Fake registry, deployer and runner answer the export RPCs of the rebuild (their data
is a plain list here); the events are dispatched as those services dispatch them.
What is checked: a redelivered event changes nothing, an older one never overwrites
a newer state, a deletion counts once, and a rebuild gives the same figures.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from nameko.rpc import rpc
from nameko.standalone.events import event_dispatcher
from nameko.standalone.rpc import ClusterRpcProxy

from services.reporting.service import ReportingService
from shared.errors import ValidationError

pytestmark = pytest.mark.service

SOURCES: dict[str, list[dict]] = {"models": [], "deployments": [], "executions": []}


def _page(items, after, limit):
    ids = [i["id"] for i in items]
    start = ids.index(after) + 1 if after in ids else 0
    chunk = items[start:start + limit]
    return {"items": chunk, "next": chunk[-1]["id"] if len(chunk) == limit else None}


class FakeRegistry:
    name = "registry"

    @rpc
    def export_models(self, after=None, limit=1000):
        return _page(SOURCES["models"], after, limit)


class FakeDeployer:
    name = "deployer"

    @rpc
    def export_deployments(self, after=None, limit=1000):
        return _page(SOURCES["deployments"], after, limit)


class FakeRunner:
    name = "runner"

    @rpc
    def export_executions(self, after=None, limit=1000):
        return _page(SOURCES["executions"], after, limit)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


NOW = datetime.now(UTC)


def model(model_id="m1", department="Finance", updated=NOW, **extra):
    return {"id": model_id, "name": f"churn-{model_id}", "version": "1.0.0",
            "type": "classification", "framework": "scikit-learn", "department": department,
            "region": "Europe", "status": "ready", "metrics": {"auc": 0.9},
            "created_by": "alice", "created_at": _iso(NOW), "updated_at": _iso(updated),
            **extra}


def execution(execution_id="e1", status="queued", **extra):
    return {"id": execution_id, "status": status, "trigger": "manual", "model_id": "m1",
            "model_name": "churn-m1", "model_version": "1.0.0", "deployment_id": None,
            "department": "Finance", "region": "Europe", "created_by": "alice",
            "created_at": _iso(NOW), "started_at": None, "finished_at": None,
            "duration_s": None, "result": None, **extra}


@pytest.fixture
def cluster(container_factory, service_config, tmp_path):
    for key in SOURCES:
        SOURCES[key].clear()
    config = {**service_config, "ANALYTICS_DB_URL": f"sqlite:///{tmp_path / 'a.db'}"}
    for cls in (FakeRegistry, FakeDeployer, FakeRunner):
        container_factory(cls, config).start()
    container_factory(ReportingService, config).start()
    dispatch = event_dispatcher(config)
    with ClusterRpcProxy(config, timeout=20,
                         context_data={"username": "alice", "roles": ["admin"]}) as proxy:
        _until(lambda: proxy.reporting.rebuild_status()["state"] == "succeeded")
        yield proxy, dispatch, config


def _until(check, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _settle(proxy, check, timeout=20.0):
    """Wait until ``check(dashboard)``; then a little more: nothing else may move."""
    _until(lambda: check(proxy.reporting.dashboard()), timeout)
    time.sleep(0.5)
    assert check(proxy.reporting.dashboard())


def test_redelivered_and_stale_model_events_change_nothing(cluster):
    proxy, dispatch, _ = cluster
    dispatch("registry", "model_created", {"model": model()})
    dispatch("registry", "model_created", {"model": model()})  # redelivered
    _settle(proxy, lambda d: d["models_by_department"] == {"Finance": 1})
    dispatch("registry", "model_updated", {"model": model(department="RH",
                                                          updated=NOW + timedelta(seconds=5))})
    _settle(proxy, lambda d: d["models_by_department"] == {"RH": 1})
    # An older state, delivered late, is ignored.
    dispatch("registry", "model_updated", {"model": model(department="Marketing",
                                                          updated=NOW + timedelta(seconds=1))})
    _settle(proxy, lambda d: d["models_by_department"] == {"RH": 1})
    dispatch("registry", "model_deleted", {"model_id": "m1", "name": "churn-m1",
                                           "version": "1.0.0"})
    dispatch("registry", "model_deleted", {"model_id": "m1", "name": "churn-m1",
                                           "version": "1.0.0"})
    _settle(proxy, lambda d: d["counts"]["models"] == 0 and d["models_by_department"] == {})
    # A late update never brings a deleted model back.
    dispatch("registry", "model_updated", {"model": model(updated=NOW + timedelta(hours=1))})
    _settle(proxy, lambda d: d["counts"]["models"] == 0)
    activity = proxy.reporting.dashboard()["recent_activity"]
    assert {(a["object_type"], a["action"], a["object_id"]) for a in activity} >= {
        ("model", "created", "m1"), ("model", "updated", "m1"), ("model", "deleted", "m1")}
    # The creator from the model; without a caller in the event's context, "system".
    assert {a["who"] for a in activity if a["action"] == "created"} == {"alice"}


def test_execution_states_move_once_and_never_back(cluster):
    proxy, dispatch, config = cluster
    done = execution(status="succeeded", started_at=_iso(NOW), finished_at=_iso(NOW),
                     duration_s=2.5, result={"rows": 40})
    dispatch("runner", "execution_queued", {"execution": execution()})
    dispatch("runner", "execution_succeeded", {"execution": done})
    dispatch("runner", "execution_started", {"execution": execution(status="running")})
    dispatch("runner", "execution_succeeded", {"execution": done})

    def one_succeeded(d):
        return d["executions"]["by_status"]["succeeded"] == 1 and d["counts"]["executions"] == 1

    _settle(proxy, one_succeeded)
    assert proxy.reporting.dashboard()["executions"]["last_24h"]["by_status"]["succeeded"] == 1
    trends = proxy.reporting.report("execution-trends", {"interval": "hour"})
    assert trends["totals"]["rows"] == 40 and trends["totals"]["compute_s"] == 2.5
    assert abs(trends["totals"]["duration_p50_s"] - 2.5) / 2.5 < 0.125
    usage = proxy.reporting.report("department-usage", {})
    assert usage["items"][0]["department"] == "Finance"
    assert usage["items"][0]["rows_scored"] == 40
    engine = sa.create_engine(config["ANALYTICS_DB_URL"])
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT status, rows, duration_s FROM executions"))
        assert [tuple(r) for r in rows] == [("succeeded", 40, 2.5)]
    engine.dispose()


def test_a_rebuild_replaces_everything_with_the_sources(cluster):
    proxy, dispatch, _ = cluster
    dispatch("registry", "model_created", {"model": model("drift", department="Ghost")})
    _settle(proxy, lambda d: d["models_by_department"] == {"Ghost": 1})
    SOURCES["models"] += [model("a"), model("b", department="RH")]
    SOURCES["executions"] += [execution("x", status="failed", duration_s=1.0,
                                        finished_at=_iso(NOW))]
    proxy.reporting.request_rebuild()
    _until(lambda: proxy.reporting.rebuild_status()["counts"] == {
        "models": 2, "deployments": 0, "executions": 1})
    dashboard = proxy.reporting.dashboard()
    assert dashboard["models_by_department"] == {"Finance": 1, "RH": 1}
    assert dashboard["executions"]["by_status"]["failed"] == 1
    performance = proxy.reporting.report("model-performance", {})
    assert [(i["model_id"], i["failed"]) for i in performance["items"]] == [("a", 0), ("b", 0)]


def test_a_bad_parameter_is_named(cluster):
    proxy, _, _ = cluster
    with pytest.raises(ValidationError) as caught:
        proxy.reporting.report("execution-trends", {"interval": "year"})
    assert "interval" in caught.value.details
    with pytest.raises(ValidationError):
        proxy.reporting.report("nope", {})


def test_a_rebuild_batch_replaces_figures_written_between_its_delete_and_insert(mongo_db):
    from services.reporting.dependencies import insert_replacing

    figures = mongo_db["rpt_model_days"]
    figures.insert_one({"_id": "m1|all", "rows": 3})  # an event's upsert, mid-rebuild
    insert_replacing(figures, [{"_id": "m1|all", "rows": 10}, {"_id": "m2|all", "rows": 4}])
    assert {d["_id"]: d["rows"] for d in figures.find()} == {"m1|all": 10, "m2|all": 4}
    insert_replacing(figures, [{"_id": "m2|all", "rows": 4}])  # a batch sent twice
    assert figures.count_documents({}) == 2
