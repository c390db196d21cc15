"""The registry against the real broker and database (fake deployer, event listener)."""

from __future__ import annotations

import time

import eventlet
import pytest
import requests
from nameko.events import event_handler
from nameko.rpc import rpc
from nameko.standalone.rpc import ClusterRpcProxy
from nameko.testing.services import entrypoint_waiter

from services.registry.service import RegistryService
from shared.artifacts import ArtifactStore
from shared.errors import (
    EXPECTED,
    Conflict,
    InvalidModelFile,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    ValidationError,
)
from shared.observability import Observability
from shared.testing import modelfiles as mf

pytestmark = pytest.mark.service

ACTIVE: dict[str, list[dict]] = {}


class FakeDeployer:
    name = "deployer"

    @rpc(expected_exceptions=EXPECTED)
    def active_deployments_for_model(self, model_id):
        return ACTIVE.get(model_id, [])


class SlowDeployer:
    name = "deployer"

    @rpc
    def active_deployments_for_model(self, model_id):
        eventlet.sleep(10)
        return []


EVENTS: list[tuple[str, dict]] = []


class Listener:
    name = "registry_test_listener"

    @event_handler("registry", "model_created")
    def created(self, payload):
        EVENTS.append(("model_created", payload))

    @event_handler("registry", "model_updated")
    def updated(self, payload):
        EVENTS.append(("model_updated", payload))

    @event_handler("registry", "model_file_uploaded")
    def uploaded(self, payload):
        EVENTS.append(("model_file_uploaded", payload))

    @event_handler("registry", "model_deleted")
    def deleted(self, payload):
        EVENTS.append(("model_deleted", payload))


@pytest.fixture
def config(service_config):
    return {**service_config, "RPC_TIMEOUT_S": 1, "MAX_UPLOAD_MB": 5}


@pytest.fixture
def registry(container_factory, config):
    container = container_factory(RegistryService, config)
    container.start()
    return container


@pytest.fixture
def deployer(container_factory, config):
    ACTIVE.clear()
    container = container_factory(FakeDeployer, config)
    container.start()
    return container


@pytest.fixture
def rpc_registry(registry, config):
    with ClusterRpcProxy(
        config, timeout=60, context_data={"username": "alice", "request_id": "req-1"}
    ) as cluster:
        yield cluster.registry


@pytest.fixture
def store(mongo_db):
    return ArtifactStore(mongo_db)


@pytest.fixture
def make_model(rpc_registry, unique):
    def make(**overrides):
        data = {
            "name": unique("model"),
            "description": "a model",
            "type": "classification",
            "framework": "scikit-learn",
            "department": "Sales",
            "region": "EMEA",
            "tags": ["churn"],
        }
        data.update(overrides)
        return rpc_registry.create_model(data)

    return make


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("registry_models")
    return {
        "logreg": mf.write_joblib(d, mf.fitted_logreg(), "iris.joblib", compress=3),
        "forest": mf.write_skops(d, mf.fitted_forest()),
        "onnx": mf.write_onnx(d),
        "evil": mf.write_os_system(d, str(d / "pwned")),
        "text": mf.write_text(d),
    }


def upload(store, path, filename=None):
    with open(path, "rb") as handle:
        return store.put(handle, filename or path.name).to_dict()


def artifact_exists(store, artifact_id):
    try:
        store.open(artifact_id).close()
    except NotFound:
        return False
    return True


# -- create / get / validation -------------------------------------------------------


def test_create_and_get(rpc_registry, make_model):
    model = make_model(metrics={"auc": 0.91}, parameters={"C": 1.0})
    assert model["version"] == "1.0.0" and model["status"] == "draft"
    assert model["created_by"] == "alice"
    assert model["file"] is None and model["input_schema"] is None
    assert model["created_at"].endswith("Z") and model["updated_at"] == model["created_at"]
    assert rpc_registry.get_model(model["id"]) == model


@pytest.mark.parametrize(
    "data,fields",
    [
        ({"description": "no name"}, {"name"}),
        ({"name": "m", "version": "1.0"}, {"version"}),
        ({"name": "m", "type": "deep-learning"}, {"type"}),
        ({"name": "m", "framework": "keras"}, {"framework"}),
        ({"name": "m", "tags": "a,b"}, {"tags"}),
        ({"name": "m", "metrics": {"auc": "high"}}, {"metrics"}),
        ({"name": "m", "colour": "red", "owner": "x"}, {"colour", "owner"}),
        ({"name": "m", "status": "ready"}, {"status"}),
    ],
)
def test_validation_errors_name_the_fields(rpc_registry, data, fields):
    with pytest.raises(ValidationError) as caught:
        rpc_registry.create_model(data)
    assert set(caught.value.details) == fields
    assert all(isinstance(m, list) and m for m in caught.value.details.values())


def test_duplicates_conflict_even_when_racing(rpc_registry, make_model, unique, config):
    model = make_model(version="2.0.0")
    with pytest.raises(Conflict) as caught:
        make_model(name=model["name"], version="2.0.0")
    assert caught.value.details == {"name": model["name"], "version": "2.0.0"}
    make_model(name=model["name"], version="2.0.1")  # another version is fine

    name = unique("race")
    with ClusterRpcProxy(config, timeout=30) as cluster:
        calls = [cluster.registry.create_model.call_async({"name": name}) for _ in range(5)]
        outcomes = []
        for call in calls:
            try:
                outcomes.append(call.result()["name"])
            except Conflict:
                outcomes.append("conflict")
    assert sorted(outcomes) == ["conflict"] * 4 + [name]


def test_unknown_and_malformed_ids_are_not_found(rpc_registry, store, model_files):
    for bad in ("0123456789abcdef01234567", "not-an-id", ""):
        for call in (
            rpc_registry.get_model,
            rpc_registry.delete_model,
            rpc_registry.list_versions,
            rpc_registry.get_file,
        ):
            with pytest.raises(NotFound):
                call(bad)
        with pytest.raises(NotFound):
            rpc_registry.update_model(bad, {"description": "x"})
    artifact = upload(store, model_files["logreg"])
    with pytest.raises(NotFound):
        rpc_registry.attach_file("0123456789abcdef01234567", artifact, "m.joblib")
    assert not artifact_exists(store, artifact["id"])  # an orphan upload is not kept


# -- update ----------------------------------------------------------------------------


def test_patch_semantics_status_and_uniqueness(rpc_registry, make_model):
    model = make_model(metrics={"auc": 0.8})
    time.sleep(0.01)
    updated = rpc_registry.update_model(model["id"], {"description": "v2", "tags": ["a", "b"]})
    assert updated["description"] == "v2" and updated["tags"] == ["a", "b"]
    assert updated["metrics"] == {"auc": 0.8} and updated["name"] == model["name"]
    assert updated["updated_at"] > model["updated_at"]
    with pytest.raises(ValidationError) as caught:
        rpc_registry.update_model(model["id"], {"status": "ready"})
    assert "status" in caught.value.details
    with pytest.raises(ValidationError) as caught:
        rpc_registry.update_model(model["id"], {"metrics": {"auc": "x"}, "created_at": "now"})
    assert set(caught.value.details) == {"metrics", "created_at"}
    assert rpc_registry.update_model(model["id"], {"status": "archived"})["status"] == "archived"

    other = make_model(version="3.0.0")
    with pytest.raises(Conflict):
        rpc_registry.update_model(other["id"], {"name": model["name"], "version": "1.0.0"})
    renamed = rpc_registry.update_model(other["id"], {"version": "3.1.0"})
    assert renamed["version"] == "3.1.0"


# -- list ----------------------------------------------------------------------------


def test_list_filters_search_sort_and_pages(rpc_registry, make_model, unique):
    tag = unique("tag")
    a = make_model(
        name=f"Alpha {tag}",
        description="Predicts CHURN (v1.2)",
        department="Sales",
        region="EMEA",
        tags=[tag, "prod"],
        type="classification",
    )
    b = make_model(
        name=f"beta {tag}",
        description="price forecast",
        department="Finance",
        region="APAC",
        tags=[tag],
        type="forecasting",
        framework="onnx",
    )
    c = make_model(
        name=f"gamma {tag}",
        description="axb",
        department="Sales",
        region="APAC",
        tags=[tag, "prod", "gpu"],
        type="regression",
        framework="xgboost",
    )
    rpc_registry.update_model(c["id"], {"status": "archived"})

    def ids(**query):
        return [m["id"] for m in rpc_registry.list_models({"tags": [tag], **query})["items"]]

    assert ids() == [c["id"], b["id"], a["id"]]  # default: newest first
    assert ids(sort="name") == [a["id"], b["id"], c["id"]]
    assert ids(sort="-name") == [c["id"], b["id"], a["id"]]
    assert ids(department="Sales") == [c["id"], a["id"]]
    assert ids(region="APAC") == [c["id"], b["id"]]
    assert ids(status="archived") == [c["id"]]
    assert ids(status="draft", sort="name") == [a["id"], b["id"]]
    assert ids(type="forecasting") == [b["id"]]
    assert ids(framework="xgboost") == [c["id"]]
    assert ids(tags=[tag, "prod"], sort="name") == [a["id"], c["id"]]  # all must match
    assert ids(tags=[tag, "prod", "gpu"]) == [c["id"]]
    assert ids(q="churn") == [a["id"]]  # description, case-insensitive
    assert ids(q="BETA") == [b["id"]]  # name
    assert ids(q="(v1.2)") == [a["id"]]  # regex characters are literal
    assert ids(q="a.b") == []  # "." does not match "x" in "axb"

    page = rpc_registry.list_models({"tags": [tag], "sort": "name", "page": 2, "per_page": 2})
    assert page["total"] == 3 and page["page"] == 2 and page["per_page"] == 2
    assert [m["id"] for m in page["items"]] == [c["id"]]
    assert rpc_registry.list_models({"tags": [tag], "page": 3, "per_page": 2})["items"] == []

    for bad in ({"sort": "password"}, {"per_page": 500}, {"page": 0}, {"colour": "red"}):
        with pytest.raises(ValidationError):
            rpc_registry.list_models(bad)


def test_versions_newest_semver_first(rpc_registry, make_model, unique):
    name = unique("versions")
    created = {
        v: make_model(name=name, version=v)
        for v in ("1.9.0", "1.10.0", "1.2.0", "2.0.0-rc.1", "1.10.0-beta")
    }
    make_model(name=unique("other"), version="9.9.9")
    versions = rpc_registry.list_versions(created["1.2.0"]["id"])
    assert [m["version"] for m in versions] == [
        "2.0.0-rc.1",
        "1.10.0",
        "1.10.0-beta",
        "1.9.0",
        "1.2.0",
    ]


# -- files ----------------------------------------------------------------------------


def test_attach_real_file_then_replace_it(rpc_registry, make_model, store, model_files):
    model = make_model()
    first = upload(store, model_files["logreg"])
    attached = rpc_registry.attach_file(model["id"], first, "../../etc/iris model.joblib")
    assert attached["status"] == "ready"
    file = attached["file"]
    assert file["filename"] == "etc_iris_model.joblib"
    assert file["format"] == "joblib" and file["estimator"] == "LogisticRegression"
    assert file["sklearn_version"] == __import__("sklearn").__version__
    assert file["sha256"] == first["sha256"] and file["size"] == first["size"]
    assert file["artifact_id"] == first["id"] and file["uploaded_at"].endswith("Z")
    assert attached["parameters"]["C"] == 0.5 and attached["parameters"]["max_iter"] == 500
    assert attached["input_schema"] == [
        {"name": "sepal length (cm)", "type": "number"},
        {"name": "sepal width (cm)", "type": "number"},
        {"name": "petal length (cm)", "type": "number"},
        {"name": "petal width (cm)", "type": "number"},
    ]
    assert rpc_registry.get_file(model["id"]) == {
        "artifact_id": first["id"],
        "filename": "etc_iris_model.joblib",
        "content_type": "application/x-joblib",
        "size": first["size"],
        "sha256": first["sha256"],
        "format": "joblib",
    }

    second = upload(store, model_files["forest"], "")
    replaced = rpc_registry.attach_file(model["id"], second, "")
    assert replaced["file"]["format"] == "skops"
    assert replaced["file"]["filename"] == "model.skops"  # empty name → generated
    assert replaced["file"]["estimator"] == "RandomForestClassifier"
    assert replaced["parameters"] == attached["parameters"]  # kept: the model had some
    assert not artifact_exists(store, first["id"])  # the old file is gone
    assert artifact_exists(store, second["id"])


def test_archived_model_stays_archived_and_onnx_schema(
    rpc_registry, make_model, store, model_files
):
    model = make_model(framework="onnx")
    rpc_registry.update_model(model["id"], {"status": "archived"})
    attached = rpc_registry.attach_file(model["id"], upload(store, model_files["onnx"]), "m.onnx")
    assert attached["status"] == "archived"
    assert attached["file"]["format"] == "onnx"
    assert attached["input_schema"] == [{"name": "X", "type": "tensor(float)"}]


def test_malicious_or_bogus_file_is_rejected_and_nothing_changes(
    rpc_registry, make_model, store, model_files, registry
):
    model = make_model()
    good = upload(store, model_files["logreg"])
    model = rpc_registry.attach_file(model["id"], good, "good.joblib")

    evil = upload(store, model_files["evil"], "evil.pkl")
    with pytest.raises(InvalidModelFile) as caught:
        rpc_registry.attach_file(model["id"], evil, "evil.pkl")
    assert "posix.system" in caught.value.message
    assert caught.value.details["offending_global"] == "posix.system"
    assert caught.value.status == 422
    assert not artifact_exists(store, evil["id"])
    assert rpc_registry.get_model(model["id"]) == model  # unchanged, old file kept
    assert artifact_exists(store, good["id"])
    assert not (model_files["evil"].parent / "pwned").exists()

    text = upload(store, model_files["text"], "x.joblib")
    with pytest.raises(InvalidModelFile) as caught:
        rpc_registry.attach_file(model["id"], text, "x.joblib")
    assert "not a recognised model file" in caught.value.message
    assert not artifact_exists(store, text["id"])

    observability = next(d for d in registry.dependencies if isinstance(d, Observability))
    metrics = requests.get(f"http://127.0.0.1:{observability.port}/metrics", timeout=5).text
    assert 'ml_registry_model_files_total{outcome="rejected",reason="forbidden_global"}' in metrics
    assert 'ml_registry_model_files_total{outcome="accepted",reason="ok"}' in metrics


def test_oversized_file_is_refused_and_deleted(rpc_registry, make_model, store):
    model = make_model()
    big = store.put_bytes(b"\x80\x04" + b"\x00" * (5 * 1024 * 1024 + 10), "big.pkl").to_dict()
    with pytest.raises(PayloadTooLarge):
        rpc_registry.attach_file(model["id"], big, "big.pkl")
    assert not artifact_exists(store, big["id"])
    with pytest.raises(ValidationError):
        rpc_registry.attach_file(model["id"], {"id": "nope"}, "x.pkl")
    assert rpc_registry.get_model(model["id"])["file"] is None


def test_get_file_without_file_is_not_found(rpc_registry, make_model):
    with pytest.raises(NotFound):
        rpc_registry.get_file(make_model()["id"])


# -- delete ----------------------------------------------------------------------------


def test_delete_removes_the_model_and_its_artifact(
    rpc_registry, make_model, store, model_files, deployer
):
    model = make_model()
    artifact = upload(store, model_files["logreg"])
    rpc_registry.attach_file(model["id"], artifact, "m.joblib")
    assert rpc_registry.delete_model(model["id"]) is None
    with pytest.raises(NotFound):
        rpc_registry.get_model(model["id"])
    assert not artifact_exists(store, artifact["id"])


def test_delete_refused_while_a_deployment_is_active(rpc_registry, make_model, deployer):
    model = make_model()
    ACTIVE[model["id"]] = [{"id": "d1", "name": "nightly-scoring", "status": "active"}]
    with pytest.raises(Conflict) as caught:
        rpc_registry.delete_model(model["id"])
    assert "nightly-scoring" in caught.value.message
    assert caught.value.details["deployments"] == [{"id": "d1", "name": "nightly-scoring"}]
    assert rpc_registry.get_model(model["id"])["id"] == model["id"]


def test_delete_refused_when_no_deployer_answers(rpc_registry, make_model):
    model = make_model()
    with pytest.raises(ServiceUnavailable):
        rpc_registry.delete_model(model["id"])
    assert rpc_registry.get_model(model["id"])["id"] == model["id"]


def test_delete_refused_when_the_deployer_is_too_slow(
    rpc_registry, make_model, container_factory, config
):
    container_factory(SlowDeployer, config).start()
    model = make_model()
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable):
        rpc_registry.delete_model(model["id"])
    assert time.monotonic() - started < 5  # RPC_TIMEOUT_S=1, not the deployer's 10 s
    assert rpc_registry.get_model(model["id"])["id"] == model["id"]


# -- events ----------------------------------------------------------------------------


def test_events_are_dispatched_after_each_write(
    rpc_registry, make_model, store, model_files, deployer, container_factory, config
):
    EVENTS.clear()
    listener = container_factory(Listener, config)
    listener.start()
    with entrypoint_waiter(listener, "created"):
        model = make_model()
    with entrypoint_waiter(listener, "updated"):
        rpc_registry.update_model(model["id"], {"description": "changed"})
    with entrypoint_waiter(listener, "uploaded"):
        rpc_registry.attach_file(model["id"], upload(store, model_files["logreg"]), "m.joblib")
    with entrypoint_waiter(listener, "deleted"):
        rpc_registry.delete_model(model["id"])
    names = [name for name, _ in EVENTS]
    assert names == ["model_created", "model_updated", "model_file_uploaded", "model_deleted"]
    assert EVENTS[0][1]["model"]["id"] == model["id"]
    assert EVENTS[1][1]["model"]["description"] == "changed"
    assert EVENTS[2][1]["model"]["status"] == "ready"
    assert EVENTS[3][1] == {"model_id": model["id"], "name": model["name"], "version": "1.0.0"}
