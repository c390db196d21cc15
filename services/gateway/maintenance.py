"""The maintenance window at the gateway: mutating requests get 503 + Retry-After.

While a backup takes its snapshot (a second or so) or a restore writes the data, the
admin service broadcasts ``maintenance_started`` and then ``maintenance_ended``
(``shared/events.py``). Each gateway process consumes the ``admin.events`` exchange
through its own exclusive, auto-delete queue (a kombu thread, like the revocation
feed) into a ``MaintenanceView``; when the consumer (re)connects it asks the admin
service for the open windows (``get_maintenance``). A window ends by itself at its
``until``. Reads go on; ``POST``, ``PUT``, ``PATCH`` and ``DELETE`` under ``/api/v1``
are answered ``503 service_unavailable`` with ``Retry-After`` before any work.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app, request
from kombu import Connection, Exchange, Queue
from kombu.mixins import ConsumerMixin
from prometheus_client import Counter

from shared import events
from shared.maintenance import MaintenanceView

log = logging.getLogger(__name__)

HELD = Counter("ml_gateway_maintenance_refused_total",
               "Mutating requests answered 503 during a backup or restore window")
EXCHANGE = Exchange("admin.events", type="topic", durable=True)
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class MaintenanceFeed(ConsumerMixin):
    def __init__(self, amqp_uri: str, view: MaintenanceView,
                 sync: Callable[[], dict[str, Any]], retry_s: float = 2.0):
        self.connection = Connection(amqp_uri, heartbeat=30)
        self.view = view
        self.sync = sync
        self.retry_s = retry_s
        self.ready = threading.Event()
        self._synced = False
        self._last_try = 0.0
        self._thread: threading.Thread | None = None
        self.queue_name = f"gateway-maintenance-{uuid.uuid4().hex}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="maintenance-feed", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.should_stop = True
        if self._thread is not None:
            self._thread.join(timeout)
        self.connection.release()

    def get_consumers(self, consumer_cls, channel):
        queues = [Queue(f"{self.queue_name}-{key}", EXCHANGE, routing_key=key, exclusive=True,
                        auto_delete=True, durable=False)
                  for key in (events.MAINTENANCE_STARTED, events.MAINTENANCE_ENDED)]
        return [consumer_cls(queues=queues, callbacks=[self.on_message], accept=["json"],
                             prefetch_count=100)]

    def on_consume_ready(self, connection, channel, consumers, **kwargs) -> None:
        self._synced = False
        self._try_sync()

    def on_iteration(self) -> None:
        if not self._synced and time.monotonic() - self._last_try >= self.retry_s:
            self._try_sync()

    def on_connection_error(self, exc, interval) -> None:
        log.warning("maintenance feed: broker connection lost (%r), retrying in %ss",
                    exc, interval)

    def on_message(self, body: Any, message) -> None:
        try:
            self.view.apply(body)
        finally:
            message.ack()

    def _try_sync(self) -> None:
        self._last_try = time.monotonic()
        try:
            self.view.apply(self.sync())
            self._synced = True
        except Exception as exc:  # admin away: no window is assumed; retried soon
            log.debug("maintenance feed: cannot read the windows from admin: %r", exc)
        self.ready.set()


class Maintenance:
    """The gateway state's view of the windows, its feed started on first use."""

    def __init__(self, amqp_uri: str, sync: Callable[[], dict[str, Any]],
                 enabled: bool = True, start_wait_s: float = 2.0):
        self.view = MaintenanceView()
        self.enabled = enabled
        self.start_wait_s = start_wait_s
        self._amqp_uri = amqp_uri
        self._sync = sync
        self._feed: MaintenanceFeed | None = None
        self._lock = threading.Lock()

    def _ensure_started(self) -> None:
        if self._feed is None:
            with self._lock:
                if self._feed is None:
                    feed = MaintenanceFeed(self._amqp_uri, self.view, self._sync)
                    feed.start()
                    feed.ready.wait(self.start_wait_s)
                    self._feed = feed

    def retry_after(self) -> int:
        """0 when writes are open, else the seconds to tell the client to wait."""
        if not self.enabled:
            return 0
        self._ensure_started()
        return self.view.retry_after()

    def close(self) -> None:
        if self._feed is not None:
            self._feed.stop()


def _hold_writes():
    if request.method not in MUTATING or not request.path.startswith("/api/v1/"):
        return None
    maintenance = getattr(current_app.extensions["gateway"], "maintenance", None)
    if maintenance is None:
        return None
    wait = maintenance.retry_after()
    if not wait:
        return None
    from services.gateway.errors import error_response
    from services.gateway.policy import authorize

    action = getattr(current_app.view_functions.get(request.endpoint), "_policy_action", None)
    if action:
        authorize(action)  # who may not make this change gets its 401/403, not the window

    HELD.inc()
    response = error_response(
        503, "service_unavailable",
        "the platform is taking a backup or restoring one: changes are paused, "
        f"try again in {wait} s", {"reason": "maintenance", "retry_after_s": wait})
    response.headers["Retry-After"] = str(wait)
    return response


def init_app(app: Flask) -> None:
    gateway = app.extensions["gateway"]
    gateway.maintenance = Maintenance(
        gateway.config["AMQP_URI"], lambda: gateway.rpc.call("admin", "get_maintenance"),
        enabled=bool(gateway.config.get("MAINTENANCE_ENABLED",
                                        gateway.config.get("REVOCATION_ENABLED", True))))
    app.before_request(_hold_writes)
