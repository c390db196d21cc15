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
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app, request
from kombu import Exchange
from prometheus_client import Counter

from services.gateway.event_feed import EventFeed
from shared import events
from shared.maintenance import MaintenanceView

log = logging.getLogger(__name__)

HELD = Counter("ml_gateway_maintenance_refused_total",
               "Mutating requests answered 503 during a backup or restore window")
EXCHANGE = Exchange("admin.events", type="topic", durable=True)
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class MaintenanceFeed(EventFeed):
    """``maintenance_started`` / ``maintenance_ended`` → ``view``; on (re)connect the
    open windows from the admin service (``get_maintenance``)."""

    name = "maintenance"

    def __init__(self, amqp_uri: str, view: MaintenanceView,
                 sync: Callable[[], dict[str, Any]], retry_s: float = 2.0):
        super().__init__(amqp_uri, EXCHANGE,
                         (events.MAINTENANCE_STARTED, events.MAINTENANCE_ENDED), sync, retry_s)
        self.view = view

    def apply_event(self, body: Any) -> None:
        self.view.apply(body)

    def apply_sync(self, answer: dict[str, Any]) -> None:
        self.view.apply(answer)


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
