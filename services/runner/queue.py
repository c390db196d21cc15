"""The durable execution queue on RabbitMQ.

* ``ExecutionQueue`` (DependencyProvider): publishes ``{"execution_id": ...}``
  as a persistent message (publisher confirms) to a durable queue declared
  with kombu. Only the id travels: inputs and results stay in the artifact
  store.
* ``execution_consumer`` (Entrypoint): each replica consumes that queue on its
  own connection with ``prefetch_count = RUNNER_SLOTS``, spawns one nameko
  worker per message and acks (or requeues) only once the worker returned,
  i.e. once the final state of the execution is written. A replica killed
  mid-run never acks: the broker gives the message to another replica (or the
  restarted one), which finds the lease expired and takes over.

Acks go through the consumer's own green thread: a kombu channel must not be
written to by two green threads at once.
"""

from __future__ import annotations

import collections
import logging
import os
import time
from typing import Any

import eventlet
from kombu import Connection, Exchange, Producer, Queue
from nameko.extensions import DependencyProvider, Entrypoint

log = logging.getLogger(__name__)

ACK, REQUEUE = "ack", "requeue"


def queue_name(config: dict[str, Any]) -> str:
    return str(config.get("RUNNER_QUEUE") or "runner.executions")


def slots(config: dict[str, Any]) -> int:
    """``RUNNER_SLOTS`` (0 or unset: the number of cores)."""
    value = int(config.get("RUNNER_SLOTS") or 0)
    return value if value > 0 else (os.cpu_count() or 1)


def declare_queue(config: dict[str, Any]) -> Queue:
    # The default exchange routes by queue name; durable queue + persistent messages
    # survive a broker restart.
    # RUNNER_QUEUE_TYPE=quorum for a replicated queue in production (RabbitMQ ≥ 3.8);
    # an existing queue keeps the type it was declared with.
    arguments = {}
    if str(config.get("RUNNER_QUEUE_TYPE") or "classic") == "quorum":
        arguments["x-queue-type"] = "quorum"
    return Queue(queue_name(config), exchange=Exchange(""), routing_key=queue_name(config),
                 durable=True, auto_delete=False, queue_arguments=arguments or None)


class ExecutionQueue(DependencyProvider):
    """Publishes execution ids to the durable queue (one connection per publish)."""

    def setup(self) -> None:
        self.config = self.container.config
        self.queue = declare_queue(self.config)

    def publish(self, execution_id: str) -> None:
        """Queue ``execution_id``; returns once the broker confirmed it."""
        with Connection(self.config["AMQP_URI"],
                        transport_options={"confirm_publish": True}) as conn:
            producer = Producer(conn)
            producer.publish(
                {"execution_id": execution_id},
                exchange="", routing_key=self.queue.routing_key, declare=[self.queue],
                delivery_mode=2, serializer="json", retry=True,
                retry_policy={"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5},
            )

    def get_dependency(self, worker_ctx):
        return self


class ExecutionConsumer(Entrypoint):
    """Consumes the execution queue; the decorated method gets ``execution_id``.

    The method returns ``"ack"`` (final state written, or nothing to do) or
    ``"requeue"`` (give the message back, e.g. the replica is stopping).
    """

    def setup(self) -> None:
        self.config = self.container.config
        self.queue = declare_queue(self.config)
        self.prefetch = slots(self.config)
        self.stopping = False
        self.inflight = 0
        self.connected = False
        self._pending: collections.deque = collections.deque()
        self._thread = None
        self._generation = 0  # bumps on reconnect: old delivery tags are dead

    def start(self) -> None:
        self._thread = self.container.spawn_managed_thread(self._run,
                                                           identifier="execution_consumer")

    def stop(self) -> None:
        """Stop taking messages, let running workers finish, flush their acks."""
        self.stopping = True
        deadline = time.monotonic() + 60
        while (self.inflight or self._pending) and time.monotonic() < deadline:
            eventlet.sleep(0.1)
        eventlet.sleep(0.3)  # let the consumer thread send the last acks
        if self._thread is not None:
            self._thread.kill()
            self._thread = None

    def kill(self) -> None:
        self.stopping = True
        if self._thread is not None:
            self._thread.kill()
            self._thread = None

    # -- the consumer thread ------------------------------------------------------

    def _run(self) -> None:
        while not self.stopping:
            try:
                self._consume()
            except Exception as exc:  # broker gone: retry; unacked messages come back
                self.connected = False
                if self.stopping:
                    return
                log.warning("execution queue consumer: %r; reconnecting", exc)
                eventlet.sleep(1.0)

    def _consume(self) -> None:
        heartbeat = int(self.config.get("HEARTBEAT", 60) or 0)
        with Connection(self.config["AMQP_URI"], heartbeat=heartbeat) as conn:
            conn.ensure_connection(max_retries=1)
            self._generation += 1
            generation = self._generation
            channel = conn.channel()
            channel.basic_qos(0, self.prefetch, False)
            queue = self.queue(channel)
            queue.declare()

            def on_message(body, message):
                self._dispatch(body, message, generation)

            consumer = conn.Consumer(queue, callbacks=[on_message], accept=["json"],
                                     channel=channel)
            consumer.qos(prefetch_count=self.prefetch)
            consumer.consume()
            self.connected = True
            last_beat = time.monotonic()
            cancelled = False
            while True:
                self._flush(generation)
                if self.stopping and not cancelled:
                    consumer.cancel()  # no new deliveries; running ones still ack
                    cancelled = True
                if cancelled and not self.inflight and not self._pending:
                    return
                try:
                    conn.drain_events(timeout=0.2)
                except TimeoutError:
                    pass
                if heartbeat and time.monotonic() - last_beat > 1.0:
                    conn.heartbeat_check()
                    last_beat = time.monotonic()

    def _flush(self, generation: int) -> None:
        while self._pending:
            message, action, gen = self._pending.popleft()
            if gen != generation:
                continue  # its channel is gone: the broker redelivers it anyway
            if action == REQUEUE:
                message.requeue()
            else:
                message.ack()

    def _dispatch(self, body: Any, message, generation: int) -> None:
        execution_id = body.get("execution_id") if isinstance(body, dict) else None
        if not execution_id:
            log.warning("execution queue: dropping malformed message %r", body)
            self._pending.append((message, ACK, generation))
            return
        self.inflight += 1

        def handle_result(worker_ctx, result, exc_info):
            self.inflight -= 1
            if exc_info is not None:
                # An unexpected error (database down, ...): give the message back,
                # not in a hot loop.
                eventlet.sleep(1.0)
                action = REQUEUE
            else:
                action = REQUEUE if result == REQUEUE else ACK
            self._pending.append((message, action, generation))
            return result, exc_info

        self.container.spawn_worker(self, (execution_id,), {}, context_data={},
                                    handle_result=handle_result)


execution_consumer = ExecutionConsumer.decorator
