"""Log shipping: every service's log records to the admin service's store (« Journaux
système »), without ever blocking or failing the work that logs.

``ShippingHandler`` is a ``logging.Handler`` whose ``emit`` only appends a small dict
to a bounded in-memory queue (the oldest record is dropped and counted when it is
full) and wakes a background sender. The sender takes batches off the queue and
publishes them over the broker (kombu) to ``LOG_QUEUE``, which the admin service
consumes and stores (with a TTL). A broker that is down only costs records once the
queue is full: the failed batch is retried with a growing pause, nothing waits on it.

Under eventlet (nameko services are monkey-patched by ``nameko run``) the sender is a
green thread and kombu's sockets are green; in the gateway (gunicorn gthread) it is a
real daemon thread. It starts lazily at the first record, in the process that logs
(after gunicorn's fork), and again if the process forked since.

Records the shipping machinery itself causes are never shipped (no recursion): those
of the ``shared.logship`` logger, those emitted by the sender (its kombu / amqp
connection), and those emitted inside ``suppressed()`` (the admin service's storing
of a batch).

In a service's config.yml::

    handlers:
      ship:
        (): shared.logship.ShippingHandler
        service: registry
        amqp_uri: ${AMQP_URI:amqp://guest:guest@localhost:5672/}
        filters: [request_id]
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from kombu import Connection, Exchange, Queue
from prometheus_client import Counter

log = logging.getLogger(__name__)

EXCHANGE = Exchange("ml_platform.logs", type="direct", durable=True)
#: Bounded on the broker too (batches; the oldest goes first) while the admin is away.
LOG_QUEUE = Queue("ml_platform.logs", exchange=EXCHANGE, routing_key="logs", durable=True,
                  queue_arguments={"x-max-length": 2000, "x-overflow": "drop-head"})

MAX_MESSAGE_CHARS = 8000
#: Loggers never shipped: this module's, and the broker client's (the sender's own).
IGNORED_LOGGERS = (__name__, "kombu", "amqp")

SHIPPED = Counter("ml_log_records_shipped_total",
                  "Log records published to the system log store", ["service"])
DROPPED = Counter("ml_log_records_dropped_total",
                  "Log records dropped before shipping (queue full, unshippable)", ["service"])

# Green-thread local under eventlet.
_local = threading.local()


@contextlib.contextmanager
def suppressed() -> Iterator[None]:
    """Records logged inside are not shipped (used where batches are stored)."""
    previous = getattr(_local, "suppressed", False)
    _local.suppressed = True
    try:
        yield
    finally:
        _local.suppressed = previous


def is_suppressed() -> bool:
    return bool(getattr(_local, "suppressed", False))


def enabled(environ: dict[str, str] | None = None) -> bool:
    """``LOG_SHIPPING=0`` turns shipping off (records still go to the console)."""
    value = (os.environ if environ is None else environ).get("LOG_SHIPPING", "1")
    return value.strip().lower() not in ("0", "false", "no", "off")


class KombuPublisher:
    """Publishes one batch per message to ``LOG_QUEUE``; one connection, reopened after
    an error. Called from the sender only."""

    def __init__(self, amqp_uri: str, connect_timeout: float = 2.0):
        self.amqp_uri = amqp_uri
        self.connect_timeout = connect_timeout
        self.connection: Connection | None = None
        self.producer = None

    def __call__(self, batch: list[dict[str, Any]]) -> None:
        try:
            if self.producer is None:
                # No heartbeat: an idle sender's connection is checked by publishing.
                self.connection = Connection(self.amqp_uri, connect_timeout=self.connect_timeout,
                                             heartbeat=0)
                self.connection.ensure_connection(max_retries=1)
                channel = self.connection.default_channel
                # A bound copy each time: the module's LOG_QUEUE stays unbound (a bound
                # one would keep a dead connection's channel).
                LOG_QUEUE.bind(channel).declare()
                self.producer = self.connection.Producer(channel, serializer="json")
            self.producer.publish({"records": batch}, exchange=EXCHANGE, routing_key="logs",
                                  retry=False, delivery_mode=2, timeout=self.connect_timeout)
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        connection, self.connection, self.producer = self.connection, None, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.release()


class ShippingHandler(logging.Handler):
    """See the module docstring. ``publish`` (tests) replaces the kombu publisher."""

    def __init__(self, service: str, amqp_uri: str | None = None, level: int | str = 0,
                 capacity: int = 10_000, batch_size: int = 200, flush_interval: float = 0.5,
                 max_backoff: float = 30.0,
                 publish: Callable[[list[dict[str, Any]]], None] | None = None):
        super().__init__(level)
        self.service = service
        self.capacity = max(1, int(capacity))
        self.batch_size = max(1, int(batch_size))
        self.flush_interval = float(flush_interval)
        self.max_backoff = float(max_backoff)
        if publish is None:
            from shared.config import setting

            publish = KombuPublisher(amqp_uri or setting("AMQP_URI"))
        self.publish = publish
        self.queue: collections.deque[dict[str, Any]] = collections.deque()
        self.queue_lock = threading.Lock()
        self.wake = threading.Event()
        self.dropped = 0
        self.shipped = 0
        self.failures = 0
        self.host = socket.gethostname()
        self._pending: list[dict[str, Any]] | None = None
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        # LOG_SHIPPING=0: constructed (config.yml names it) but inert.
        self._closed = not enabled()

    # -- the logging side: never blocks, never raises --------------------------------

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if self._closed or is_suppressed() or record.name.startswith(IGNORED_LOGGERS):
                return
            if self._pid is not None and self._pid != os.getpid():
                return  # a forked child: its parent's sender and queue are not its own
            item = self.to_item(record)
            with self.queue_lock:
                if len(self.queue) >= self.capacity:
                    self.queue.popleft()
                    self._count_drop()
                self.queue.append(item)
            self._ensure_sender()
            if len(self.queue) >= self.batch_size:
                self.wake.set()
        except Exception:  # a log call must never fail the work that logs
            self._count_drop()

    def to_item(self, record: logging.LogRecord) -> dict[str, Any]:
        message = record.getMessage()
        if record.exc_info:
            formatter = self.formatter or logging.Formatter()
            message = f"{message}\n{formatter.formatException(record.exc_info)}"
        request_id = getattr(record, "request_id", None)
        return {
            "at": record.created,
            "service": self.service,
            "level": record.levelname,
            "levelno": record.levelno,
            "logger": record.name,
            "message": message[:MAX_MESSAGE_CHARS],
            "request_id": None if request_id in (None, "", "-") else str(request_id),
            "host": self.host,
            "pid": record.process,
        }

    def _count_drop(self, n: int = 1) -> None:
        self.dropped += n
        with contextlib.suppress(Exception):
            DROPPED.labels(self.service).inc(n)

    def _ensure_sender(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self.queue_lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="log-shipper", daemon=True)
            self._thread.start()

    # -- the sender ----------------------------------------------------------------

    def _take(self) -> list[dict[str, Any]]:
        with self.queue_lock:
            count = min(self.batch_size, len(self.queue))
            return [self.queue.popleft() for _ in range(count)]

    def _run(self) -> None:
        _local.suppressed = True  # whatever the sender logs stays on the console
        backoff = 0.0
        while not self._closed:
            if backoff:
                self.wake.wait(backoff)
            elif not self.queue and self._pending is None:
                self.wake.wait(self.flush_interval)
            self.wake.clear()
            backoff = 0.0 if self.send_once() else min(max(0.5, backoff * 2 or 0.5),
                                                       self.max_backoff)

    def send_once(self) -> bool:
        """Publish the pending batch, else the next one; False when publishing failed
        (the batch is kept for the next try)."""
        batch = self._pending if self._pending is not None else self._take()
        if not batch:
            return True
        try:
            self.publish(batch)
        except Exception as exc:
            self._pending = batch
            self.failures += 1
            if self.failures == 1 or self.failures % 100 == 0:
                log.warning("log shipping: publish failed (%s: %s); %d record(s) kept, "
                            "retrying", exc.__class__.__name__, exc, len(batch))
            return False
        self._pending = None
        self.failures = 0
        self.shipped += len(batch)
        with contextlib.suppress(Exception):
            SHIPPED.labels(self.service).inc(len(batch))
        return True

    def flush(self, timeout: float = 2.0) -> None:  # noqa: D401 - logging.Handler API
        """Best effort: wait up to ``timeout`` for the queue to empty (the sender's);
        at once when the broker is failing (a stopping process must not hang on it)."""
        if (self._thread is None or self.failures or self._closed
                or threading.current_thread() is self._thread):
            return
        deadline = time.monotonic() + timeout
        while (self.queue or self._pending) and time.monotonic() < deadline:
            self.wake.set()
            time.sleep(0.05)

    def close(self) -> None:
        self.flush()
        self._closed = True
        self.wake.set()
        publisher_close = getattr(self.publish, "close", None)
        if publisher_close is not None:
            with contextlib.suppress(Exception):
                publisher_close()
        super().close()


def install(service: str, source: Callable[[], str], amqp_uri: str | None = None,
            level: int | str = 0) -> ShippingHandler | None:
    """Add a ShippingHandler (with the request id of ``source``) to the root logger;
    None when ``LOG_SHIPPING`` is off."""
    if not enabled():
        return None
    from shared.logs import RequestIdFilter

    handler = ShippingHandler(service, amqp_uri, level)
    handler.addFilter(RequestIdFilter(source))
    logging.getLogger().addHandler(handler)
    return handler
