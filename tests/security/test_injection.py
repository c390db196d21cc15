"""Injection in filters, sort keys and bodies (OWASP API8/API10 for a MongoDB-wire
store): operators in query strings and JSON, regex metacharacters in ``q``, unknown
sort keys. Nothing is evaluated: a 400 naming the parameter, or a literal match."""

from __future__ import annotations

import time
import uuid

import pytest
import requests

from shared.testing.security import ZERO_ID

pytestmark = pytest.mark.security

LISTS = ("/models", "/deployments", "/executions")
SORTS = ("$where", "password", "-nope", "name;drop", "{\"$gt\":1}", "created_at,$natural",
         "a" * 100)


@pytest.fixture(scope="module")
def ds(token_issuer):
    return {"Authorization": f"Bearer {token_issuer.issue_token('ds', ['data-scientist'])}"}


@pytest.mark.parametrize("body, field", [
    ({"name": {"$gt": ""}}, "name"),
    ({"name": "m", "department": {"$ne": None}}, "department"),
    ({"name": "m", "tags": [{"$gt": ""}]}, "tags"),
    ({"name": "m", "parameters": {"$where": "sleep(10000)"}}, "parameters"),
    ({"name": "m", "parameters": {"a": {"$regex": ".*"}}}, "parameters"),
    ({"name": "m", "metrics": {"$inc": 1}}, "metrics"),
    ({"name": "m", "version": {"$exists": True}}, "version"),
])
def test_operators_in_json_bodies_are_400(client, ds, body, field):
    response = client.post("/api/v1/models", json=body, headers=ds)
    payload = response.get_json()
    assert response.status_code == 400 and field in payload["error"]["details"], payload


@pytest.mark.parametrize("body, field", [
    ({"name": "d", "model_id": {"$ne": None}}, "model_id"),
    ({"name": "d", "model_id": "m", "schedule": {"$gt": ""}}, "schedule"),
    ({"name": "d", "model_id": "m", "timezone": ["UTC"]}, "timezone"),
])
def test_operators_in_deployment_bodies_are_400(client, ds, body, field):
    response = client.post("/api/v1/deployments", json=body, headers=ds)
    assert response.status_code == 400 and field in response.get_json()["error"]["details"]


# -- on the platform: the filters match literally ----------------------------------


@pytest.fixture
def literal_model(stack, role_tokens):
    token = role_tokens["data-scientist"]
    name = f"inj-{uuid.uuid4().hex[:8]}"
    created = requests.post(stack.api("/models"), headers=stack.auth(token), timeout=30,
                            json={"name": name, "description": "a (b) [c] .* $x",
                                  "department": "Finance"})
    assert created.status_code == 201, created.text
    return created.json()


FILTERS = {"/models": ("department", "region", "status", "type", "tag"),
           "/deployments": ("department", "region", "status", "model_id"),
           "/executions": ("deployment_id", "model_id", "status", "created_by")}
OPERATOR = '{"$ne": null}'


@pytest.mark.e2e
@pytest.mark.parametrize("path", LISTS)
def test_operator_shaped_query_strings_do_not_widen_a_filter(stack, role_tokens, path):
    """``field[$ne]=x`` is no filter syntax here (an unknown parameter, ignored), and
    ``field={"$ne": null}`` is a literal string: it matches nothing or is a 400."""
    auth = stack.auth(role_tokens["viewer"])
    everything = requests.get(stack.api(path), headers=auth, timeout=30).json()["total"]
    for name in FILTERS[path]:
        for params in ({f"{name}[$ne]": "x"}, {f"{name}[$gt]": ""}):
            response = requests.get(stack.api(path), params=params, headers=auth, timeout=30)
            assert response.status_code in (200, 400), (path, params, response.text)
            if response.status_code == 200:
                assert response.json()["total"] == everything  # not a filter at all
        response = requests.get(stack.api(path), params={name: OPERATOR}, headers=auth,
                                timeout=30)
        assert response.status_code in (200, 400), (path, name, response.text)
        if response.status_code == 200:
            assert response.json()["total"] == 0, (path, name)
        else:
            assert name in response.json()["error"]["details"]


@pytest.mark.e2e
@pytest.mark.parametrize("path", LISTS)
def test_unknown_sort_keys_on_the_platform(stack, role_tokens, path):
    auth = stack.auth(role_tokens["viewer"])
    for sort in SORTS:
        response = requests.get(stack.api(path), params={"sort": sort}, headers=auth,
                                timeout=30)
        assert response.status_code == 400, (path, sort, response.text)
        assert "sort" in response.json()["error"]["details"]


@pytest.mark.e2e
def test_regex_metacharacters_in_q_match_literally_and_fast(stack, role_tokens, literal_model):
    auth = stack.auth(role_tokens["viewer"])
    for path in ("/models", "/deployments"):
        for q in (".*", "^", "$", "(a+)+$", "[", "\\", "(?i)", "a{1000000}", "*", "|"):
            began = time.monotonic()
            response = requests.get(stack.api(path), params={"q": q}, headers=auth, timeout=30)
            assert response.status_code == 200, (path, q, response.text)
            assert time.monotonic() - began < 10
            names = [m["name"] for m in response.json()["items"]]
            if q in (".*", "^", "$", "|"):
                assert all(q in (m.get("description") or "") + m["name"]
                           for m in response.json()["items"]), (q, names)
    found = requests.get(stack.api("/models"), params={"q": ".*"}, headers=auth,
                         timeout=30).json()
    assert literal_model["id"] in [m["id"] for m in found["items"]]


@pytest.mark.e2e
def test_operator_shaped_ids_are_404(stack, role_tokens):
    auth = stack.auth(role_tokens["viewer"])
    for raw in ("%7B%22%24ne%22%3Anull%7D", ".*", "$where", ZERO_ID[:-1] + "g", "a" * 500):
        for path in ("/models/", "/deployments/", "/executions/"):
            response = requests.get(stack.api(path + raw), headers=auth, timeout=30)
            assert response.status_code == 404, (path, raw, response.text)
