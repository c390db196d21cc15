"""A gateway process's own view of a service's broadcast events (revocations,
maintenance windows): one small kombu consumer thread (the gateway is a threaded Flask
app, not nameko) bound to the nameko events exchange through its OWN exclusive,
auto-delete queues, so every replica receives every event. When the consumer
(re)connects — at start, or after the broker was away and the exclusive queues were
lost with whatever they held — it asks the owning service for the current state
(``sync()``), retried every ``retry_s`` seconds until it answers; ``ready`` is set
after the first try, answered or not, so requests are never held while it is away.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from kombu import Connection, Exchange, Queue
from kombu.mixins import ConsumerMixin

log = logging.getLogger(__name__)


class EventFeed(ConsumerMixin):
    """Subclasses say what an event and a sync's answer do: ``apply_event``,
    ``apply_sync``."""

    name = "feed"

    def __init__(self, amqp_uri: str, exchange: Exchange, routing_keys: tuple[str, ...],
                 sync: Callable[[], Any], retry_s: float = 2.0):
        self.connection = Connection(amqp_uri, heartbeat=30)
        self.exchange = exchange
        self.routing_keys = routing_keys
        self.sync = sync
        self.retry_s = retry_s
        self.ready = threading.Event()
        self._synced = False
        self._last_try = 0.0
        self._thread: threading.Thread | None = None
        self.queue_name = f"gateway-{self.name}-{uuid.uuid4().hex}"

    def apply_event(self, body: Any) -> None:
        raise NotImplementedError

    def apply_sync(self, answer: Any) -> None:
        raise NotImplementedError

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name=f"{self.name}-feed", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.should_stop = True
        if self._thread is not None:
            self._thread.join(timeout)
        self.connection.release()

    # -- ConsumerMixin -----------------------------------------------------------

    def get_consumers(self, consumer_cls, channel):
        queues = [Queue(f"{self.queue_name}-{key}", self.exchange, routing_key=key,
                        exclusive=True, auto_delete=True, durable=False)
                  for key in self.routing_keys]
        return [consumer_cls(queues=queues, callbacks=[self.on_message], accept=["json"],
                             prefetch_count=100)]

    def on_consume_ready(self, connection, channel, consumers, **kwargs) -> None:
        # New queues: whatever happened while there were none is learnt by a sync.
        self._synced = False
        self._try_sync()

    def on_iteration(self) -> None:
        if not self._synced and time.monotonic() - self._last_try >= self.retry_s:
            self._try_sync()

    def on_connection_error(self, exc, interval) -> None:
        log.warning("%s feed: broker connection lost (%r), retrying in %ss",
                    self.name, exc, interval)

    def on_message(self, body: Any, message) -> None:
        try:
            self.apply_event(body)
        finally:
            message.ack()

    def _try_sync(self) -> None:
        self._last_try = time.monotonic()
        try:
            self.apply_sync(self.sync())
            self._synced = True
        except Exception as exc:  # the owner is away: retried soon
            log.warning("%s feed: cannot read the current state: %r", self.name, exc)
        self.ready.set()
