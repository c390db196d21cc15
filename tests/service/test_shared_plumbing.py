"""The shared plumbing every service stands on: errors cross RPC as
themselves, entrypoints are counted, /health reports the database."""

import requests
from nameko.rpc import rpc
from nameko.standalone.rpc import ClusterRpcProxy

from shared.errors import EXPECTED, Conflict, NotFound
from shared.mongo import Repository
from shared.observability import Observability


class Store(Repository):
    indexes = {"things": [([("name", 1)], {"unique": True})]}

    def add(self, name):
        self.db.things.insert_one({"name": name})


class PlumbingService:
    name = "plumbing"
    store = Store()
    observability = Observability()

    @rpc(expected_exceptions=EXPECTED)
    def add(self, name):
        try:
            self.store.add(name)
        except Exception:
            raise Conflict(f"{name} exists", {"name": name}) from None
        return name

    @rpc(expected_exceptions=EXPECTED)
    def missing(self):
        raise NotFound("no such thing", {"id": "x"})


def test_errors_metrics_and_health(container_factory, service_config):
    container = container_factory(PlumbingService, service_config)
    container.start()
    observability = next(d for d in container.dependencies if isinstance(d, Observability))
    base = f"http://127.0.0.1:{observability.port}"

    with ClusterRpcProxy(service_config, timeout=10) as cluster:
        assert cluster.plumbing.add("a") == "a"
        try:
            cluster.plumbing.add("a")
        except Conflict as exc:
            assert exc.details == {"name": "a"}
            assert exc.to_envelope()["error"]["code"] == "conflict"
        else:
            raise AssertionError("duplicate accepted")
        try:
            cluster.plumbing.missing()
        except NotFound as exc:
            assert exc.status == 404
        else:
            raise AssertionError("missing did not raise")

    metrics = requests.get(f"{base}/metrics", timeout=5).text
    counted = 'ml_entrypoint_requests_total{entrypoint="add",outcome="success",service="plumbing"}'
    assert f"{counted} 1.0" in metrics
    assert 'outcome="conflict"' in metrics
    health = requests.get(f"{base}/health", timeout=5)
    assert health.status_code == 200
    assert health.json()["checks"] == {"store": "ok"}
