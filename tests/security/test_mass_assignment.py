"""Mass assignment (OWASP API3 / API6): no writable schema lets a client set what the
server owns. API.md lists, per resource, what a client sends; the platform REFUSES
(400 ``validation_error`` naming the field) anything else in a JSON body, so a typo
is not silently dropped either. The server-owned fields come from the OpenAPI
document itself (response properties that the request schema does not have)."""

from __future__ import annotations

import json
import uuid

import pytest
import requests
from nameko.standalone.rpc import ClusterRpcProxy

from services.gateway.app import create_app
from shared.errors import ValidationError
from shared.testing.security import ZERO_ID, is_envelope

pytestmark = pytest.mark.security

_SPEC = create_app({"OIDC_ISSUER": "http://127.0.0.1:9/realms/x"}).test_client().get(
    "/api/v1/openapi.json").get_json()

#: Names a client might try whatever the schema says (ids, owners, files, operators).
ALWAYS_TRIED = ("id", "_id", "created_by", "created_at", "updated_at", "file", "sha256",
                "artifact_id", "owner", "roles", "role", "status_code", "$set", "__proto__")

#: A body each writable operation accepts (the attack adds one field to it).
VALID = {
    ("POST", "/api/v1/models"): {"name": "mass"},
    ("PATCH", "/api/v1/models/{model_id}"): {"description": "x"},
    ("POST", "/api/v1/deployments"): {"name": "mass", "model_id": ZERO_ID},
    ("PATCH", "/api/v1/deployments/{deployment_id}"): {"description": "x"},
    ("POST", "/api/v1/models/{model_id}/executions"): {"input": {"rows": [{"a": 1}]}},
    ("POST", "/api/v1/deployments/{deployment_id}/executions"): {"parameters": {}},
    ("POST", "/api/v1/deployments/{deployment_id}/predict"): {"instances": [{"a": 1}]},
    ("PUT", "/api/v1/admin/settings"): {"retention_days": 30},
    ("POST", "/api/v1/admin/restore"): {"backup_id": ZERO_ID},
    ("POST", "/api/v1/integrations"): {"name": "mass", "url": "http://127.0.0.1:9/hook",
                                      "events": ["model_created"]},
    ("PATCH", "/api/v1/integrations/{integration_id}"): {"active": False},
    ("POST", "/api/v1/users"): {"username": "mass", "role": "viewer",
                               "password": "long-enough-1"},
    ("PATCH", "/api/v1/users/{user_id}"): {"first_name": "x"},
    ("POST", "/api/v1/users/{user_id}/reset-password"): {"password": "long-enough-1"},
}
#: Operations only an admin may call (attacked with an admin's token, so that the
#: body is checked and not refused earlier with a 403).
ADMIN_PREFIXES = ("/api/v1/admin/", "/api/v1/integrations", "/api/v1/users")


def _props(schema: dict) -> set[str]:
    if "$ref" in schema:
        schema = _SPEC["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return set(schema.get("properties", {}))


def writable_operations():
    for path, operations in _SPEC["paths"].items():
        for method, operation in operations.items():
            if method not in ("post", "put", "patch"):
                continue
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" not in content:
                continue
            request_props = _props(content["application/json"]["schema"])
            response_props: set[str] = set()
            for status in ("200", "201"):
                body = operation["responses"].get(status, {}).get("content", {})
                if "application/json" in body:
                    response_props |= _props(body["application/json"]["schema"])
            owned = (response_props - request_props) | set(ALWAYS_TRIED)
            yield method.upper(), path, sorted(owned - request_props)


OPERATIONS = list(writable_operations())


def test_every_writable_operation_has_a_valid_body_here():
    """A new JSON-writable endpoint must be added to VALID (so it is attacked too)."""
    assert {(m, p) for m, p, _ in OPERATIONS} == set(VALID)


@pytest.fixture(scope="module")
def ds(token_issuer):
    return {"Authorization": f"Bearer {token_issuer.issue_token('ds', ['data-scientist'])}"}


@pytest.fixture(scope="module")
def admin(token_issuer):
    return {"Authorization": f"Bearer {token_issuer.issue_token('root', ['admin'])}"}


@pytest.mark.parametrize("method, path, owned", OPERATIONS, ids=lambda v: str(v)[:60])
def test_server_owned_and_unknown_fields_are_refused_by_name(client, ds, admin, method, path,
                                                            owned):
    url = path
    for name in ("model_id", "deployment_id", "integration_id", "user_id"):
        url = url.replace("{" + name + "}", ZERO_ID)
    headers = admin if path.startswith(ADMIN_PREFIXES) else ds
    assert owned, path
    for field in owned:
        body = {**VALID[(method, path)], field: "x"}
        response = client.open(url, method=method, json=body, headers=headers)
        payload = response.get_json()
        assert response.status_code == 400, (field, payload)
        assert is_envelope(payload) and field in payload["error"]["details"], (field, payload)


def test_multipart_metadata_is_the_same_schema(client, ds):
    for field in ("id", "file", "created_by", "sha256"):
        response = client.post("/api/v1/models", headers=ds, content_type="multipart/form-data",
                               data={"metadata": json.dumps({"name": "m", field: "x"})})
        assert response.status_code == 400 and field in response.get_json()["error"]["details"]


# -- on the platform: nothing changes, and the services refuse it too ---------------


@pytest.mark.e2e
def test_nothing_server_owned_changes_through_the_api(stack, role_tokens, platform_objects):
    auth = stack.auth(role_tokens["data-scientist"])
    ids = platform_objects
    model_url = stack.api(f"/models/{ids['model_id']}")
    deployment_url = stack.api(f"/deployments/{ids['deployment_id']}")
    model_before = requests.get(model_url, headers=auth, timeout=30).json()
    deployment_before = requests.get(deployment_url, headers=auth, timeout=30).json()
    attempts = [
        (model_url, {"file": {"sha256": "0" * 64, "artifact_id": ZERO_ID}}),
        (model_url, {"created_by": "admin"}),
        (model_url, {"id": ZERO_ID}),
        (deployment_url, {"status": "active"}),
        (deployment_url, {"department": "RH", "region": "Asie"}),
        (deployment_url, {"created_by": "admin", "history": []}),
        (deployment_url, {"input": {"artifact_id": ZERO_ID}}),
    ]
    for url, body in attempts:
        response = requests.patch(url, json=body, headers=auth, timeout=30)
        assert response.status_code == 400, (body, response.text)
        assert set(body) <= set(response.json()["error"]["details"]), response.text
    assert requests.get(model_url, headers=auth, timeout=30).json() == model_before
    after = requests.get(deployment_url, headers=auth, timeout=30).json()
    assert {k: v for k, v in after.items() if k != "next_run_at"} == \
        {k: v for k, v in deployment_before.items() if k != "next_run_at"}


@pytest.mark.e2e
def test_a_run_cannot_claim_its_outcome_or_trigger(stack, role_tokens, platform_objects):
    """JSON: refused. Multipart form fields other than ``parameters``/``trigger``/``file``
    are not part of the run (ignored); ``trigger`` only takes the client triggers."""
    auth = stack.auth(role_tokens["business-user"])
    url = stack.api(f"/deployments/{platform_objects['deployment_id']}/executions")
    for body in ({"status": "succeeded"}, {"trigger": "schedule"}, {"created_by": "admin"},
                 {"result": {"rows": 1}}):
        assert requests.post(url, json=body, headers=auth, timeout=30).status_code == 400
    response = requests.post(url, headers=auth, timeout=30,
                             files={"status": (None, "succeeded"), "created_by": (None, "admin")})
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["status"] in ("queued", "running") and created["trigger"] == "manual"
    assert created["created_by"] == "business"
    refused = requests.post(url, headers=auth, timeout=30, files={"trigger": (None, "schedule")})
    assert refused.status_code == 400


@pytest.mark.e2e
def test_the_services_refuse_server_owned_fields_over_rpc(stack):
    with ClusterRpcProxy({"AMQP_URI": stack.amqp_uri}, timeout=30) as rpc:
        name = f"rpc-mass-{uuid.uuid4().hex[:6]}"
        for field, value in (("id", ZERO_ID), ("file", {"sha256": "0" * 64}),
                             ("created_by", "admin"), ("created_at", "2020-01-01")):
            with pytest.raises(ValidationError) as exc:
                rpc.registry.create_model({"name": name, field: value})
            assert field in exc.value.details
        for field in ("status", "history", "created_by", "department"):
            with pytest.raises(ValidationError) as exc:
                rpc.deployer.create_deployment({"name": name, "model_id": ZERO_ID, field: "x"})
            assert field in exc.value.details
