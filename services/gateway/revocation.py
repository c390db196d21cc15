"""Token revocation at the gateway: a deny-list fed by the auth service's events.

Deactivating a user or changing their role makes the auth service dispatch
``user_updated`` with ``revoked_at``. Each gateway process runs one small kombu
consumer thread (the gateway is a threaded Flask app, not nameko) bound to the
nameko events exchange ``auth.events`` through its OWN exclusive, auto-delete queue,
so every replica receives every event. The deny-list maps a user (``sub``) to the
time of the change; an access token issued (``iat``) at or before it is refused
with 401. Nothing is asked of the auth service per request.

When the consumer (re)connects — at start, or after the broker was away and the
queue (exclusive) was lost with whatever it held — it asks the auth service for
every revocation (``revocations_since``), so nothing missed stays accepted.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from kombu import Exchange
from prometheus_client import Counter, Gauge

from services.gateway.event_feed import EventFeed
from shared import events

log = logging.getLogger(__name__)

REFUSED = Counter("ml_gateway_revoked_tokens_total",
                  "Access tokens refused because their user was deactivated or changed role")
DENIED_USERS = Gauge("ml_gateway_revocation_users",
                     "Users in the gateway's token deny-list")
#: nameko's event exchange of a service is ``<service>.events`` (topic, durable).
EXCHANGE = Exchange("auth.events", type="topic", durable=True)


def epoch(value: str | None) -> float | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


class DenyList:
    """``sub`` → time (epoch s) before which that user's tokens are refused."""

    def __init__(self) -> None:
        self._revoked: dict[str, float] = {}
        self._lock = threading.Lock()

    def revoke(self, sub: str, at: float) -> None:
        with self._lock:
            self._revoked[sub] = max(at, self._revoked.get(sub, 0.0))
            DENIED_USERS.set(len(self._revoked))

    def refuses(self, claims: dict[str, Any]) -> bool:
        """Whether the token of these claims was issued at or before its user's revocation
        (``iat`` is in whole seconds: a token of the same second is refused too)."""
        at = self._revoked.get(str(claims.get("sub")))
        if at is None:
            return False
        iat = claims.get("iat")
        refused = not isinstance(iat, int | float) or iat <= at
        if refused:
            REFUSED.inc()
        return refused


class RevocationFeed(EventFeed):
    """The consumer thread: ``user_updated`` events → ``deny``; ``sync()`` on (re)connect.

    ``sync()`` returns ``[{"user_id", "revoked_at"}]`` (the auth RPC
    ``revocations_since``); a failed sync is retried every ``retry_s`` seconds.
    """

    name = "revocations"

    def __init__(self, amqp_uri: str, deny: DenyList,
                 sync: Callable[[], list[dict[str, Any]]], retry_s: float = 2.0):
        super().__init__(amqp_uri, EXCHANGE, (events.USER_UPDATED,), sync, retry_s)
        self.deny = deny

    def apply_event(self, body: Any) -> None:
        if isinstance(body, dict):
            at = epoch(body.get("revoked_at"))
            user = body.get("user") or {}
            if at is not None and user.get("id"):
                self.deny.revoke(str(user["id"]), at)
                log.info("tokens of user %s issued before %s are refused",
                         user.get("username"), body.get("revoked_at"))

    def apply_sync(self, revocations: list[dict[str, Any]]) -> None:
        for item in revocations:
            at = epoch(item.get("revoked_at"))
            if at is not None and item.get("user_id"):
                self.deny.revoke(str(item["user_id"]), at)


class Revocations:
    """What the gateway state holds: the deny-list and its feed, started on first use
    (nothing connects when the app is created). The first request waits up to
    ``start_wait_s`` for the first sync, so a restarted gateway does not let a
    revoked token through in its first second."""

    def __init__(self, amqp_uri: str, sync: Callable[[], list[dict[str, Any]]],
                 enabled: bool = True, start_wait_s: float = 3.0):
        self.deny = DenyList()
        self.enabled = enabled
        self.start_wait_s = start_wait_s
        self._amqp_uri = amqp_uri
        self._sync = sync
        self._feed: RevocationFeed | None = None
        self._lock = threading.Lock()

    def _ensure_started(self) -> None:
        if self._feed is None:
            with self._lock:
                if self._feed is None:
                    feed = RevocationFeed(self._amqp_uri, self.deny, self._sync)
                    feed.start()
                    feed.ready.wait(self.start_wait_s)
                    self._feed = feed

    def refuses(self, claims: dict[str, Any]) -> bool:
        if not self.enabled:
            return False
        self._ensure_started()
        return self.deny.refuses(claims)

    def close(self) -> None:
        if self._feed is not None:
            self._feed.stop()
