"""The baseline of the RPC figure: a bare kombu request/reply echo on the same broker.

Server (own process): ``python -m bench.kombu_echo <AMQP_URI> [--like-nameko]`` consumes
``QUEUE`` and publishes each body back to the request's ``reply_to`` with its
``correlation_id``, acking after the reply like nameko does. ``KombuEchoClient`` is the
caller side: one exclusive reply queue, publish, drain until the matching reply.

Bare = transient messages, a non-durable queue, no publisher confirms. ``--like-nameko``
(``like_nameko=True`` on the client) uses nameko's publish options instead: publisher
confirms on every publish, persistent messages, a durable request queue, ``mandatory``
requests — to tell what those options cost from what nameko's own code costs.
"""

from __future__ import annotations

import signal
import sys
import uuid
from typing import Any

from kombu import Connection, Consumer, Producer, Queue

QUEUE = "bench.kombu_echo"


def _queue_name(like_nameko: bool) -> str:
    return f"{QUEUE}.durable" if like_nameko else QUEUE


def _connection(amqp_uri: str, like_nameko: bool) -> Connection:
    options = {"confirm_publish": True} if like_nameko else {}
    return Connection(amqp_uri, transport_options=options)


def serve(amqp_uri: str, like_nameko: bool = False) -> None:
    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    with _connection(amqp_uri, like_nameko) as connection:
        channel = connection.channel()
        producer = Producer(channel, serializer="json")
        queue = Queue(_queue_name(like_nameko), channel=channel, durable=like_nameko,
                      auto_delete=True)
        queue.declare()

        def on_request(body: Any, message) -> None:
            producer.publish(body, exchange="", routing_key=message.properties["reply_to"],
                             correlation_id=message.properties["correlation_id"],
                             delivery_mode=2 if like_nameko else 1)
            message.ack()

        with Consumer(channel, [queue], callbacks=[on_request], accept=["json"]):
            print("ready", flush=True)
            while not stopping:
                try:
                    connection.drain_events(timeout=0.5)
                except TimeoutError:
                    continue


class KombuEchoClient:
    """Sequential request/reply over a bare kombu connection."""

    exchange: Any = ""  # the default exchange (routing key = queue name)

    def __init__(self, amqp_uri: str, like_nameko: bool = False):
        self.like_nameko = like_nameko
        self.connection = _connection(amqp_uri, like_nameko)
        self.channel = self.connection.channel()
        self.producer = Producer(self.channel, serializer="json")
        name = f"bench.reply.{uuid.uuid4().hex}"
        if self.exchange:
            self.reply_queue = Queue(name, exchange=self.exchange, routing_key=name,
                                     channel=self.channel, exclusive=True, auto_delete=True,
                                     durable=False)
        else:
            self.reply_queue = Queue(name, channel=self.channel, exclusive=True,
                                     auto_delete=True, durable=False)
        self.reply_queue.declare()
        self.replies: dict[str, Any] = {}
        self.consumer = Consumer(self.channel, [self.reply_queue], callbacks=[self._on_reply],
                                 accept=["json"], no_ack=True)
        self.consumer.consume()

    def _on_reply(self, body: Any, message) -> None:
        self.replies[message.properties["correlation_id"]] = body

    def call(self, value: Any, timeout: float = 10.0) -> Any:
        correlation_id = uuid.uuid4().hex
        self.producer.publish(value, exchange="", routing_key=_queue_name(self.like_nameko),
                              reply_to=self.reply_queue.name, correlation_id=correlation_id,
                              delivery_mode=2 if self.like_nameko else 1,
                              mandatory=self.like_nameko)
        return self._wait(correlation_id, timeout)

    def _wait(self, correlation_id: str, timeout: float) -> Any:
        while correlation_id not in self.replies:
            self.connection.drain_events(timeout=timeout)
        return self.replies.pop(correlation_id)

    def close(self) -> None:
        try:
            self.consumer.cancel()
        finally:
            self.connection.release()


class KombuNamekoClient(KombuEchoClient):
    """A bare kombu caller of a *nameko* service (nameko's wire format, no nameko client):
    separates the nameko server's cost from the standalone ``ClusterRpcProxy``'s."""

    def __init__(self, amqp_uri: str):
        from nameko.rpc import get_rpc_exchange

        self.exchange = get_rpc_exchange({})
        super().__init__(amqp_uri)

    def call_method(self, service: str, method: str, *args: Any,
                    timeout: float = 10.0) -> Any:
        correlation_id = uuid.uuid4().hex
        self.producer.publish({"args": list(args), "kwargs": {}}, exchange=self.exchange,
                              routing_key=f"{service}.{method}",
                              reply_to=self.reply_queue.name, correlation_id=correlation_id)
        reply = self._wait(correlation_id, timeout)
        if reply.get("error"):
            raise RuntimeError(str(reply["error"]))
        return reply["result"]


if __name__ == "__main__":
    serve(sys.argv[1], like_nameko="--like-nameko" in sys.argv[2:])
