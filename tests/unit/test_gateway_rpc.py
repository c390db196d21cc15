"""The RPC pool with fake leases: leases are reused, bounded, and a proxy that
timed out or lost its connection is discarded; failures become 503s."""

from __future__ import annotations

import threading

import pytest
from nameko.exceptions import RpcTimeout, UnknownService

from services.gateway import rpc as rpc_module
from services.gateway.rpc import RpcPool
from shared.errors import NotFound, ServiceUnavailable

created: list[FakeLease] = []


class FakeLease:
    behaviour = None  # callable(service, method, args, context) -> result

    def __init__(self, config, timeout):
        self.context = None
        self.stopped = False
        self.healthy = True
        created.append(self)

    def call(self, service, method, args, kwargs, context):
        self.context = dict(context)
        return FakeLease.behaviour(service, method, args, self.context)

    def alive(self):
        return self.healthy

    def stop(self):
        self.stopped = True


@pytest.fixture(autouse=True)
def fake(monkeypatch):
    created.clear()
    monkeypatch.setattr(rpc_module, "_Lease", FakeLease)
    FakeLease.behaviour = staticmethod(
        lambda s, m, a, c: {"service": s, "method": m, "args": a, "context": c}
    )


def test_call_passes_args_and_context_and_reuses_the_proxy():
    pool = RpcPool({"AMQP_URI": "x"}, timeout=1, size=2)
    ctx = {"request_id": "r", "username": "u", "roles": ["viewer"]}
    assert pool.call("registry", "get_model", "m1", context=ctx) == {
        "service": "registry",
        "method": "get_model",
        "args": ("m1",),
        "context": ctx,
    }
    pool.call("registry", "get_model", "m2")
    assert len(created) == 1
    assert created[0].context == {}  # the previous caller's context never leaks


@pytest.mark.parametrize(
    "exc",
    [
        RpcTimeout(1),
        ConnectionRefusedError(),
        OSError("reset"),
    ],
)
def test_timeouts_and_connection_errors_are_503_and_discard_the_proxy(exc):
    pool = RpcPool({"AMQP_URI": "x"}, timeout=1, size=2)

    def fail(*args):
        raise exc

    FakeLease.behaviour = staticmethod(fail)
    with pytest.raises(ServiceUnavailable) as info:
        pool.call("runner", "get_execution", "e1")
    assert info.value.details == {"service": "runner"}
    assert "runner" in info.value.message
    assert created[0].stopped and pool._open == 0


def test_unknown_service_is_503_but_keeps_the_proxy():
    pool = RpcPool({"AMQP_URI": "x"}, timeout=1, size=2)

    def fail(*args):
        raise UnknownService("scheduler")

    FakeLease.behaviour = staticmethod(fail)
    with pytest.raises(ServiceUnavailable, match="not running"):
        pool.call("scheduler", "x")
    assert not created[0].stopped and pool._open == 1


def test_platform_errors_pass_through_and_keep_the_proxy():
    pool = RpcPool({"AMQP_URI": "x"}, timeout=1, size=2)

    def fail(*args):
        raise NotFound("no such model", {"id": "m"})

    FakeLease.behaviour = staticmethod(fail)
    with pytest.raises(NotFound):
        pool.call("registry", "get_model", "m")
    assert not created[0].stopped and pool._idle.qsize() == 1


def test_dead_idle_proxy_is_replaced():
    pool = RpcPool({"AMQP_URI": "x"}, timeout=1, size=2)
    pool.call("registry", "m")
    created[0].healthy = False
    pool.call("registry", "m")
    assert len(created) == 2 and created[0].stopped and pool._open == 1


def test_pool_is_bounded_and_waits_then_503():
    pool = RpcPool({"AMQP_URI": "x"}, timeout=0.2, size=1)
    entered, release = threading.Event(), threading.Event()

    def slow(*args):
        entered.set()
        release.wait(5)
        return "done"

    FakeLease.behaviour = staticmethod(slow)
    results = []
    thread = threading.Thread(target=lambda: results.append(pool.call("registry", "m")))
    thread.start()
    entered.wait(5)
    with pytest.raises(ServiceUnavailable, match="no RPC connection free"):
        pool.call("registry", "m")
    release.set()
    thread.join(5)
    assert results == ["done"] and len(created) == 1


def test_broker_down_when_creating_a_proxy_is_503(monkeypatch):
    def refuse(config, timeout):
        raise ConnectionRefusedError(111, "refused")

    monkeypatch.setattr(rpc_module, "_Lease", refuse)
    pool = RpcPool({"AMQP_URI": "x"}, timeout=1, size=1)
    with pytest.raises(ServiceUnavailable, match="could not be reached"):
        pool.call("registry", "m")
    assert pool._open == 0


def test_close_stops_idle_proxies():
    pool = RpcPool({"AMQP_URI": "x"}, timeout=1, size=2)
    pool.call("registry", "m")
    pool.close()
    assert created[0].stopped
