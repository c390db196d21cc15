"""The maintenance window of a backup or a restore, as a nameko service sees it.

The admin service broadcasts ``maintenance_started`` ``{"id", "kind", "until",
"pause"}`` and ``maintenance_ended`` ``{"id", "ended": true}`` (``shared/events.py``). A service
that must hold still declares::

    maintenance = Maintenance()

    @events.on_events("admin", (events.MAINTENANCE_STARTED, events.MAINTENANCE_ENDED),
                      handler_type=BROADCAST, reliable_delivery=False)
    def on_maintenance(self, payload):
        self.maintenance.apply(payload)

and asks ``self.maintenance.paused()``. A window ends by itself at ``until``, so a
lost ``maintenance_ended`` (or a crashed admin service) never pauses a service for
good.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Any

from nameko.extensions import DependencyProvider

from shared import events

log = logging.getLogger(__name__)


def _parse(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class MaintenanceView:
    """The windows this process knows of: id → (until, pause)."""

    def __init__(self) -> None:
        self._windows: dict[str, tuple[datetime, bool, str]] = {}
        self._lock = threading.Lock()

    def apply(self, payload: dict[str, Any] | None) -> None:
        """Take a ``maintenance_started`` or ``maintenance_ended`` payload (or the admin's
        ``get_maintenance`` answer: ``{"windows": [...]}``)."""
        if isinstance(payload, dict) and isinstance(payload.get("windows"), list):
            for window in payload["windows"]:
                self.apply(window)
            return
        if not isinstance(payload, dict) or not payload.get("id"):
            return
        with self._lock:
            if payload.get("ended"):
                self._windows.pop(str(payload["id"]), None)
                log.info("maintenance %s ended", payload["id"])
                return
            until = _parse(payload.get("until"))
            if until is None:
                return
            self._windows[str(payload["id"])] = (until, bool(payload.get("pause")),
                                                 str(payload.get("kind") or ""))
            log.info("maintenance %s (%s) until %s%s", payload["id"], payload.get("kind"),
                     payload.get("until"), ", paused" if payload.get("pause") else "")

    def _live(self, now: datetime | None = None) -> list[tuple[datetime, bool, str]]:
        now = now or datetime.now(UTC)
        with self._lock:
            for key in [k for k, (until, _, _) in self._windows.items() if until <= now]:
                self._windows.pop(key, None)
            return list(self._windows.values())

    def active(self, now: datetime | None = None) -> bool:
        """Whether any window is open (writes are held)."""
        return bool(self._live(now))

    def paused(self, now: datetime | None = None) -> bool:
        """Whether a window that pauses the scheduler and the runners is open."""
        return any(pause for _, pause, _ in self._live(now))

    def retry_after(self, now: datetime | None = None) -> int:
        """Seconds until the last open window ends at the latest (at least 1)."""
        now = now or datetime.now(UTC)
        live = self._live(now)
        if not live:
            return 0
        return max(1, min(5, int(max((u - now).total_seconds() for u, _, _ in live)) + 1))


class Maintenance(DependencyProvider):
    """One ``MaintenanceView`` per service container (every worker sees the same)."""

    def setup(self) -> None:
        self.view = MaintenanceView()

    def get_dependency(self, worker_ctx) -> MaintenanceView:
        return self.view


MAINTENANCE_EVENTS = (events.MAINTENANCE_STARTED, events.MAINTENANCE_ENDED)
