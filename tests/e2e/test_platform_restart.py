"""`make run` on a fresh machine, then again: the first start seeds the demo data through
the API, the second reuses the data (var/db) and seeds nothing twice; a stopped launcher
leaves nothing running behind it."""

from __future__ import annotations

import socket

import pytest
import requests

from shared.testing.stack import fresh_vhost, start_stack, stop_stack

pytestmark = pytest.mark.e2e


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _models(stack, token, **params) -> dict:
    response = requests.get(stack.api("/models"), params={"per_page": 100, **params},
                            headers=stack.auth(token), timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def test_first_start_seeds_a_restart_reuses_the_data_and_a_stop_leaves_no_process(
        request, rabbit_manager, tmp_path, unique):
    name = unique("e2e-restart")
    with fresh_vhost(request, rabbit_manager) as amqp_uri:
        first = start_stack(tmp_path, amqp_uri, seed=True)
        try:
            token = first.token("viewer", "password123")
            seeded = _models(first, token)["items"]
            assert len(seeded) == 7, first.output()[-3000:]
            assert {m["department"] for m in seeded} == {"Finance", "Marketing", "Opérations",
                                                          "RH"}
            assert {m["region"] for m in seeded} == {"Europe", "Amérique du Nord", "Asie"}
            assert {m["status"] for m in seeded} == {"ready"}
            assert {m["framework"] for m in seeded} == {"scikit-learn", "onnx"}
            assert all(m["created_by"] == "datascientist" and m["metrics"] for m in seeded)
            # Trained with DataFrames: the registry read the feature names from the files.
            iris = next(m for m in seeded if m["name"] == "classification-especes-iris")
            assert [f["name"] for f in iris["input_schema"]][:1] == ["sepal length (cm)"]
            ridge = [m["version"] for m in seeded if m["name"] == "progression-diabete-ridge"]
            assert sorted(ridge) == ["1.0.0", "1.1.0"]

            deployments = requests.get(first.api("/deployments"), headers=first.auth(token),
                                       timeout=30).json()
            assert {d["status"] for d in deployments["items"]} == {"inactive"}
            assert deployments["total"] == 2
            executions = requests.get(first.api("/executions"), headers=first.auth(token),
                                      timeout=30).json()
            assert executions["total"] == 2
            assert {e["created_by"] for e in executions["items"]} == {"datascientist"}

            writer = first.token("datascientist", "password123")
            created = requests.post(first.api("/models"), headers=first.auth(writer), json={
                "name": name, "description": "survit au redémarrage", "type": "other",
                "framework": "other", "department": "RH", "region": "Europe", "tags": [],
            }, timeout=30)
            assert created.status_code == 201, created.text
        finally:
            assert stop_stack(first) == 0, first.output()[-3000:]
        ports = [int(first.base_url.rsplit(":", 1)[1]), *first.metrics_ports.values()]
        assert not [port for port in ports if _port_open(port)], "a child outlived the launcher"
        assert "stopping the database" in first.output()

        second = start_stack(tmp_path, amqp_uri, seed=True)
        try:
            token = second.token("datascientist", "password123")
            assert [m["name"] for m in _models(second, token, q=name)["items"]] == [name]
            assert _models(second, token)["total"] == 8
            assert "existing data reused" in second.output()
            assert "demo data not added again" in second.output()
        finally:
            stop_stack(second)
