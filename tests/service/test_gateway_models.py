"""The gateway's Models endpoints over the Flask test client, against the REAL registry
(nameko container on a fresh RabbitMQ vhost), the embedded database and tokens of a
local issuer. The deployer is a stub (only ``active_deployments_for_model``)."""

from __future__ import annotations

import io
import time

import joblib
import pytest
from nameko.extensions import DependencyProvider
from nameko.rpc import rpc
from sklearn.linear_model import LogisticRegression

from services.gateway.app import create_app, unprotected_views
from services.gateway.auth import Principal
from services.gateway.web import rpc as gateway_rpc
from shared.errors import EXPECTED
from shared.observability import Observability
from shared.testing.gateway import gateway_app, gateway_config

pytestmark = pytest.mark.service

registry_service = pytest.importorskip("services.registry.service")
RegistryService = next(
    obj
    for obj in vars(registry_service).values()
    if isinstance(obj, type) and getattr(obj, "name", None) == "registry"
)


class WorkerData(DependencyProvider):
    def get_dependency(self, worker_ctx):
        return worker_ctx.data


class StubDeployer:
    """The deployer as the registry sees it: which deployments use a model."""

    name = "deployer"
    active: dict[str, list[dict]] = {}
    context = WorkerData()

    @rpc(expected_exceptions=EXPECTED)
    def active_deployments_for_model(self, model_id):
        return StubDeployer.active.get(model_id, [])

    @rpc
    def whoami(self):
        """Test only: the nameko context data the caller sent."""
        return {key: self.context.get(key) for key in ("request_id", "username", "roles")}


# -- fixtures -------------------------------------------------------------------


@pytest.fixture(scope="module")
def model_bytes() -> bytes:
    estimator = LogisticRegression().fit(
        [[0.0, 1.0], [1.0, 0.0], [0.2, 0.9], [0.9, 0.1]], [0, 1, 0, 1]
    )
    buffer = io.BytesIO()
    joblib.dump(estimator, buffer, compress=3)  # zlib container: detected as joblib
    return buffer.getvalue()


@pytest.fixture
def registry(container_factory, service_config):
    container = container_factory(RegistryService, service_config)
    container.start()
    deployer = container_factory(StubDeployer, service_config)
    deployer.start()
    return container


@pytest.fixture
def app(registry, service_config, token_issuer):
    with gateway_app(gateway_config(service_config, token_issuer)) as app:
        yield app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_model(client, auth, unique):
    def make(**overrides):
        body = {
            "name": unique("model"),
            "type": "classification",
            "framework": "scikit-learn",
            "department": "Risk",
            "region": "EU",
            "tags": ["credit"],
            **overrides,
        }
        response = client.post("/api/v1/models", json=body, headers=auth())
        assert response.status_code == 201, response.json
        return response.json

    return make


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    body = response.json
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert response.headers.get("X-Request-ID")
    return body["error"]


def multipart_create(client, headers, metadata: dict, data: bytes, filename: str):
    import json

    return client.post(
        "/api/v1/models",
        data={"metadata": json.dumps(metadata), "file": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
        headers=headers,
    )


def count_models(client, auth, name: str) -> int:
    response = client.get("/api/v1/models", query_string={"q": name}, headers=auth("viewer"))
    assert response.status_code == 200
    return sum(1 for item in response.json["items"] if item["name"] == name)


# -- tests ----------------------------------------------------------------------


def test_crud_lifecycle(client, auth, make_model, unique):
    name = unique("churn")
    model = make_model(
        name=name, description="churn model", parameters={"C": 1.0}, metrics={"auc": 0.91}
    )
    assert model["status"] == "draft" and model["version"] == "1.0.0"
    assert model["file"] is None and model["created_by"] == "data-scientist-user"
    assert model["created_at"].endswith("Z")

    got = client.get(f"/api/v1/models/{model['id']}", headers=auth("viewer"))
    assert got.status_code == 200 and got.json["name"] == name

    listed = client.get(
        "/api/v1/models",
        headers=auth("viewer"),
        query_string={
            "q": name,
            "department": "Risk",
            "tag": ["credit"],
            "per_page": 5,
            "sort": "-created_at",
        },
    )
    assert listed.status_code == 200
    assert listed.json["total"] == 1 and listed.json["per_page"] == 5
    assert [item["id"] for item in listed.json["items"]] == [model["id"]]

    patched = client.patch(
        f"/api/v1/models/{model['id']}",
        headers=auth("admin"),
        json={"description": "v2", "tags": ["credit", "b2c"]},
    )
    assert patched.status_code == 200
    assert patched.json["description"] == "v2" and patched.json["tags"] == ["credit", "b2c"]

    duplicate = client.post("/api/v1/models", headers=auth(), json={"name": name})
    assert_error(duplicate, 409, "conflict")

    v2 = make_model(name=name, version="1.1.0")
    versions = client.get(f"/api/v1/models/{model['id']}/versions", headers=auth("viewer"))
    assert versions.status_code == 200
    assert [m["version"] for m in versions.json] == ["1.1.0", "1.0.0"]
    assert v2["id"] in [m["id"] for m in versions.json]

    deleted = client.delete(f"/api/v1/models/{model['id']}", headers=auth())
    assert deleted.status_code == 204 and deleted.data == b""
    assert_error(client.get(f"/api/v1/models/{model['id']}", headers=auth()), 404, "not_found")


def test_unknown_and_malformed_ids_are_404(client, auth):
    for model_id in ("0123456789abcdef01234567", "not-an-id"):
        assert_error(client.get(f"/api/v1/models/{model_id}", headers=auth()), 404, "not_found")
        assert_error(
            client.patch(f"/api/v1/models/{model_id}", headers=auth(), json={"description": "x"}),
            404,
            "not_found",
        )
        assert_error(client.delete(f"/api/v1/models/{model_id}", headers=auth()), 404, "not_found")
        assert_error(
            client.get(f"/api/v1/models/{model_id}/file", headers=auth()), 404, "not_found"
        )
    assert_error(client.get("/api/v1/nowhere", headers=auth()), 404, "not_found")
    assert_error(client.put("/api/v1/models", headers=auth()), 405, "method_not_allowed")


def test_auth_401_and_role_403(client, auth, make_model, model_bytes, issue_token):
    model = make_model()
    url = f"/api/v1/models/{model['id']}"

    error = assert_error(client.get("/api/v1/models"), 401, "unauthorized")
    assert "token" in error["message"]
    response = client.get("/api/v1/models", headers={"Authorization": "Bearer x.y.z"})
    assert_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    expired = issue_token("a", ["admin"], exp=int(time.time()) - 10)
    assert_error(
        client.get(url, headers={"Authorization": f"Bearer {expired}"}), 401, "unauthorized"
    )
    # 401 comes before body validation
    assert_error(client.post("/api/v1/models", json={}), 401, "unauthorized")

    for role in ("viewer", "business-user"):
        headers = auth(role)
        assert client.get(url, headers=headers).status_code == 200
        assert client.get("/api/v1/models", headers=headers).status_code == 200
        assert_error(
            client.post("/api/v1/models", json={"name": "x"}, headers=headers), 403, "forbidden"
        )
        assert_error(
            client.patch(url, json={"description": "x"}, headers=headers), 403, "forbidden"
        )
        assert_error(client.delete(url, headers=headers), 403, "forbidden")
        assert_error(client.put(f"{url}/file", data=model_bytes, headers=headers), 403, "forbidden")
        assert_error(client.get(f"{url}/file", headers=headers), 403, "forbidden")
    assert client.get(url, headers=auth("viewer")).json["description"] == model.get("description")


def test_validation_errors_are_400_with_fields(client, auth, make_model):
    error = assert_error(
        client.post("/api/v1/models", json={"type": "magic"}, headers=auth()),
        400,
        "validation_error",
    )
    assert set(error["details"]) >= {"name", "type"}
    error = assert_error(
        client.post("/api/v1/models", json={"name": "x", "bogus": 1}, headers=auth()),
        400,
        "validation_error",
    )
    assert "bogus" in error["details"]
    error = assert_error(
        client.post(
            "/api/v1/models", data="{not json", content_type="application/json", headers=auth()
        ),
        400,
        "validation_error",
    )
    error = assert_error(
        client.get("/api/v1/models", query_string={"per_page": 500}, headers=auth()),
        400,
        "validation_error",
    )
    assert "per_page" in error["details"]
    model = make_model()
    error = assert_error(
        client.patch(f"/api/v1/models/{model['id']}", json={"version": "one"}, headers=auth()),
        400,
        "validation_error",
    )
    assert "version" in error["details"]


def test_unsupported_media_type_is_415(client, auth, make_model):
    assert_error(
        client.post("/api/v1/models", data="name=x", content_type="text/plain", headers=auth()),
        415,
        "unsupported_media_type",
    )
    model = make_model()
    assert_error(
        client.patch(f"/api/v1/models/{model['id']}", data={"description": "x"}, headers=auth()),
        415,
        "unsupported_media_type",
    )


def test_request_id_is_echoed_or_made(client, auth, caplog):
    response = client.get("/api/v1/models", headers=auth(**{"X-Request-ID": "req-42.abc"}))
    assert response.headers["X-Request-ID"] == "req-42.abc"
    response = client.get("/api/v1/models", headers={"X-Request-ID": "bad id\x01<script>"})
    assert len(response.headers["X-Request-ID"]) == 32
    assert response.headers["X-Request-ID"] != "bad id"
    assert len(client.get("/api/v1/health").headers["X-Request-ID"]) == 32


def test_multipart_create_and_download_same_bytes(client, auth, model_bytes, unique):
    name = unique("iris")
    response = multipart_create(
        client, auth(), {"name": name, "type": "classification"}, model_bytes, "my model.joblib"
    )
    assert response.status_code == 201, response.json
    model = response.json
    assert model["status"] == "ready"
    assert model["file"]["filename"] == "my_model.joblib"
    assert model["file"]["size"] == len(model_bytes)
    assert model["file"]["format"] == "joblib"
    assert "artifact_id" not in model["file"]

    download = client.get(f"/api/v1/models/{model['id']}/file", headers=auth("admin"))
    assert download.status_code == 200
    assert download.data == model_bytes
    assert download.headers["Content-Length"] == str(len(model_bytes))
    assert download.headers["Content-Disposition"].startswith(
        'attachment; filename="my_model.joblib"'
    )


def test_text_named_joblib_is_422_and_leaves_nothing(client, auth, app, unique):
    name = unique("fake")
    response = multipart_create(
        client, auth(), {"name": name}, b"just some text\n" * 50, "model.joblib"
    )
    error = assert_error(response, 422, "invalid_model_file")
    assert error["message"]
    assert count_models(client, auth, name) == 0
    files = app.extensions["gateway"].store().files
    assert files.count_documents({}) == 0


def test_put_file_raw_body_sanitises_the_name(client, auth, make_model, model_bytes):
    model = make_model()
    response = client.put(
        f"/api/v1/models/{model['id']}/file",
        data=model_bytes,
        headers=auth(
            **{"X-Filename": "../../etc/passwd", "Content-Type": "application/octet-stream"}
        ),
    )
    assert response.status_code == 200, response.json
    assert response.json["file"]["filename"] == "etc_passwd"
    assert response.json["status"] == "ready"
    download = client.get(f"/api/v1/models/{model['id']}/file", headers=auth())
    assert download.data == model_bytes
    assert 'filename="etc_passwd"' in download.headers["Content-Disposition"]

    # replace it with a multipart upload: the part's file name is the name
    response = client.put(
        f"/api/v1/models/{model['id']}/file",
        headers=auth(),
        data={"file": (io.BytesIO(model_bytes), "v2.joblib")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200 and response.json["file"]["filename"] == "v2.joblib"


def test_put_file_errors(client, auth, make_model):
    model = make_model()
    url = f"/api/v1/models/{model['id']}/file"
    assert_error(client.put(url, headers=auth()), 400, "validation_error")
    assert_error(
        client.put(url, data={"other": "x"}, content_type="multipart/form-data", headers=auth()),
        400,
        "validation_error",
    )
    assert_error(
        client.put(
            "/api/v1/models/0123456789abcdef01234567/file", data=b"\x80\x04", headers=auth()
        ),
        404,
        "not_found",
    )
    error = assert_error(
        client.put(url, data=b"#!/bin/sh\nrm -rf /\n", headers=auth(**{"X-Filename": "evil.pkl"})),
        422,
        "invalid_model_file",
    )
    assert error["code"] == "invalid_model_file"
    assert client.get(f"/api/v1/models/{model['id']}", headers=auth()).json["file"] is None


def test_oversize_upload_is_413_and_leaves_nothing(client, auth, app, make_model, unique):
    big = b"\x80\x04" + b"0" * int(1.5 * 1024 * 1024)  # MAX_UPLOAD_MB is 1 in this app
    model = make_model()
    assert_error(
        client.put(
            f"/api/v1/models/{model['id']}/file",
            data=big,
            headers=auth(**{"X-Filename": "big.pkl"}),
        ),
        413,
        "payload_too_large",
    )
    just_over = b"\x80\x04" + b"0" * (1024 * 1024)  # over the file limit, under the envelope's
    assert_error(
        client.put(
            f"/api/v1/models/{model['id']}/file",
            data=just_over,
            headers=auth(**{"X-Filename": "big.pkl"}),
        ),
        413,
        "payload_too_large",
    )
    name = unique("big")
    assert_error(
        multipart_create(client, auth(), {"name": name}, just_over, "big.pkl"),
        413,
        "payload_too_large",
    )
    assert count_models(client, auth, name) == 0
    huge = b"0" * (3 * 1024 * 1024)
    assert_error(
        multipart_create(client, auth(), {"name": name}, huge, "big.pkl"), 413, "payload_too_large"
    )
    assert app.extensions["gateway"].store().files.count_documents({}) == 0


def test_delete_while_deployed_is_409(client, auth, make_model):
    model = make_model()
    StubDeployer.active[model["id"]] = [{"id": "d1", "name": "nightly", "status": "active"}]
    try:
        assert_error(
            client.delete(f"/api/v1/models/{model['id']}", headers=auth()), 409, "conflict"
        )
    finally:
        StubDeployer.active.pop(model["id"], None)
    assert client.delete(f"/api/v1/models/{model['id']}", headers=auth()).status_code == 204


def test_me(client, auth):
    response = client.get("/api/v1/me", headers=auth("business-user", username="bianca"))
    assert response.status_code == 200
    assert response.json == {
        "username": "bianca",
        "email": "bianca@example.org",
        "first_name": "Bianca",
        "last_name": "Test",
        "roles": ["business-user"],
    }


def test_health_reports_each_service(registry, service_config, token_issuer):
    observability = next(d for d in registry.dependencies if isinstance(d, Observability))
    app = create_app(
        gateway_config(
            service_config,
            token_issuer,
            REGISTRY_METRICS_PORT=observability.port,
            DEPLOYER_METRICS_PORT=1,
            RUNNER_METRICS_PORT=1,
            SCHEDULER_METRICS_PORT=1,
            ADMIN_METRICS_PORT=1,
            REPORTING_METRICS_PORT=1,
        )
    )
    response = app.test_client().get("/api/v1/health")
    assert response.status_code == 200
    assert response.json["status"] == "degraded"
    assert response.json["services"] == {
        "auth": "ok",
        "registry": "ok",
        "deployer": "unreachable",
        "runner": "unreachable",
        "scheduler": "unreachable",
        "admin": "unreachable",
        "reporting": "unreachable",
    }


def test_openapi_and_docs(client):
    spec = client.get("/api/v1/openapi.json")
    assert spec.status_code == 200
    paths = spec.json["paths"]
    assert {
        "/api/v1/models",
        "/api/v1/models/{model_id}",
        "/api/v1/models/{model_id}/file",
        "/api/v1/models/{model_id}/versions",
        "/api/v1/me",
        "/api/v1/health",
    } <= set(paths)
    file_schema = spec.json["components"]["schemas"]["ModelFile"]["properties"]
    assert "artifact_id" not in file_schema and "sha256" in file_schema
    listing = paths["/api/v1/models"]["get"]
    assert "400" in listing["responses"] and "422" not in listing["responses"]
    assert {"401", "403", "200"} <= set(listing["responses"])
    assert listing["security"] == [{"bearerAuth": []}]
    assert {p["name"] for p in listing["parameters"]} >= {"q", "tag", "page", "per_page", "sort"}
    assert set(paths["/api/v1/models"]["post"]["requestBody"]["content"]) == {
        "application/json",
        "multipart/form-data",
    }
    assert "security" not in paths["/api/v1/health"]["get"]
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200 and b"swagger-ui" in docs.data
    asset = client.get("/api/v1/docs/static/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.data) > 100_000


def test_every_api_view_is_protected(app):
    assert unprotected_views(app) == []


def test_metrics_count_requests(client, auth):
    client.get("/api/v1/models", headers=auth())
    text = client.get("/metrics").get_data(as_text=True)
    assert 'ml_gateway_requests_total{endpoint="/api/v1/models",method="GET",status="200"}' in text
    assert "ml_gateway_request_latency_seconds_bucket" in text


# -- backing service down ---------------------------------------------------------


def test_registry_not_running_is_503_quickly(
    rabbit_config, mongo_uri, mongo_db, token_issuer, issue_token
):
    config = {
        "AMQP_URI": rabbit_config["AMQP_URI"],
        "MONGO_URI": mongo_uri,
        "MONGO_DB": mongo_db.name,
    }
    app = create_app(gateway_config(config, token_issuer, RPC_TIMEOUT_S=1))
    headers = {"Authorization": f"Bearer {issue_token('ann', ['viewer'])}"}
    started = time.monotonic()
    error = assert_error(
        app.test_client().get("/api/v1/models", headers=headers), 503, "service_unavailable"
    )
    assert time.monotonic() - started < 3
    assert "registry" in error["message"] and error["details"] == {"service": "registry"}
    app.extensions["gateway"].close()


def test_registry_stopped_times_out_to_503(registry, service_config, token_issuer, issue_token):
    app = create_app(gateway_config(service_config, token_issuer, RPC_TIMEOUT_S=1))
    client = app.test_client()
    headers = {"Authorization": f"Bearer {issue_token('ann', ['viewer'])}"}
    assert client.get("/api/v1/models", headers=headers).status_code == 200
    registry.stop()  # its queue stays: requests wait for a consumer that never comes
    started = time.monotonic()
    assert_error(client.get("/api/v1/models", headers=headers), 503, "service_unavailable")
    assert time.monotonic() - started < 3
    # the lease that timed out was replaced: the next call still answers (503, not a crash)
    assert_error(client.get("/api/v1/models", headers=headers), 503, "service_unavailable")
    app.extensions["gateway"].close()


def test_broker_unreachable_is_503(token_issuer, issue_token, mongo_uri, mongo_db):
    config = {
        "AMQP_URI": "amqp://guest:guest@127.0.0.1:1/",
        "MONGO_URI": mongo_uri,
        "MONGO_DB": mongo_db.name,
    }
    app = create_app(gateway_config(config, token_issuer, RPC_TIMEOUT_S=1))
    headers = {"Authorization": f"Bearer {issue_token('ann', ['viewer'])}"}
    started = time.monotonic()
    assert_error(
        app.test_client().get("/api/v1/models", headers=headers), 503, "service_unavailable"
    )
    # RPC_TIMEOUT_S, plus at most 3 s the first request waits for the revocation list.
    assert time.monotonic() - started < 8


def test_caller_identity_and_request_id_travel_in_context_data(app):
    with app.test_request_context(headers={"X-Request-ID": "trace-77"}):
        app.preprocess_request()  # assigns the request id
        from flask import g

        g.principal = Principal("zoe", roles=("admin", "viewer"))
        assert gateway_rpc("deployer", "whoami") == {
            "request_id": "trace-77",
            "username": "zoe",
            "roles": ["admin", "viewer"],
        }


def test_a_lease_whose_connection_died_while_idle_is_replaced(client, auth, app):
    assert client.get("/api/v1/models", headers=auth()).status_code == 200
    pool = app.extensions["gateway"].rpc
    lease = pool._idle.get_nowait()
    # what a broker restart does to an idle lease's connection
    lease.connection.connection.sock.shutdown(2)
    assert not lease.alive()
    pool._idle.put(lease)
    response = client.get("/api/v1/models", headers=auth())
    assert response.status_code == 200, response.json
    # checked before publishing: after a broker restart the old reply queue is gone, so a
    # request sent from that proxy would run but its reply would be lost (a false 503)
    fresh = pool._idle.get_nowait()
    assert fresh is not lease and fresh.alive()
    assert pool._open == 1


def test_facets_list_the_values_present_for_the_filters(client, auth, make_model, unique):
    department, region = unique("Dépt"), unique("Région")
    make_model(department=department, region=region)
    make_model(department=department, region=None)
    response = client.get("/api/v1/models/facets", headers=auth("viewer"))
    assert response.status_code == 200, response.json
    facets = response.json
    assert set(facets) == {"department", "region", "status", "type", "framework"}
    assert facets["department"].count(department) == 1  # distinct
    assert region in facets["region"] and None not in facets["region"]
    assert "draft" in facets["status"] and facets["status"] == sorted(facets["status"])
    assert client.get("/api/v1/models/facets").status_code == 401
