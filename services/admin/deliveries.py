"""The webhook delivery worker: works the durable ``webhook_deliveries`` collection.

Each replica polls every ``WEBHOOK_POLL_S`` for due deliveries and claims them one by
one (a conditional write with a lease, so two replicas never send the same attempt,
and a replica that dies mid-send leaves it to another once the lease expires). Each
claimed delivery is sent on a green thread of a bounded pool (``WEBHOOK_CONCURRENCY``)
with a timeout (``WEBHOOK_TIMEOUT_S``): a slow or dead receiver holds one green thread
for at most that long, never the hub and never a request. A failed attempt is retried
after ``WEBHOOK_RETRY_BASE_S`` · 2^(n-1) (capped at ``WEBHOOK_RETRY_MAX_S``) until
``WEBHOOK_MAX_ATTEMPTS``; every attempt is recorded.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

import eventlet
from eventlet.event import Event
from nameko.extensions import DependencyProvider
from prometheus_client import Counter, Histogram

from services.admin import domain, webhooks
from services.admin.dependencies import AdminRepository
from shared.mongo import utcnow
from shared.settings import defaults

log = logging.getLogger(__name__)

ATTEMPTS = Counter("ml_webhook_attempts_total", "Webhook delivery attempts", ["outcome"])
DURATION = Histogram("ml_webhook_attempt_seconds", "Webhook attempt duration",
                     buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))


class DeliveryWorker(DependencyProvider):
    """Sends pending webhook deliveries (see the module docstring)."""

    def setup(self) -> None:
        config = self.container.config
        self.poll_s = float(config.get("WEBHOOK_POLL_S") or 1)
        self.timeout_s = float(config.get("WEBHOOK_TIMEOUT_S") or 10)
        self.base_s = float(config.get("WEBHOOK_RETRY_BASE_S") or 5)
        self.max_s = float(config.get("WEBHOOK_RETRY_MAX_S") or 3600)
        self.max_attempts = int(config.get("WEBHOOK_MAX_ATTEMPTS") or 10)
        self.lease_s = max(float(config.get("WEBHOOK_LEASE_S") or 0), self.timeout_s * 3)
        self.pool = eventlet.GreenPool(int(config.get("WEBHOOK_CONCURRENCY") or 10))
        self.repo: AdminRepository = next(
            dep for dep in self.container.dependencies if isinstance(dep, AdminRepository))
        self._wake = Event()

    def start(self) -> None:
        self.container.spawn_managed_thread(self._loop)

    def stop(self) -> None:
        self.pool.waitall()

    def kill(self) -> None:
        pass

    def get_dependency(self, worker_ctx) -> DeliveryWorker:
        return self

    def wake(self) -> None:
        """Something was queued: look now rather than at the next poll."""
        if not self._wake.ready():
            self._wake.send(True)

    # -- the loop ---------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            try:
                self.work_once()
            except Exception:  # a database hiccup: try again at the next poll
                log.warning("webhook delivery poll failed", exc_info=True)
            with eventlet.Timeout(self.poll_s, False):
                self._wake.wait()
            self._wake = Event()

    def work_once(self) -> int:
        """Claim what is due while the pool has room; returns how many were started."""
        started = 0
        while self.pool.free() > 0:
            now = utcnow()
            doc = self.repo.claim_due(now, now + timedelta(seconds=self.lease_s))
            if doc is None:
                break
            self.pool.spawn_n(self._deliver_safely, doc)
            started += 1
        return started

    def _deliver_safely(self, doc: dict[str, Any]) -> None:
        try:
            self.deliver(doc)
        except Exception:  # the lease expires and the delivery is claimed again
            log.exception("webhook delivery %s failed unexpectedly", doc.get("_id"))

    def _allowed_hosts(self) -> list[str]:
        values, _ = self.repo.get_settings()
        hosts = (values or {}).get("webhook_allowed_hosts")
        return list(hosts if hosts is not None else defaults()["webhook_allowed_hosts"])

    def deliver(self, doc: dict[str, Any]) -> None:
        """One attempt of one claimed delivery, recorded."""
        now = utcnow()
        attempt_no = int(doc.get("attempt_count", 0)) + 1
        try:
            integration = self.repo._integration(doc["integration_id"])
        except Exception:
            integration = None
        if integration is None:
            self.repo.finish_attempt(doc["_id"], {"attempt": attempt_no, "at": now,
                                                  "status_code": None, "duration_ms": 0,
                                                  "error": "the integration was deleted"},
                                     {"status": "failed", "lease_until": None})
            return
        body = doc["body"]
        request_headers = webhooks.headers(integration["secret"], doc["webhook_id"], body)
        outcome = webhooks.send(integration["url"], body, request_headers,
                                self._allowed_hosts(), self.timeout_s)
        DURATION.observe(outcome.duration_ms / 1000)
        ATTEMPTS.labels("delivered" if outcome.ok else "failed").inc()
        attempt = {"attempt": attempt_no, "at": now, "status_code": outcome.status_code,
                   "duration_ms": outcome.duration_ms, "error": outcome.error}
        if outcome.ok:
            changes = {"status": "delivered", "delivered_at": utcnow(), "lease_until": None,
                       "next_attempt_at": None}
        elif attempt_no >= self.max_attempts:
            changes = {"status": "failed", "lease_until": None, "next_attempt_at": None}
        else:
            changes = {"status": "pending", "lease_until": None,
                       "next_attempt_at": domain.next_attempt(attempt_no, utcnow(),
                                                              self.base_s, self.max_s)}
        self.repo.finish_attempt(doc["_id"], attempt, changes)
        if not outcome.ok:
            log.info("webhook %s to integration %s: attempt %d failed (%s)", doc["webhook_id"],
                     doc["integration_id"], attempt_no, outcome.error)


def new_delivery(integration: dict[str, Any], event_type: str, payload: dict[str, Any],
                 source_key: str) -> dict[str, Any]:
    """The pending delivery document of one event for one integration."""
    from bson import ObjectId

    now = utcnow()
    webhook_id = f"msg_{ObjectId()}"
    body = json.dumps(domain.webhook_body(webhook_id, event_type, payload, now),
                      separators=(",", ":"), default=str)
    return {
        "integration_id": str(integration["_id"]),
        "source_key": source_key,
        "webhook_id": webhook_id,
        "event_type": event_type,
        "body": body,
        "status": "pending",
        "attempt_count": 0,
        "attempts": [],
        "created_at": now,
        "next_attempt_at": now,
        "lease_until": None,
        "delivered_at": None,
    }
