"""A pooled, thread-safe RPC client to the nameko services.

Used by the gateway (one pool per process, shared by gunicorn's threads) and by
``bench/``; it imports nothing from Flask.

Each lease is one kombu connection with its own exclusive reply queue bound to
nameko's RPC exchange, used by one thread at a time. A call publishes nameko's wire
format (``{"args", "kwargs"}``, the caller's context as ``nameko.*`` headers,
``reply_to`` + ``correlation_id``) and drains the connection until the matching
reply comes. Requests are transient and unconfirmed: a request the broker loses
is a call nobody answers, i.e. a timeout, which is a 503 as any other. ``mandatory``
stays on, so a request no service queue can take comes back as ``basic.return``:
``UnknownService``. A lease that hit a timeout or a connection error is closed and
discarded; a fresh one is created on demand.

Usage::

    pool = RpcPool({"AMQP_URI": "amqp://..."}, timeout=10, size=8)
    model = pool.call("registry", "get_model", model_id,
                      context={"request_id": "ab12", "username": "alice", "roles": ["admin"]})
"""

from __future__ import annotations

import logging
import queue
import select
import socket
import threading
import time
import uuid
from typing import Any

from amqp.exceptions import ConnectionError as AmqpConnectionError
from kombu import Connection, Consumer, Producer, Queue
from kombu.exceptions import OperationalError
from nameko.constants import AMQP_SSL_CONFIG_KEY, AMQP_URI_CONFIG_KEY, LOGIN_METHOD_CONFIG_KEY
from nameko.exceptions import RpcTimeout, UnknownService, deserialize
from nameko.rpc import get_rpc_exchange
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

#: The caller's name in the call id stack nameko's services see (``call_id_stack``),
#: as nameko's standalone proxy names itself: the audit trail counts the depth.
CALLER_ID = "standalone_rpc_proxy.call"


class _Lease:
    """One connection, its reply queue and the replies received on it."""

    def __init__(self, config: dict[str, Any], timeout: float | None):
        self.timeout = timeout
        self.exchange = get_rpc_exchange(config)
        self.connection = Connection(config[AMQP_URI_CONFIG_KEY],
                                     ssl=config.get(AMQP_SSL_CONFIG_KEY),
                                     login_method=config.get(LOGIN_METHOD_CONFIG_KEY))
        try:
            self.connection.connect()
            channel = self.connection.channel()
            self.exchange(channel).declare()  # the services declare it too; same options
            self.reply_key = uuid.uuid4().hex
            reply_queue = Queue(f"rpc.reply-gateway-{self.reply_key}", exchange=self.exchange,
                                routing_key=self.reply_key, exclusive=True, auto_delete=True,
                                durable=False, channel=channel)
            reply_queue.declare()
            self.replies: dict[str, Any] = {}
            self.returned: set[str] = set()
            self.producer = Producer(channel, exchange=self.exchange, serializer="json",
                                     on_return=self._on_return)
            self.consumer = Consumer(channel, [reply_queue], callbacks=[self._on_reply],
                                     accept=["json"], no_ack=True)
            self.consumer.consume()
        except BaseException:
            self.stop()
            raise
        self.created = time.monotonic()

    def _on_reply(self, body: Any, message) -> None:
        self.replies[message.properties.get("correlation_id")] = body

    def _on_return(self, exc, exchange, routing_key, message) -> None:
        self.returned.add(message.properties.get("correlation_id"))

    def call(self, service: str, method: str, args: tuple, kwargs: dict,
             context: dict[str, Any]) -> Any:
        correlation_id = uuid.uuid4().hex
        headers = {f"nameko.{key}": value for key, value in context.items()
                   if value is not None}
        headers["nameko.call_id_stack"] = [f"{CALLER_ID}.{correlation_id}"]
        self.producer.publish({"args": args, "kwargs": kwargs},
                              routing_key=f"{service}.{method}", mandatory=True,
                              reply_to=self.reply_key, correlation_id=correlation_id,
                              headers=headers, delivery_mode=1)
        reply = self._wait(service, correlation_id)
        error = reply.get("error")
        if error:
            raise deserialize(error)
        return reply["result"]

    def _wait(self, service: str, correlation_id: str) -> dict[str, Any]:
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        while correlation_id not in self.replies:
            if correlation_id in self.returned:
                self.returned.discard(correlation_id)
                raise UnknownService(service)
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise RpcTimeout(self.timeout)
            try:
                self.connection.drain_events(timeout=left)
            except TimeoutError:
                raise RpcTimeout(self.timeout) from None
        return self.replies.pop(correlation_id)

    def alive(self) -> bool:
        """Whether the connection still works (a broker restart kills idle ones).

        Checked before each call because a request published on a connection whose reply
        queue is gone would run on the service and then be reported as a failure. An
        idle healthy connection has nothing to read; when the socket is readable (a
        close, a reset, a heartbeat), a non-blocking read says which.
        """
        if not self.connection.connected:
            return False
        try:
            readable, _, _ = select.select([self.connection.connection.sock], [], [], 0)
            if readable:
                self.connection.drain_events(timeout=0)
        except TimeoutError:
            return True
        except Exception:
            return False
        return True

    def stop(self) -> None:
        try:
            self.connection.release()
        except Exception:  # a dead connection may fail to close; it is discarded anyway
            log.debug("error while closing a discarded RPC connection", exc_info=True)


class RpcPool:
    """A bounded pool of leases (connections with their reply queue).

    ``size`` leases at most are open at once; a caller that finds none free
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
            log.info("discarding an RPC connection that died while idle")
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
            result = lease.call(service, method, args, kwargs, context or {})
        except UnknownService as exc:
            # The request was returned unroutable: the connection itself is fine.
            self._release(lease)
            raise self._unavailable(service, exc) from exc
        except (RpcTimeout, *CONNECTION_ERRORS) as exc:
            # A late reply or a dead socket: this lease is not used again.
            self._discard(lease)
            log.warning("RPC %s.%s failed: %r", service, method, exc)
            raise self._unavailable(service, exc) from exc
        except BaseException:
            # The service answered (with an error): the lease is healthy.
            self._release(lease)
            raise
        self._release(lease)
        return result

    def close(self) -> None:
        """Close every idle lease; leases in use are closed when given back."""
        self._closed = True
        while True:
            try:
                lease = self._idle.get_nowait()
            except queue.Empty:
                return
            self._discard(lease)
