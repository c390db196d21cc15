"""Issue 11 item 6: upload + attach is ONE outcome, whatever the timing.

The real registry (nameko container, real RabbitMQ vhost, the embedded database) and
the gateway over the Flask test client with a tiny RPC_TIMEOUT_S, so the registry's
sandboxed inspection outlives the gateway's wait. Whatever the client was told, the
stored state agrees: no ``ready`` model without its file, no orphan file.
"""

from __future__ import annotations

import gzip
import io
import json
import time

import joblib
import pytest
from bson import ObjectId
from nameko.rpc import rpc
from nameko.standalone.rpc import ClusterRpcProxy
from nameko.testing.services import entrypoint_hook
from sklearn.linear_model import LogisticRegression

from services.registry.service import RegistryService
from shared.artifacts import ArtifactStore
from shared.errors import EXPECTED, ServiceUnavailable
from shared.testing.gateway import gateway_app, gateway_config

pytestmark = pytest.mark.service


class StubDeployer:
    name = "deployer"

    @rpc(expected_exceptions=EXPECTED)
    def active_deployments_for_model(self, model_id):
        return []


@pytest.fixture(scope="module")
def model_bytes() -> bytes:
    estimator = LogisticRegression().fit([[0.0, 1.0], [1.0, 0.0], [0.2, 0.9], [0.9, 0.1]],
                                         [0, 1, 0, 1])
    buffer = io.BytesIO()
    joblib.dump(estimator, buffer, compress=3)
    return buffer.getvalue()


@pytest.fixture
def registry(container_factory, service_config):
    container_factory(StubDeployer, service_config).start()
    container = container_factory(RegistryService, {**service_config, "ORPHAN_FILE_GRACE_S": 0})
    container.start()
    return container


@pytest.fixture
def cluster(service_config, registry):
    with ClusterRpcProxy(service_config, timeout=30, context_data={"username": "t"}) as proxy:
        yield proxy


def hurried_client(service_config, token_issuer, wait_s: float = 0):
    """A gateway whose RPCs time out after 0.5 s (an inspection takes longer) and that
    waits ``wait_s`` for the upload's outcome before it abandons it."""
    return gateway_app(gateway_config(service_config, token_issuer, RPC_TIMEOUT_S=0.5,
                                      UPLOAD_WAIT_S=wait_s))


def settle(mongo_db, timeout: float = 60.0) -> None:
    """Wait until the registry has finished with every upload (none pending)."""
    deadline = time.monotonic() + timeout
    while True:
        pending = [doc["_id"] for doc in mongo_db["models"].find()
                   if any((e or {}).get("state") == "pending"
                          for e in (doc.get("uploads") or {}).values())]
        if not pending:
            time.sleep(0.5)  # the artifact deletion follows the state write
            return
        assert time.monotonic() < deadline, f"uploads still pending: {pending}"
        time.sleep(0.2)


def assert_consistent(mongo_db) -> None:
    """No ready model without its file; every stored model file belongs to a model."""
    store = ArtifactStore(mongo_db)
    referenced = set()
    for doc in mongo_db["models"].find():
        file = doc.get("file")
        if doc.get("status") == "ready":
            assert file, f"model {doc['_id']} is ready without a file"
        if file:
            assert store.files.find_one({"_id": ObjectId(file["artifact_id"])}), \
                f"model {doc['_id']}'s file is gone"
            referenced.add(file["artifact_id"])
    for stored in store.files.find({"metadata.model_id": {"$exists": True}}):
        assert str(stored["_id"]) in referenced, f"orphan model file {stored['_id']}"


def test_put_file_timing_out_tells_the_truth(service_config, token_issuer, registry, auth,
                                             mongo_db, model_bytes):
    with hurried_client(service_config, token_issuer) as app:
        client = app.test_client()
        outcomes = []
        for n in range(3):
            created = client.post("/api/v1/models", json={"name": f"race-{n}"}, headers=auth())
            assert created.status_code == 201, created.json
            model_id = created.json["id"]
            answer = client.put(f"/api/v1/models/{model_id}/file", data=model_bytes,
                                headers=auth(**{"X-Filename": "m.joblib"}))
            outcomes.append((model_id, answer.status_code, answer.json))
        settle(mongo_db)
        for model_id, status, body in outcomes:
            stored = client.get(f"/api/v1/models/{model_id}", headers=auth()).json
            if status == 200:
                assert stored["status"] == "ready" and stored["file"], stored
            else:
                assert status == 503, (status, body)
                assert body["error"]["code"] == "service_unavailable"
                upload = body["error"]["details"]["upload"]
                if upload == "abandoned":  # told "not attached": it never is
                    assert stored["file"] is None and stored["status"] == "draft", stored
                else:
                    assert upload == "pending" and body["error"]["details"]["model_id"]
    assert_consistent(mongo_db)


def test_a_slow_check_is_waited_for_and_answered(service_config, token_issuer, registry,
                                                 auth, mongo_db, model_bytes):
    with hurried_client(service_config, token_issuer, wait_s=120) as app:
        client = app.test_client()
        model_id = client.post("/api/v1/models", json={"name": "patient"},
                               headers=auth()).json["id"]
        answer = client.put(f"/api/v1/models/{model_id}/file", data=model_bytes,
                            headers=auth(**{"X-Filename": "m.joblib"}))
        assert answer.status_code == 200, answer.json  # the RPC timed out; the poll did not
        assert answer.json["status"] == "ready" and answer.json["file"]["filename"] == "m.joblib"
    settle(mongo_db)
    assert_consistent(mongo_db)


def test_multipart_create_timing_out_leaves_no_ready_model_without_file(
        service_config, token_issuer, registry, auth, mongo_db, model_bytes):
    with hurried_client(service_config, token_issuer) as app:
        client = app.test_client()
        answer = client.post(
            "/api/v1/models", headers=auth(), content_type="multipart/form-data",
            data={"metadata": json.dumps({"name": "race-create"}),
                  "file": (io.BytesIO(model_bytes), "m.joblib")})
        settle(mongo_db)
        names = [d["name"] for d in mongo_db["models"].find()]
        if answer.status_code == 201:
            assert names == ["race-create"]
        else:
            assert answer.status_code == 503, answer.json
            if answer.json["error"]["details"].get("upload") == "abandoned":
                assert names == []  # told "not created": it is not
    assert_consistent(mongo_db)


def test_abandon_before_attach_wins_and_the_late_attach_deletes_the_file(
        cluster, mongo_db, model_bytes):
    store = ArtifactStore(mongo_db)
    model = cluster.registry.create_model({"name": "early-abandon"})
    ref = store.put(io.BytesIO(model_bytes), "m.joblib", metadata={"model_id": model["id"]})
    assert cluster.registry.abandon_upload(model["id"], ref.id) == {"state": "abandoned"}
    with pytest.raises(ServiceUnavailable) as exc:
        cluster.registry.attach_file(model["id"], ref.to_dict(), "m.joblib")
    assert exc.value.details["upload"] == "abandoned"
    assert cluster.registry.get_model(model["id"])["file"] is None
    assert_consistent(mongo_db)


def test_attach_before_abandon_wins_and_abandon_reports_it(cluster, mongo_db, model_bytes):
    store = ArtifactStore(mongo_db)
    model = cluster.registry.create_model({"name": "attached-first"})
    ref = store.put(io.BytesIO(model_bytes), "m.joblib", metadata={"model_id": model["id"]})
    attached = cluster.registry.attach_file(model["id"], ref.to_dict(), "m.joblib")
    assert attached["status"] == "ready"
    outcome = cluster.registry.abandon_upload(model["id"], ref.id)
    assert outcome["state"] == "attached" and outcome["model"]["file"]["artifact_id"] == ref.id
    # a repeated attach of the same upload is the same model, not a second outcome
    again = cluster.registry.attach_file(model["id"], ref.to_dict(), "m.joblib")
    assert again["file"]["artifact_id"] == ref.id
    assert_consistent(mongo_db)


def test_rejected_then_abandoned_reports_the_rejection(cluster, mongo_db):
    store = ArtifactStore(mongo_db)
    model = cluster.registry.create_model({"name": "bomb"})
    bomb = gzip.compress(b"\0" * (1 << 20), 9) * 200  # ~200 KB → 200 MiB
    ref = store.put(io.BytesIO(bomb), "m.joblib", metadata={"model_id": model["id"]})
    started = time.monotonic()
    with pytest.raises(Exception) as exc:
        cluster.registry.attach_file(model["id"], ref.to_dict(), "m.joblib")
    assert time.monotonic() - started < 5
    assert getattr(exc.value, "code", None) == "invalid_model_file", exc.value
    assert exc.value.details["reason"] == "decompression_bomb"
    outcome = cluster.registry.abandon_upload(model["id"], ref.id)
    assert outcome["state"] == "rejected"
    assert outcome["error"]["code"] == "invalid_model_file"
    assert_consistent(mongo_db)


def test_files_a_dead_gateway_never_handed_over_are_swept(registry, cluster, mongo_db,
                                                         model_bytes):
    store = ArtifactStore(mongo_db)
    model = cluster.registry.create_model({"name": "gateway-died"})
    orphan = store.put(io.BytesIO(model_bytes), "m.joblib", metadata={"model_id": model["id"]})
    kept = store.put(io.BytesIO(model_bytes), "m.joblib", metadata={"model_id": model["id"]})
    cluster.registry.attach_file(model["id"], kept.to_dict(), "m.joblib")
    time.sleep(1.1)  # uploadDate strictly in the past
    with entrypoint_hook(registry, "sweep_orphan_files") as sweep:
        sweep()
    assert store.files.find_one({"_id": ObjectId(orphan.id)}) is None
    assert store.files.find_one({"_id": ObjectId(kept.id)}) is not None
    assert_consistent(mongo_db)
