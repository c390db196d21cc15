"""The README's flow, end to end over HTTP against the platform started as `make run`
starts it (the ``stack`` fixture: the launcher on free ports, fresh vhost and database).

A new user: gets a token with the password grant, registers a real scikit-learn
model with its file, finds it by search and filters, downloads the same bytes,
sees the counters on the registry's /metrics; the role matrix holds (viewer 403,
no token 401).
"""

from __future__ import annotations

import hashlib
import io
import json

import pytest
import requests

pytestmark = pytest.mark.e2e

DATASCIENTIST = ("datascientist", "password123")
VIEWER = ("viewer", "password123")


@pytest.fixture(scope="module")
def model_file():
    """A real model: LogisticRegression on iris, trained with a DataFrame, as joblib."""
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True, as_frame=True)
    buffer = io.BytesIO()
    joblib.dump(LogisticRegression(max_iter=300).fit(X, y), buffer)
    return buffer.getvalue()


def create_model(stack, token, name, model_bytes, **overrides):
    metadata = {
        "name": name, "description": "Modèle e2e : espèce d'iris", "version": "1.0.0",
        "type": "classification", "framework": "scikit-learn", "department": "Finance",
        "region": "Asie", "tags": ["e2e", name], **overrides,
    }
    return requests.post(stack.api("/models"), headers=stack.auth(token), timeout=60, files={
        "metadata": (None, json.dumps(metadata), "application/json"),
        "file": (f"{name}.joblib", model_bytes, "application/octet-stream"),
    })


def test_token_from_issuer_with_password_grant(stack):
    response = requests.post(f"{stack.issuer}/protocol/openid-connect/token", data={
        "grant_type": "password", "client_id": "ml-platform-cli",
        "username": DATASCIENTIST[0], "password": DATASCIENTIST[1],
    }, timeout=10)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"].lower() == "bearer"
    me = requests.get(stack.api("/me"), headers=stack.auth(body["access_token"]), timeout=10)
    assert me.status_code == 200, me.text
    assert me.json()["username"] == "datascientist"
    assert "data-scientist" in me.json()["roles"]


def test_wrong_password_gets_no_token(stack):
    response = requests.post(f"{stack.issuer}/protocol/openid-connect/token", data={
        "grant_type": "password", "client_id": "ml-platform-cli",
        "username": "datascientist", "password": "wrong",
    }, timeout=10)
    assert response.status_code in (400, 401)
    assert "access_token" not in response.json()


def test_register_find_and_download_a_model(stack, model_file, unique):
    token = stack.token(*DATASCIENTIST)
    name = unique("e2e-iris")
    created = create_model(stack, token, name, model_file, department="Finance", region="Asie")
    assert created.status_code == 201, created.text
    model = created.json()
    assert model["name"] == name
    assert model["status"] == "ready"
    assert model["created_by"] == "datascientist"
    assert model["file"]["sha256"] == hashlib.sha256(model_file).hexdigest()
    assert model["file"]["size"] == len(model_file)

    headers = stack.auth(token)
    # Search by name and by the filters of the Models page.
    found = requests.get(stack.api("/models"), headers=headers, timeout=10,
                         params={"q": name, "department": "Finance", "region": "Asie"})
    assert found.status_code == 200, found.text
    assert [item["id"] for item in found.json()["items"]] == [model["id"]]
    assert found.json()["total"] == 1
    other_region = requests.get(stack.api("/models"), headers=headers, timeout=10,
                                params={"q": name, "region": "Europe"})
    assert other_region.json()["total"] == 0

    one = requests.get(stack.api(f"/models/{model['id']}"), headers=headers, timeout=10)
    assert one.status_code == 200
    assert one.json()["tags"] == ["e2e", name]

    download = requests.get(stack.api(f"/models/{model['id']}/file"), headers=headers,
                            timeout=30)
    assert download.status_code == 200
    assert hashlib.sha256(download.content).hexdigest() == model["file"]["sha256"]
    assert f"{name}.joblib" in download.headers.get("Content-Disposition", "")


def test_registry_metrics_count_the_requests(stack, model_file, unique):
    token = stack.token(*DATASCIENTIST)
    assert create_model(stack, token, unique("e2e-metrics"), model_file).status_code == 201
    metrics = requests.get(stack.metrics_url("registry"), timeout=10)
    assert metrics.status_code == 200
    counted = [line for line in metrics.text.splitlines()
               if line.startswith("ml_entrypoint_requests_total{")
               and 'service="registry"' in line and 'entrypoint="create_model"' in line
               and 'outcome="success"' in line]
    assert counted, metrics.text[:2000]
    assert float(counted[0].rsplit(" ", 1)[1]) >= 1


def test_health_reports_every_service_ok(stack):
    response = requests.get(stack.api("/health"), timeout=10)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok", body
    for service in ("auth", "registry"):
        assert requests.get(stack.health_url(service), timeout=5).json()["status"] == "ok"


def test_viewer_cannot_create_a_model(stack, model_file, unique):
    response = create_model(stack, stack.token(*VIEWER), unique("e2e-viewer"), model_file)
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "forbidden"
    # The viewer still reads.
    listed = requests.get(stack.api("/models"), headers=stack.auth(stack.token(*VIEWER)),
                          timeout=10)
    assert listed.status_code == 200


def test_no_token_or_bad_token_is_401(stack):
    response = requests.get(stack.api("/models"), timeout=10)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert response.headers.get("X-Request-ID")
    forged = requests.get(stack.api("/models"), timeout=10,
                          headers={"Authorization": "Bearer not.a.token"})
    assert forged.status_code == 401


def test_request_id_is_echoed(stack):
    response = requests.get(stack.api("/health"), headers={"X-Request-ID": "e2e-rid-42"},
                            timeout=10)
    assert response.headers.get("X-Request-ID") == "e2e-rid-42"
