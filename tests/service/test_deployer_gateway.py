"""The Deployments endpoints over HTTP (Flask test client) with every role, against the
real deployer (nameko container) and a fake registry, on the real broker and database."""

from __future__ import annotations

import io
import json

import pytest

from services.deployer.service import DeployerService
from shared.testing.deployer import FakeRegistry, make_model
from shared.testing.gateway import gateway_app, gateway_config

pytestmark = pytest.mark.service

ROLES = ("admin", "data-scientist", "business-user", "viewer")


@pytest.fixture
def client(container_factory, service_config, token_issuer):
    for cls in (DeployerService, FakeRegistry):
        container_factory(cls, service_config).start()
    with gateway_app(gateway_config(service_config, token_issuer)) as app:
        yield app.test_client()


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, (response.status_code, response.get_data(True))
    assert response.json["error"]["code"] == code
    return response.json["error"]


def test_deployments_api_flow(client, auth, unique):
    model = make_model(unique)
    body = {
        "name": unique("dep"),
        "model_id": model["id"],
        "parameters": {"threshold": 0.7},
        "schedule": "30 2 * * *",
        "timezone": "Europe/Paris",
        "description": "nightly",
    }

    assert_error(client.post("/api/v1/deployments", json=body), 401, "unauthorized")
    for role in ("viewer", "business-user"):
        assert_error(
            client.post("/api/v1/deployments", json=body, headers=auth(role)), 403, "forbidden"
        )
    created = client.post("/api/v1/deployments", json=body, headers=auth())
    assert created.status_code == 201, created.json
    dep = created.json
    assert dep["status"] == "inactive" and dep["created_by"] == "data-scientist-user"
    assert dep["department"] == "finance" and dep["model"]["name"] == model["name"]
    dep_id = dep["id"]

    bad = client.post(
        "/api/v1/deployments", json={**body, "schedule": "0 25 * * *"}, headers=auth()
    )
    assert "schedule" in assert_error(bad, 400, "validation_error")["details"]
    bad = client.post(
        "/api/v1/deployments", json={**body, "timezone": "Paris"}, headers=auth("admin")
    )
    assert "timezone" in assert_error(bad, 400, "validation_error")["details"]
    draft = make_model(unique, status="draft")
    assert_error(
        client.post("/api/v1/deployments", json={**body, "model_id": draft["id"]}, headers=auth()),
        409,
        "conflict",
    )

    for role in ROLES:  # everyone reads
        got = client.get(f"/api/v1/deployments/{dep_id}", headers=auth(role))
        assert got.status_code == 200 and got.json["id"] == dep_id
        listed = client.get(
            "/api/v1/deployments",
            headers=auth(role),
            query_string={"q": body["name"].upper(), "status": "inactive"},
        )
        assert listed.status_code == 200 and [d["id"] for d in listed.json["items"]] == [dep_id]
        preview = client.get(
            f"/api/v1/deployments/{dep_id}/schedule/preview",
            headers=auth(role),
            query_string={"count": 3},
        )
        assert preview.status_code == 200
        assert preview.json["timezone"] == "Europe/Paris" and len(preview.json["next_runs"]) == 3
        assert {"utc", "local"} <= set(preview.json["next_runs"][0])
    assert (
        len(
            client.get(f"/api/v1/deployments/{dep_id}/schedule/preview", headers=auth()).json[
                "next_runs"
            ]
        )
        == 5
    )
    assert_error(
        client.get(
            f"/api/v1/deployments/{dep_id}/schedule/preview",
            headers=auth(),
            query_string={"count": 101},
        ),
        400,
        "validation_error",
    )
    assert_error(client.get("/api/v1/deployments/nope", headers=auth()), 404, "not_found")

    # the creation form previews an expression before the deployment exists
    preview_url = "/api/v1/deployments/schedule/preview"
    query = {"schedule": "30 2 * * *", "timezone": "Europe/Paris", "count": 2}
    assert_error(client.get(preview_url, query_string=query), 401, "unauthorized")
    for role in ROLES:
        typed = client.get(preview_url, headers=auth(role), query_string=query)
        assert typed.status_code == 200, typed.json
        assert typed.json["timezone"] == "Europe/Paris" and len(typed.json["next_runs"]) == 2
        assert "T02:30:00+0" in typed.json["next_runs"][0]["local"]
    assert client.get(
        preview_url, headers=auth(), query_string={"schedule": "0 6 * * *"}
    ).json["timezone"] == "UTC"
    for bad_query, field in (
        ({"schedule": "0 25 * * *"}, "schedule"),
        ({}, "schedule"),
        ({"schedule": "0 6 * * *", "timezone": "Paris"}, "timezone"),
        ({"schedule": "0 6 * * *", "count": 0}, "count"),
    ):
        bad = client.get(preview_url, headers=auth(), query_string=bad_query)
        assert field in assert_error(bad, 400, "validation_error")["details"], bad_query

    for role in ("viewer", "business-user"):
        h = auth(role)
        assert_error(
            client.post(f"/api/v1/deployments/{dep_id}/start", headers=h), 403, "forbidden"
        )
        assert_error(client.post(f"/api/v1/deployments/{dep_id}/stop", headers=h), 403, "forbidden")
        assert_error(
            client.patch(f"/api/v1/deployments/{dep_id}", json={"name": "x"}, headers=h),
            403,
            "forbidden",
        )
        assert_error(client.delete(f"/api/v1/deployments/{dep_id}", headers=h), 403, "forbidden")
        assert_error(
            client.put(
                f"/api/v1/deployments/{dep_id}/input",
                headers=h,
                data={"file": (io.BytesIO(b"age,income\n1,2\n"), "a.csv")},
                content_type="multipart/form-data",
            ),
            403,
            "forbidden",
        )

    started = client.post(f"/api/v1/deployments/{dep_id}/start", headers=auth())
    assert started.status_code == 200 and started.json["status"] == "active"
    assert started.json["next_run_at"].endswith("Z")
    patched = client.patch(
        f"/api/v1/deployments/{dep_id}",
        headers=auth("admin"),
        json={"schedule": "0 6 * * 1", "timezone": "UTC"},
    )
    assert patched.status_code == 200
    assert {(h["field"], h["by"]) for h in patched.json["history"]} >= {
        ("schedule", "admin-user"),
        ("timezone", "admin-user"),
    }
    assert patched.json["next_run_at"] != started.json["next_run_at"]

    upload = client.put(
        f"/api/v1/deployments/{dep_id}/input",
        headers=auth(),
        data={"file": (io.BytesIO(b"age,income\n1,2\n3,4\n"), "in.csv")},
        content_type="multipart/form-data",
    )
    assert upload.status_code == 200, upload.json
    assert upload.json["input"]["rows"] == 2 and upload.json["input"]["filename"] == "in.csv"
    assert "artifact_id" not in upload.json["input"]
    raw = client.put(
        f"/api/v1/deployments/{dep_id}/input?filename=in.json",
        headers={**auth(), "Content-Type": "application/json"},
        data=json.dumps([{"age": 1, "income": 2}]),
    )
    assert raw.status_code == 200 and raw.json["input"]["format"] == "json"
    missing = client.put(
        f"/api/v1/deployments/{dep_id}/input",
        headers=auth(),
        data={"file": (io.BytesIO(b"age\n1\n"), "m.csv")},
        content_type="multipart/form-data",
    )
    assert assert_error(missing, 422, "invalid_input_data")["details"]["missing_columns"] == [
        "income"
    ]
    unreadable = client.put(
        f"/api/v1/deployments/{dep_id}/input",
        headers=auth(),
        data={"file": (io.BytesIO(b"PAR1garbage"), "x.parquet")},
        content_type="multipart/form-data",
    )
    assert_error(unreadable, 422, "invalid_input_data")

    stopped = client.post(f"/api/v1/deployments/{dep_id}/stop", headers=auth())
    assert stopped.status_code == 200 and stopped.json["status"] == "inactive"
    assert stopped.json["next_run_at"] is None
    deleted = client.delete(f"/api/v1/deployments/{dep_id}", headers=auth("admin"))
    assert deleted.status_code == 204
    assert_error(client.get(f"/api/v1/deployments/{dep_id}", headers=auth()), 404, "not_found")
