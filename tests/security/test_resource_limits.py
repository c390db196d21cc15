"""Unrestricted resource consumption (OWASP API4): numbers, sizes, counts, nesting,
compression ratios (issue 11, items 1 and 2). What is refused before any service is
asked runs on the offline gateway; what needs the services, on the stack."""

from __future__ import annotations

import io
import json
import pickle
import time
import uuid
import zlib

import pytest
import requests
from nameko.standalone.rpc import ClusterRpcProxy

from shared import limits
from shared.errors import ValidationError
from shared.testing.security import is_envelope

pytestmark = pytest.mark.security

LISTS = ("/api/v1/models", "/api/v1/deployments", "/api/v1/executions")
BAD_PAGES = ["99999999999999999999", "9223372036854775807", "1e17", "0", "-1", "abc", "1.5",
             str(limits.PAGE_MAX + 1)]


def refused(response, status, field=None, code=None):
    body = response.get_json() if hasattr(response, "get_json") else response.json()
    assert response.status_code == status, body
    assert is_envelope(body), body
    if code:
        assert body["error"]["code"] == code, body
    if field:
        assert field in body["error"]["details"], body
    return body


@pytest.fixture(scope="module")
def ds(token_issuer):
    return {"Authorization": f"Bearer {token_issuer.issue_token('ds', ['data-scientist'])}"}


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("page", BAD_PAGES)
def test_page_out_of_range_is_400_naming_page(client, ds, path, page):
    refused(client.get(f"{path}?page={page}&per_page=200", headers=ds), 400, "page",
            "validation_error")


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("per_page", ["0", "201", "99999999999999999999", "x"])
def test_per_page_out_of_range_is_400_naming_per_page(client, ds, path, per_page):
    refused(client.get(f"{path}?per_page={per_page}", headers=ds), 400, "per_page")


@pytest.mark.parametrize("query, field", [
    ("schedule/preview?count=0", "count"), ("schedule/preview?count=101", "count"),
    ("schedule/preview?count=99999999999999999999", "count"),
])
def test_schedule_preview_count(client, ds, query, field):
    refused(client.get(f"/api/v1/deployments/{'0' * 24}/{query}", headers=ds), 400, field)


@pytest.mark.parametrize("query, field", [
    ("after=-1", "after"), ("after=9223372036854775808", "after"), ("after=1e3", "after"),
    ("limit=0", "limit"), ("limit=5001", "limit"),
])
def test_logs_after_and_limit(client, ds, query, field):
    refused(client.get(f"/api/v1/executions/{'0' * 24}/logs?{query}", headers=ds), 400, field)


def _big_json(size: int) -> bytes:
    return json.dumps({"name": "big", "parameters": {"blob": "x" * size}}).encode()


@pytest.mark.parametrize("path, method", [("/api/v1/models", "POST"),
                                          ("/api/v1/deployments", "POST"),
                                          (f"/api/v1/deployments/{'0' * 24}", "PATCH"),
                                          (f"/api/v1/models/{'0' * 24}/executions", "POST")])
def test_a_json_body_over_the_limit_is_413(client, ds, path, method):
    body = _big_json(limits.json_body_max_bytes() + 10)
    refused(client.open(path, method=method, data=body, content_type="application/json",
                        headers=ds), 413, code="payload_too_large")


def test_multipart_metadata_part_over_the_limit_is_413(client, ds):
    big = _big_json(limits.json_body_max_bytes() + 10)
    response = client.post("/api/v1/models", headers=ds, content_type="multipart/form-data",
                           data={"metadata": (io.BytesIO(big), "metadata.json",
                                              "application/json")})
    refused(response, 413, code="payload_too_large")


def test_too_many_multipart_parts_is_413(client, ds):
    data = {f"f{i}": "x" for i in range(1500)}
    refused(client.post("/api/v1/models", headers=ds, data=data,
                        content_type="multipart/form-data"), 413, code="payload_too_large")


def _nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@pytest.mark.parametrize("path, body, field", [
    ("/api/v1/models", {"name": "m", "parameters": {"blob": "x" * 70_000}}, "parameters"),
    ("/api/v1/models", {"name": "m", "metrics": {f"m{i}": 1.0 for i in range(201)}}, "metrics"),
    ("/api/v1/models", {"name": "m", "tags": [f"t{i}" for i in range(51)]}, "tags"),
    ("/api/v1/models", {"name": "m", "tags": ["t" * 51]}, "tags"),
    ("/api/v1/models", {"name": "m", "description": "d" * 5001}, "description"),
    ("/api/v1/models", {"name": "n" * 201}, "name"),
    ("/api/v1/deployments", {"name": "d", "model_id": "m", "parameters": {"b": "x" * 70_000}},
     "parameters"),
    ("/api/v1/deployments", {"name": "d", "model_id": "m", "schedule": "* " * 200},
     "schedule"),
    (f"/api/v1/models/{'0' * 24}/executions", {"parameters": {"b": "x" * 70_000}},
     "parameters"),
    (f"/api/v1/deployments/{'0' * 24}/predict",
     {"instances": [{"a": 1}], "parameters": {"b": "x" * 70_000}}, "parameters"),
    (f"/api/v1/deployments/{'0' * 24}/predict", {"instances": [{"a": 1}] * 10_001},
     "instances"),
])
def test_each_free_form_field_is_bounded(client, ds, path, body, field):
    refused(client.post(path, json=body, headers=ds), 400, field, "validation_error")


@pytest.mark.parametrize("path", ["/api/v1/models", "/api/v1/deployments",
                                  f"/api/v1/models/{'0' * 24}/executions"])
def test_deeply_nested_json_is_400_not_a_crash(client, ds, path):
    for depth in (limits.FREE_FORM_DEPTH_MAX + 5, 100_000):
        body = f'{{"name": "m", "model_id": "m", "parameters": {_nested(depth)}}}'
        response = client.post(path, data=body, content_type="application/json", headers=ds)
        refused(response, 400, code="validation_error")


# -- on the real platform -------------------------------------------------------------


@pytest.mark.e2e
def test_the_reproduced_overflows_are_400_and_the_bounds_still_answer(stack, role_tokens):
    """Issue 11 item 1 as reproduced: these were 500s (8-byte skip overflow)."""
    auth = stack.auth(role_tokens["viewer"])
    for path in ("/models", "/deployments", "/executions"):
        for query in ("page=99999999999999999999", "page=9223372036854775807",
                      "page=1e17&per_page=200"):
            response = requests.get(stack.api(f"{path}?{query}"), headers=auth, timeout=30)
            refused(response, 400, "page")
        last = requests.get(stack.api(f"{path}?page={limits.PAGE_MAX}&per_page=200"),
                            headers=auth, timeout=30)
        assert last.status_code == 200 and last.json()["items"] == []


@pytest.mark.e2e
def test_a_17_mb_parameters_object_is_refused_not_a_500(stack, role_tokens, platform_objects):
    """Issue 11 item 2 as reproduced (the database's 16 MB document limit)."""
    auth = stack.auth(role_tokens["data-scientist"])
    blob = {"blob": "x" * (17 * 1024 * 1024)}
    for method, path, body in (
        ("POST", "/models", {"name": f"big-{uuid.uuid4().hex[:6]}", "parameters": blob}),
        ("POST", "/deployments", {"name": "big", "model_id": platform_objects["model_id"],
                                  "parameters": blob}),
        ("PATCH", f"/deployments/{platform_objects['deployment_id']}", {"parameters": blob}),
    ):
        response = requests.request(method, stack.api(path), json=body, headers=auth,
                                    timeout=60)
        refused(response, 413, code="payload_too_large")
    medium = {"blob": "x" * (limits.parameters_max_bytes() + 1)}
    response = requests.patch(stack.api(f"/deployments/{platform_objects['deployment_id']}"),
                              json={"parameters": medium}, headers=auth, timeout=30)
    refused(response, 400, "parameters")


@pytest.mark.e2e
def test_a_chunked_json_body_is_cut_at_the_limit(stack, role_tokens):
    """No Content-Length to refuse up front: gunicorn streams it and reading stops at
    the limit."""
    body = _big_json(limits.json_body_max_bytes() + 10)

    def chunks():
        for start in range(0, len(body), 256 * 1024):
            yield body[start:start + 256 * 1024]

    response = requests.post(stack.api("/models"), data=chunks(), timeout=60, headers={
        **stack.auth(role_tokens["data-scientist"]), "Content-Type": "application/json"})
    refused(response, 413, code="payload_too_large")


@pytest.mark.e2e
def test_a_direct_rpc_cannot_overflow_either(stack):
    """The services check the same bounds at their RPC boundary."""
    with ClusterRpcProxy({"AMQP_URI": stack.amqp_uri}, timeout=30) as rpc:
        calls = [
            ("page", lambda: rpc.registry.list_models({"page": 2**63})),
            ("page", lambda: rpc.deployer.list_deployments({"page": "99999999999999999999"})),
            ("page", lambda: rpc.runner.list_executions({"page": 10**20, "per_page": 200})),
            ("per_page", lambda: rpc.runner.list_executions({"per_page": 10**6})),
            ("after", lambda: rpc.runner.get_logs("0" * 24, 2**63, 10)),
            ("count", lambda: rpc.deployer.preview_schedule("0" * 24, 10**9)),
            ("parameters", lambda: rpc.registry.create_model(
                {"name": "rpc-big", "parameters": {"b": "x" * 2_000_000}})),
        ]
        for field, call in calls:
            with pytest.raises(ValidationError) as exc:
                call()
            assert field in exc.value.details, (field, exc.value.details)


def _gzip_bomb(inflated: int) -> bytes:
    """A gzip-compressed pickle whose one bytes object inflates to ``inflated`` bytes."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip container
    out = [compressor.compress(b"\x80\x04\x8e" + inflated.to_bytes(8, "little"))]
    chunk = bytes(16 * 1024 * 1024)
    for _ in range(inflated // len(chunk)):
        out.append(compressor.compress(chunk))
    out.append(compressor.compress(b"." + pickle.STOP))
    out.append(compressor.flush())
    return b"".join(out)


@pytest.mark.e2e
def test_a_decompression_bomb_is_refused_and_leaves_no_ready_model(stack, role_tokens):
    """1 MiB on the wire, 1 GiB inflated: refused (422/413), never a 5xx, and no model
    is left ``ready`` without a usable file (the fix itself: hardening-runtime)."""
    auth = stack.auth(role_tokens["data-scientist"])
    bomb = _gzip_bomb(1024 * 1024 * 1024)
    assert len(bomb) < 2 * 1024 * 1024
    name = f"bomb-{uuid.uuid4().hex[:8]}"
    began = time.monotonic()
    response = requests.post(stack.api("/models"), headers=auth, timeout=120, files={
        "metadata": (None, json.dumps({"name": name}), "application/json"),
        "file": ("bomb.joblib", bomb, "application/octet-stream")})
    elapsed = time.monotonic() - began
    assert response.status_code in (413, 422), (response.status_code, response.text, elapsed)
    assert is_envelope(response.json())
    found = requests.get(stack.api(f"/models?q={name}"), headers=auth, timeout=30).json()
    assert [m for m in found["items"] if m["status"] == "ready"] == []
