"""Resources of a run through the gateway (JSON and multipart), the 400 envelope naming
the field and the ceiling, and ``GET /resource-limits`` for every role. Real runner,
fake registry and deployer (shared.testing.runner)."""

from __future__ import annotations

import io

import pytest

from shared.testing.gateway import gateway_app, gateway_config
from shared.testing.runner import FEATURES, iris_frame

pytestmark = pytest.mark.service
pytest_plugins = ["shared.testing.runner"]

ROW = dict.fromkeys(FEATURES, 1.0)


@pytest.fixture
def client(runner, runner_config, token_issuer):
    with gateway_app(gateway_config(runner_config, token_issuer, RPC_TIMEOUT_S=15)) as app:
        yield app.test_client()


def test_resource_limits_are_readable_by_every_role(client, auth):
    for role in ("viewer", "business-user", "data-scientist", "admin"):
        response = client.get("/api/v1/resource-limits", headers=auth(role))
        assert response.status_code == 200, (role, response.json)
        assert response.json == {"min_memory_mb": 64, "max_memory_mb": 2048,
                                 "default_memory_mb": 2048, "min_timeout_s": 1,
                                 "max_timeout_s": 604800, "default_timeout_s": 3600}
    assert client.get("/api/v1/resource-limits").status_code == 401


def test_a_run_takes_its_resources_in_json_and_multipart(client, auth, make_model):
    model = make_model()
    headers = auth("business-user")
    response = client.post(f"/api/v1/models/{model['id']}/executions", headers=headers,
                           json={"input": {"rows": [ROW]}, "memory_mb": 1024, "timeout_s": 60})
    assert response.status_code == 201, response.json
    assert response.json["resources"] == {"memory_mb": 1024, "timeout_s": 60}
    assert set(response.json["usage"]) == {"peak_memory_mb", "rows", "rows_per_second",
                                           "duration_s"}

    x, _ = iris_frame()
    response = client.post(
        f"/api/v1/models/{model['id']}/executions", headers=headers,
        content_type="multipart/form-data",
        data={"file": (io.BytesIO(x.to_csv(index=False).encode()), "iris.csv"),
              "memory_mb": "700", "timeout_s": "30"})
    assert response.status_code == 201, response.json
    assert response.json["resources"] == {"memory_mb": 700, "timeout_s": 30}


@pytest.mark.parametrize("body, field, words", [
    ({"memory_mb": 4096}, "memory_mb", "at most 2048 MB (the ceiling max_memory_mb"),
    ({"timeout_s": 10**7}, "timeout_s", "the ceiling max_execution_timeout_s"),
    ({"memory_mb": 10}, "memory_mb", "at least 64 MB"),
    ({"memory_mb": 1.5}, "memory_mb", "integer"),
    ({"timeout_s": "soon"}, "timeout_s", "integer"),
])
def test_bad_resources_are_a_400_naming_the_field(client, auth, make_model, body, field,
                                                  words):
    model = make_model()
    response = client.post(f"/api/v1/models/{model['id']}/executions",
                           headers=auth("data-scientist"),
                           json={"input": {"rows": [ROW]}, **body})
    assert response.status_code == 400, response.json
    error = response.json["error"]
    assert error["code"] == "validation_error"
    assert field in error["details"], error
    assert words.lower() in " ".join(error["details"][field]).lower(), error


def test_a_bad_multipart_resource_names_the_field(client, auth, make_model):
    model = make_model()
    response = client.post(
        f"/api/v1/models/{model['id']}/executions", headers=auth("data-scientist"),
        content_type="multipart/form-data",
        data={"file": (io.BytesIO(b"a\n1\n"), "x.csv"), "memory_mb": "beaucoup"})
    assert response.status_code == 400, response.json
    assert "memory_mb" in response.json["error"]["details"]
