"""Each wired global setting takes effect without a restart: the admin service changes
it, ``settings_changed`` (or the gateway's short cache) carries it, the service obeys.
Real admin, deployer, runner and registry containers on the real broker and database."""

from __future__ import annotations

import io
import json
import time
import uuid
from datetime import timedelta

import pytest
from nameko.standalone.rpc import ClusterRpcProxy

from services.admin.service import AdminService
from services.deployer.service import DeployerService
from services.registry.service import RegistryService
from services.runner.service import RunnerService
from shared.artifacts import BUCKET
from shared.errors import NotFound, ValidationError
from shared.mongo import utcnow
from shared.testing import deployer as deployer_testing
from shared.testing import runner as runner_testing
from shared.testing.gateway import gateway_app, gateway_config
from shared.testing.runner import iris_frame, slow_input, upload, wait_final
from tests.service.test_auth_service import start_issuer  # noqa: F401  (fixture)

pytestmark = pytest.mark.service
pytest_plugins = ["shared.testing.runner"]


def wait_for(predicate, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.2)


@pytest.fixture
def rpc(service_config):
    with ClusterRpcProxy(service_config, timeout=30,
                         context_data={"username": "admin-user", "request_id": "wiring"}) as proxy:
        yield proxy


def test_default_timezone_of_new_deployments(container_factory, service_config, rpc, unique):
    for cls in (AdminService, DeployerService, deployer_testing.FakeRegistry):
        container_factory(cls, service_config).start()
    model = deployer_testing.make_model(unique)

    def create(**extra):
        return rpc.deployer.create_deployment({"name": unique("dep"), "model_id": model["id"],
                                               "schedule": "0 6 * * *", **extra})

    assert create()["timezone"] == "UTC"
    rpc.admin.update_settings({"default_timezone": "Europe/Paris"})
    assert wait_for(lambda: create()["timezone"] == "Europe/Paris")
    assert create(timezone="America/New_York")["timezone"] == "America/New_York"


def test_a_service_started_later_loads_the_stored_settings(container_factory, service_config,
                                                           rpc, unique):
    container_factory(AdminService, service_config).start()
    rpc.admin.update_settings({"default_timezone": "Asia/Tokyo"})
    for cls in (DeployerService, deployer_testing.FakeRegistry):
        container_factory(cls, service_config).start()
    model = deployer_testing.make_model(unique)
    assert wait_for(lambda: rpc.deployer.create_deployment(
        {"name": unique("dep"), "model_id": model["id"]})["timezone"] == "Asia/Tokyo")


@pytest.fixture
def runner_with_admin(container_factory, runner_config):
    config = {**runner_config, "RUNNER_PURGE_INTERVAL_S": 0}
    for cls in (AdminService, runner_testing.FakeRegistry, runner_testing.FakeDeployer):
        container_factory(cls, config).start()
    container = container_factory(RunnerService, config)
    container.start()
    return container


def test_default_and_maximum_execution_timeout(runner_with_admin, cluster, make_model, store):
    model = make_model()
    ref = upload(store, slow_input(), "csv")
    cluster.admin.update_settings({"default_execution_timeout_s": 2,
                                   "max_execution_timeout_s": 30})

    def refused() -> bool:
        try:
            cluster.runner.create_execution({"model_id": model["id"], "input": {"artifact": ref},
                                             "parameters": {"timeout_s": 31}})
        except ValidationError as exc:
            assert "parameters.timeout_s" in exc.details
            return True
        return False

    assert wait_for(refused)
    execution = cluster.runner.create_execution({
        "model_id": model["id"], "input": {"artifact": ref}, "parameters": {"batch_size": 1}})
    done = wait_final(cluster, execution["id"], timeout=40)
    assert done["status"] == "timed_out", done
    assert "timed out after 2 s" in done["error"]


def test_retention_purges_old_executions_logs_and_results(runner_with_admin, cluster,
                                                          make_model, store, mongo_db):
    model = make_model()
    x, _ = iris_frame()
    ids = []
    for _ in range(3):
        ref = upload(store, x.head(5), "csv")
        ids.append(cluster.runner.create_execution({"model_id": model["id"],
                                                    "input": {"artifact": ref}})["id"])
    runs = [wait_final(cluster, i) for i in ids]
    assert all(r["status"] == "succeeded" for r in runs), runs
    old, middle, recent = ids
    results = {i: cluster.runner.get_result(i)["artifact_id"] for i in ids}
    now = utcnow()
    from bson import ObjectId

    for execution_id, age in ((old, 10), (middle, 3)):
        when = now - timedelta(days=age)
        mongo_db.executions.update_one({"_id": ObjectId(execution_id)},
                                       {"$set": {"created_at": when, "finished_at": when}})
        mongo_db.execution_logs.update_many({"execution_id": execution_id}, {"$set": {"ts": when}})
    cluster.admin.update_settings({"retention_days": 5, "log_retention_days": 2,
                                   "result_retention_days": 2})

    def gone(execution_id: str) -> bool:
        try:
            cluster.runner.get_execution(execution_id)
        except NotFound:
            return True
        return False

    assert wait_for(lambda: gone(old), timeout=40)
    assert mongo_db.execution_logs.count_documents({"execution_id": old}) == 0
    assert wait_for(lambda: _purged(mongo_db, middle))
    assert wait_for(
        lambda: mongo_db.execution_logs.count_documents({"execution_id": middle}) == 0)
    with pytest.raises(NotFound):
        cluster.runner.get_result(middle)
    assert cluster.runner.get_execution(middle)["status"] == "succeeded"
    # The recent run keeps everything.
    assert cluster.runner.get_result(recent)["artifact_id"] == results[recent]
    assert cluster.runner.get_logs(recent, 0)["lines"]
    files = mongo_db[f"{BUCKET}.files"]
    assert files.count_documents({"_id": ObjectId(results[old])}) == 0
    assert files.count_documents({"_id": ObjectId(results[middle])}) == 0
    assert files.count_documents({"_id": ObjectId(results[recent])}) == 1
    # Their audit entries stay.
    audit = cluster.admin.list_audit({"object_id": old})
    assert audit["total"] >= 1


def _purged(mongo_db, execution_id: str) -> bool:
    from bson import ObjectId

    doc = mongo_db.executions.find_one({"_id": ObjectId(execution_id)})
    return bool(doc and (doc.get("result") or {}).get("purged_at"))


def test_max_upload_size_at_the_gateway(container_factory, service_config, token_issuer, auth):
    for cls in (AdminService, RegistryService):
        container_factory(cls, service_config).start()
    config = gateway_config(service_config, token_issuer, MAX_UPLOAD_MB=200, SETTINGS_TTL_S=0.2)
    data = b"\x00not a model" * (160 * 1024)  # ~1.9 MB

    def post():
        return client.post("/api/v1/models", headers=auth("admin"), data={
            "metadata": json.dumps({"name": uuid.uuid4().hex, "type": "other",
                                    "framework": "other"}),
            "file": (io.BytesIO(data), "big.bin")},
            content_type="multipart/form-data")

    with gateway_app(config) as app:
        client = app.test_client()
        put = client.put("/api/v1/admin/settings", json={"max_upload_mb": 1},
                         headers=auth("admin"))
        assert put.status_code == 200, put.json
        assert wait_for(lambda: post().status_code == 413)
        assert post().json["error"]["code"] == "payload_too_large"
        client.put("/api/v1/admin/settings", json={"max_upload_mb": 3}, headers=auth("admin"))
        # Accepted in size now: the registry reads it and refuses it for what it is.
        response = wait_for(lambda: (r := post()).status_code != 413 and r)
        assert response.status_code == 422, response.json
        assert response.json["error"]["code"] == "invalid_model_file"


def test_login_lockout_thresholds(container_factory, service_config, start_issuer, rpc):  # noqa: F811
    """Contract C2: auth reads its thresholds through LockoutPolicy, fed by the settings."""
    from nameko.testing.utils import get_extension

    from shared.settings import PlatformSettings

    container_factory(AdminService, service_config).start()
    issuer = start_issuer(LOGIN_MAX_FAILURES=5, LOGIN_LOCKOUT_S=60, LOGIN_LOCKOUT_MAX_S=120)
    view = get_extension(issuer.container, PlatformSettings).view
    rpc.admin.update_settings({"login_max_failures": 2, "login_lockout_s": 7})
    assert wait_for(lambda: view.version >= 1 and view["login_max_failures"] == 2)
    assert issuer.login("business", "wrong").status_code in (400, 401)
    locked = issuer.login("business", "wrong")  # the 2nd failure locks (5 before)
    assert (locked.status_code, locked.headers.get("Retry-After")) == (429, "7")
    assert issuer.login("business").status_code == 429  # even the right password
