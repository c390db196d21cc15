"""System logs through the whole platform (the ``stack`` fixture, as ``make run``): a
failing request's ``X-Request-ID`` leads, through ``GET /admin/logs``, to the lines of
the gateway and of the service that handled it — every process ships its records
(shared/logship.py, installed by each config.yml and by the gateway's logging set-up)
to the admin service. The console logs in var/log keep their lines too."""

from __future__ import annotations

import time
import uuid

import pytest
import requests

pytestmark = pytest.mark.e2e

ADMIN = ("admin", "admin123")
OTHERS = (("datascientist", "password123"), ("business", "password123"),
          ("viewer", "password123"))


def admin_logs(stack, **query) -> dict:
    response = requests.get(stack.api("/admin/logs"), params=query, timeout=30,
                            headers=stack.auth(stack.token(*ADMIN)))
    assert response.status_code == 200, response.text
    return response.json()


def wait_services(stack, request_id: str, services: set[str], timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        page = admin_logs(stack, request_id=request_id, per_page=200)
        if services <= {item["service"] for item in page["items"]}:
            return page
        if time.monotonic() > deadline:
            raise AssertionError(f"lines of {services} not found under {request_id}: {page}")
        time.sleep(0.5)


def test_a_failed_requests_id_finds_the_gateway_and_the_service_lines(stack):
    token = stack.token("datascientist", "password123")
    request_id = uuid.uuid4().hex
    missing = "0123456789abcdef01234567"  # a well-formed id no model has
    response = requests.get(stack.api(f"/models/{missing}"), timeout=30,
                            headers={**stack.auth(token), "X-Request-ID": request_id})
    assert response.status_code == 404
    assert response.headers["X-Request-ID"] == request_id

    page = wait_services(stack, request_id, {"gateway", "registry"})
    by_service = {}
    for item in page["items"]:
        assert item["request_id"] == request_id
        by_service.setdefault(item["service"], []).append(item)
    assert any(f"/api/v1/models/{missing} answered 404" in i["message"]
               for i in by_service["gateway"])
    assert any(missing in i["message"] for i in by_service["registry"])
    times = [item["at"] for item in page["items"]]
    assert times == sorted(times, reverse=True)

    # The same lines, by the other filters; the console logs still have theirs.
    assert admin_logs(stack, request_id=request_id, service="registry")["total"] == len(
        by_service["registry"])
    assert admin_logs(stack, request_id=request_id, q=missing.upper())["total"] >= 2
    assert request_id in stack.log("gateway") and request_id in stack.log("registry")


def test_every_service_ships_its_records(stack):
    """Each nameko service logs at start; all of them, and the gateway, reach the store."""
    expected = {"auth", "registry", "deployer", "runner", "scheduler", "admin", "reporting",
                "gateway"}
    requests.get(stack.api("/models/nope"), timeout=30,
                 headers=stack.auth(stack.token("viewer", "password123")))
    deadline = time.monotonic() + 60
    while True:
        seen = {s for s in expected if admin_logs(stack, service=s, per_page=1)["total"]}
        if seen == expected:
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"no system logs from {sorted(expected - seen)}")
        time.sleep(1)
    metrics = requests.get(stack.metrics_url("registry"), timeout=10).text
    assert 'ml_log_records_shipped_total{service="registry"}' in metrics


@pytest.mark.parametrize("who", OTHERS, ids=[w[0] for w in OTHERS])
def test_other_roles_are_refused(stack, who):
    response = requests.get(stack.api("/admin/logs"), timeout=30,
                            headers=stack.auth(stack.token(*who)))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
