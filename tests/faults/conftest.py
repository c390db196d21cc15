"""The fault suite's platform: a private RabbitMQ node (killed and restarted by the
scenarios, never the machine's shared broker) and the whole platform started by the
launcher on it, with its own embedded database, short supervision back-offs and a
short runner lease, so every recovery takes seconds."""

from __future__ import annotations

import io
import json
import time

import pytest
import requests

from shared.testing.faults import DATASCIENTIST, FAULT_ENV, RECOVERY, FaultPlatform
from shared.testing.rabbit_node import RabbitNode
from shared.testing.stack import start_stack, stop_stack


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    try:
        node = RabbitNode(tmp_path_factory.mktemp("rabbit")).start()
    except RuntimeError as exc:
        pytest.fail(f"the private RabbitMQ node: {exc}", pytrace=False)
    yield node
    node.stop()


@pytest.fixture(scope="session")
def platform(broker, tmp_path_factory):
    try:
        stack = start_stack(tmp_path_factory.mktemp("faults"), broker.amqp_uri,
                            extra_env=FAULT_ENV)
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield FaultPlatform(stack)
    finally:
        stop_stack(stack)


@pytest.fixture(scope="session")
def iris():
    """A LogisticRegression on iris (fit on a DataFrame), its features and file bytes."""
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True, as_frame=True)
    model = LogisticRegression(max_iter=300).fit(X, y)
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return X, buffer.getvalue()


@pytest.fixture(scope="session")
def model_id(platform, iris):
    metadata = {"name": f"faults-{time.time_ns()}", "type": "classification",
                "framework": "scikit-learn", "department": "Marketing", "region": "Europe"}
    response = requests.post(
        platform.stack.api("/models"), timeout=60,
        headers=platform.stack.auth(platform.stack.token(*DATASCIENTIST)),
        files={"metadata": (None, json.dumps(metadata), "application/json"),
               "file": ("iris.joblib", iris[1], "application/octet-stream")})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def pytest_terminal_summary(terminalreporter):
    if not RECOVERY:
        return
    terminalreporter.section("fault scenarios: recovery times")
    for scenario, (seconds, what) in RECOVERY.items():
        terminalreporter.write_line(f"{scenario:<40} {seconds:>7.1f} s  {what}")
