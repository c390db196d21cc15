"""A pooled, thread-safe RPC client to the nameko services.

Used by the gateway (one pool per process, shared by gunicorn's threads) and by
``bench/``; it imports nothing from Flask.

A nameko ``ClusterRpcProxy`` is single-threaded (one reply queue, one polling
consumer), so each call borrows a started proxy from a queue, uses it alone and
gives it back. A proxy that hit a timeout or a connection error may still get
the late reply of the failed call or sit on a dead connection: it is stopped
and discarded, and a fresh one is created on demand.

Usage::

    pool = RpcPool({"AMQP_URI": "amqp://..."}, timeout=10, size=8)
    model = pool.call("registry", "get_model", model_id,
                      context={"request_id": "ab12", "username": "alice", "roles": ["admin"]})
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
from typing import Any

from amqp.exceptions import ConnectionError as AmqpConnectionError
from kombu.exceptions import OperationalError
from nameko.exceptions import RpcTimeout, UnknownService
from nameko.standalone.rpc import ClusterRpcProxy
from prometheus_client import Counter, Histogram

from shared.errors import ServiceUnavailable

log = logging.getLogger(__name__)

RPC_CALLS = Counter("ml_gateway_rpc_requests_total",
                    "RPC calls made by the gateway, by service, method and outcome "
                    "(success, the error code, or unavailable)",
                    ["service", "method", "outcome"])
RPC_LATENCY = Histogram("ml_gateway_rpc_latency_seconds",
                        "RPC round trip seen by the gateway", ["service", "method"],
                        buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                 2.5, 5, 10, 30))

#: Errors that mean "the broker or the service did not answer": they become a 503.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # socket.error, ConnectionRefusedError, socket.timeout
    socket.timeout,
    AmqpConnectionError,
    OperationalError,
)


class _Lease:
    """One started ``ClusterRpcProxy`` and the cluster object its ``start()`` returned."""

    def __init__(self, config: dict[str, Any], timeout: float | None):
        self.standalone = ClusterRpcProxy(config, timeout=timeout)
        self.cluster = self.standalone.start()
        self.created = time.monotonic()

    def set_context(self, context: dict[str, Any]) -> None:
        # nameko 2.14 standalone proxies serialise the *WorkerContext* they were built
        # with into the AMQP headers of every call (``worker_ctx.context_data`` is read
        # at publish time). There is no per-call argument for it, and the context is
        # fixed at construction, so a pooled proxy must have its context data swapped
        # before each call; the lease is used by one thread at a time, so this is safe.
        self.standalone._worker_ctx.data = dict(context)

    def alive(self) -> bool:
        """Whether the reply connection still works (a broker restart kills idle ones).

        A non-blocking read: nothing to read is healthy; a closed or reset socket is not.
        Checked before each call because a request published from a proxy whose reply
        queue is gone would run on the service and then be reported as a failure.
        """
        connection = self.standalone._reply_listener.queue_consumer.connection
        if not connection.connected:
            return False
        try:
            connection.drain_events(timeout=0)
        except TimeoutError:
            return True
        except Exception:
            return False
        return True

    def stop(self) -> None:
        try:
            self.standalone.stop()
        except Exception:  # a dead connection may fail to close; it is discarded anyway
            log.debug("error while stopping a discarded RPC proxy", exc_info=True)


class RpcPool:
    """A bounded pool of started ``ClusterRpcProxy`` objects.

    ``size`` proxies at most are open at once; a caller that finds none free
    waits up to ``timeout`` seconds for one, then gets ``ServiceUnavailable``.
    """

    def __init__(self, config: dict[str, Any], timeout: float | None = 10.0, size: int = 8):
        self.config = {key: value for key, value in config.items()}
        self.timeout = timeout
        self.size = size
        self._idle: queue.LifoQueue[_Lease] = queue.LifoQueue()
        self._lock = threading.Lock()
        self._open = 0
        self._closed = False

    # -- leases ----------------------------------------------------------------

    def _acquire(self, service: str) -> _Lease:
        while True:
            try:
                lease = self._idle.get_nowait()
            except queue.Empty:
                break
            if lease.alive():
                return lease
            log.info("discarding an RPC proxy whose connection died while idle")
            self._discard(lease)
        with self._lock:
            may_create = self._open < self.size
            if may_create:
                self._open += 1
        if may_create:
            try:
                return _Lease(self.config, self.timeout)
            except BaseException as exc:
                with self._lock:
                    self._open -= 1
                if isinstance(exc, CONNECTION_ERRORS):
                    raise self._unavailable(service, exc) from exc
                raise
        try:
            return self._idle.get(timeout=self.timeout)
        except queue.Empty:
            raise ServiceUnavailable(
                f"no RPC connection free to call {service!r} in time",
                {"service": service},
            ) from None

    def _release(self, lease: _Lease) -> None:
        if self._closed:
            self._discard(lease)
        else:
            self._idle.put(lease)

    def _discard(self, lease: _Lease) -> None:
        with self._lock:
            self._open -= 1
        lease.stop()

    @staticmethod
    def _unavailable(service: str, exc: BaseException) -> ServiceUnavailable:
        if isinstance(exc, RpcTimeout):
            reason = "did not answer in time"
        elif isinstance(exc, UnknownService):
            reason = "is not running"
        else:
            reason = f"could not be reached ({exc.__class__.__name__})"
        return ServiceUnavailable(f"service {service!r} {reason}", {"service": service})

    # -- calls -----------------------------------------------------------------

    def call(
        self,
        service: str,
        method: str,
        *args: Any,
        context: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Call ``service.method(*args, **kwargs)`` with ``context`` as nameko context data.

        Raises the service's ``PlatformError`` subclasses as themselves, and
        ``ServiceUnavailable`` when the broker or the service does not answer.
        """
        started = time.perf_counter()
        outcome = "internal_error"
        try:
            result = self._call(service, method, args, kwargs, context)
            outcome = "success"
            return result
        except ServiceUnavailable:
            outcome = "unavailable"
            raise
        except BaseException as exc:
            outcome = getattr(exc, "code", None) or "internal_error"
            raise
        finally:
            RPC_CALLS.labels(service, method, outcome).inc()
            RPC_LATENCY.labels(service, method).observe(time.perf_counter() - started)

    def _call(self, service: str, method: str, args: tuple, kwargs: dict,
              context: dict[str, Any] | None) -> Any:
        lease = self._acquire(service)
        try:
            lease.set_context(context or {})
            result = getattr(getattr(lease.cluster, service), method)(*args, **kwargs)
        except UnknownService as exc:
            # The request was returned unroutable: the connection itself is fine.
            self._release(lease)
            raise self._unavailable(service, exc) from exc
        except (RpcTimeout, *CONNECTION_ERRORS, RuntimeError) as exc:
            # RuntimeError: nameko's "consumer has been disconnected/stopped".
            self._discard(lease)
            log.warning("RPC %s.%s failed: %r", service, method, exc)
            raise self._unavailable(service, exc) from exc
        except BaseException:
            # The service answered (with an error): the proxy is healthy.
            self._release(lease)
            raise
        self._release(lease)
        return result

    def close(self) -> None:
        """Stop every idle proxy; leases in use are stopped when given back."""
        self._closed = True
        while True:
            try:
                lease = self._idle.get_nowait()
            except queue.Empty:
                return
            self._discard(lease)
