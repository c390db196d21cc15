"""Fixtures of the security suite.

* ``offline_gateway``: the gateway app (Flask test client) trusting the session's
  ``token_issuer``, with no broker or database behind it (their ports are closed):
  what is refused before any service is asked (401, 403, 400, 413) is tested here,
  fast, with tokens of every kind.
* ``stack`` (shared/testing/stack.py): the real platform under gunicorn, for what
  needs the services; ``role_tokens``: an access token of each demo user's role.
"""

from __future__ import annotations

import pytest

from shared.testing.gateway import gateway_app

#: The launcher's demo users (services/auth), one per role.
DEMO_USERS = {
    "admin": ("admin", "admin123"),
    "data-scientist": ("datascientist", "password123"),
    "business-user": ("business", "password123"),
    "viewer": ("viewer", "password123"),
}

#: The original file name of the model of ``platform_objects``.
HOSTILE_FILENAME = '../../x"; filename=evil.html\r\nX-Injected: 1'

OFFLINE = {
    "AMQP_URI": "amqp://guest:guest@127.0.0.1:1/",
    "MONGO_URI": "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=300",
    "MONGO_DB": "unused",
    "RPC_TIMEOUT_S": 1,
    "MAX_UPLOAD_MB": 1,
}


@pytest.fixture(scope="module")
def offline_gateway(token_issuer):
    with gateway_app({**OFFLINE, "OIDC_ISSUER": token_issuer.issuer,
                      "OIDC_AUDIENCE": token_issuer.audience}) as app:
        yield app


@pytest.fixture(scope="module")
def client(offline_gateway):
    return offline_gateway.test_client()


@pytest.fixture
def role_tokens(stack):
    """role → an access token of the stack's demo user with that role."""
    return {role: stack.token(*credentials) for role, credentials in DEMO_USERS.items()}


def _wait_final(stack, token, execution_id, timeout=120):
    import time

    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = requests.get(stack.api(f"/executions/{execution_id}"), headers=stack.auth(token),
                            timeout=30).json()
        if body["status"] in ("succeeded", "failed", "cancelled", "timed_out"):
            return body
        time.sleep(0.5)
    raise AssertionError(f"execution {execution_id} did not finish in {timeout} s")


@pytest.fixture(scope="session")
def iris_model_bytes() -> bytes:
    import io

    import joblib

    from shared.testing.modelfiles import fitted_logreg

    buffer = io.BytesIO()
    joblib.dump(fitted_logreg(), buffer)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def platform_objects(stack, iris_model_bytes):
    """A real model (with its file), deployment (with an input) and finished execution,
    made by the data scientist: ``{"model_id", "deployment_id", "execution_id"}``.
    Made once: a model upload is inspected in a sandboxed child, seconds on a busy
    machine. Tests read these objects; none may change them."""
    import json
    import uuid

    import requests

    from shared.testing.modelfiles import iris_frame

    token = stack.token(*DEMO_USERS["data-scientist"])
    headers = stack.auth(token)
    name = f"sec-{uuid.uuid4().hex[:8]}"
    # The first model inspection of a fresh platform (a cold sandboxed child) can outlive
    # the gateway's RPC timeout on a loaded machine (503; issue 11 item 6 makes upload +
    # attach one outcome): try again, a few times, rather than fail every test here.
    for attempt in range(4):
        name = f"sec-{uuid.uuid4().hex[:8]}-{attempt}"
        model = requests.post(stack.api("/models"), headers=headers, timeout=60, files={
            "metadata": (None, json.dumps({"name": name, "type": "classification"}),
                         "application/json"),
            # A hostile original name: the download must not let it out unsanitised.
            "file": (HOSTILE_FILENAME, iris_model_bytes, "text/html")})
        if model.status_code != 503:
            break
    assert model.status_code == 201, model.text
    model_id = model.json()["id"]
    deployment = requests.post(stack.api("/deployments"), headers=headers, timeout=30, json={
        "name": name, "model_id": model_id, "parameters": {"threshold": 0.5}})
    assert deployment.status_code == 201, deployment.text
    deployment_id = deployment.json()["id"]
    rows = iris_frame()[0].head(5)
    attached = requests.put(stack.api(f"/deployments/{deployment_id}/input"), headers=headers,
                            timeout=60, files={"file": ("in.csv", rows.to_csv(index=False),
                                                        "text/csv")})
    assert attached.status_code == 200, attached.text
    run = requests.post(stack.api(f"/models/{model_id}/executions"), headers=headers, timeout=30,
                        json={"input": {"rows": rows.to_dict(orient="records")}})
    assert run.status_code == 201, run.text
    execution = _wait_final(stack, token, run.json()["id"])
    assert execution["status"] == "succeeded", execution
    return {"model_id": model_id, "deployment_id": deployment_id,
            "execution_id": execution["id"]}
