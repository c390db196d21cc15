"""``execution_requested`` events, many at once, each confirmed by the broker.

nameko's ``EventDispatcher`` waits for the broker's confirm of each message before the
next one (a round trip each: ~1 ms, 8 ms on a loaded machine — seconds for a thousand
slots due at one minute). This publisher sends a whole group on one channel in confirm
mode and then waits once for the broker's acks of all of them: the same guarantee
(``send`` returns only when RabbitMQ took every message; a nack, a timeout or a lost
connection raises), one round trip per group. The messages are nameko events: the
exchange ``scheduler.events``, the event type as routing key, JSON, persistent.
"""

from __future__ import annotations

import json
import time
from typing import Any

from amqp import Message
from kombu import Connection
from nameko.extensions import DependencyProvider
from nameko.standalone.events import get_event_exchange

SERVICE = "scheduler"


class NotConfirmed(Exception):
    """The broker refused (nack) or did not confirm every message in time."""


class EventPublisher(DependencyProvider):
    """``send(event_type, payloads)``: publish all, then wait for all the confirms."""

    def setup(self) -> None:
        self.uri = self.container.config["AMQP_URI"]
        self.timeout = float(self.container.config.get("RPC_TIMEOUT_S") or 10)
        self.exchange = get_event_exchange(SERVICE, self.container.config)
        self.connection: Connection | None = None
        self.channel: Any = None
        self.acked = self.nacked = self.published = 0

    def get_dependency(self, worker_ctx) -> EventPublisher:
        return self

    def stop(self) -> None:
        self._close()

    def kill(self) -> None:
        self._close()

    def _close(self) -> None:
        if self.connection is not None:
            try:
                self.connection.release()
            except Exception:  # already gone
                pass
        self.connection = self.channel = None

    def _open(self) -> None:
        connection = Connection(self.uri, connect_timeout=self.timeout)
        connection.ensure_connection(max_retries=1)
        channel = connection.channel()
        self.exchange(channel).declare()
        channel.confirm_select()
        channel.events["basic_ack"].add(self._on_ack)
        channel.events["basic_nack"].add(self._on_nack)
        self.connection, self.channel = connection, channel
        self.acked = self.nacked = self.published = 0

    def _on_ack(self, delivery_tag: int, multiple: bool) -> None:
        self.acked = delivery_tag if multiple else self.acked + 1

    def _on_nack(self, delivery_tag: int, multiple: bool) -> None:
        self.nacked += 1

    def send(self, event_type: str, payloads: list[dict[str, Any]]) -> None:
        """Publish every payload as the nameko event ``event_type``; returns once the
        broker confirmed them all (raises otherwise: some may have gone out)."""
        if not payloads:
            return
        try:
            if self.channel is None:
                self._open()
            for payload in payloads:
                message = Message(json.dumps(payload), content_type="application/json",
                                  content_encoding="utf-8", delivery_mode=2)
                self.channel.basic_publish(message, exchange=self.exchange.name,
                                           routing_key=event_type)
                self.published += 1
            deadline = time.monotonic() + self.timeout
            while self.acked < self.published and not self.nacked:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise NotConfirmed(f"{self.published - self.acked} message(s) not "
                                       f"confirmed in {self.timeout:.0f} s")
                self.connection.drain_events(timeout=left)
            if self.nacked:
                raise NotConfirmed(f"the broker refused {self.nacked} message(s)")
        except Exception:
            self._close()  # a fresh channel next time: no ack of this group can be mixed in
            raise
