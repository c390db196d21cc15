"""The log shipping handler (shared/logship.py): it never blocks the code that logs,
drops the oldest records (counted) when its queue is full, never ships what its own
machinery logs, and keeps a failed batch until the broker takes it. Also the admin
side's pure parts (services/admin/syslogs.py): a batch → documents, query → filter."""

from __future__ import annotations

import logging
import socket
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY

from services.admin import syslogs
from shared import logship
from shared.errors import ValidationError
from shared.logs import RequestIdFilter


class Recorder:
    """A publish() that remembers batches; ``gate`` cleared = stuck (a broker that
    never answers); ``fail`` = raises (a broker that is down)."""

    def __init__(self):
        self.batches: list[list[dict]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.fail = False
        self.calls = 0
        self.log_inside = None

    def __call__(self, batch):
        self.calls += 1
        if self.log_inside:
            self.log_inside(batch)
        self.gate.wait()
        if self.fail:
            raise ConnectionRefusedError("broker down")
        self.batches.append(list(batch))

    def messages(self):
        return [item["message"] for batch in self.batches for item in batch]


@pytest.fixture
def make_logger():
    made = []

    def make(publish, **kwargs):
        handler = logship.ShippingHandler(f"unit-{len(made)}", publish=publish,
                                          flush_interval=0.02, max_backoff=0.1, **kwargs)
        handler.addFilter(RequestIdFilter(lambda: "rid-unit"))
        logger = logging.getLogger(f"tests.logship.{id(handler)}")
        logger.propagate = False
        logger.setLevel(logging.DEBUG)
        logger.addHandler(handler)
        made.append((logger, handler))
        return logger, handler

    yield make
    for logger, handler in made:
        logger.removeHandler(handler)
        handler.gate = None
        handler._closed = True
        handler.wake.set()


def wait_until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def metric(name, service):
    return REGISTRY.get_sample_value(name, {"service": service}) or 0.0


def test_records_are_shipped_in_batches_with_their_request_id(make_logger):
    publish = Recorder()
    logger, handler = make_logger(publish, batch_size=10)
    for n in range(25):
        logger.info("line %d", n)
    wait_until(lambda: len(publish.messages()) == 25)
    assert publish.messages() == [f"line {n}" for n in range(25)]
    assert all(len(batch) <= 10 for batch in publish.batches)
    item = publish.batches[0][0]
    assert item["service"] == handler.service
    assert item["level"] == "INFO" and item["levelno"] == logging.INFO
    assert item["request_id"] == "rid-unit"
    assert isinstance(item["at"], float) and item["host"]
    assert handler.shipped == 25
    assert metric("ml_log_records_shipped_total", handler.service) == 25


def test_a_stuck_sender_never_blocks_logging_and_drops_the_oldest_counted(make_logger):
    publish = Recorder()
    publish.gate.clear()  # the broker never answers
    logger, handler = make_logger(publish, capacity=100, batch_size=10)
    logger.info("first")
    wait_until(lambda: publish.calls == 1)  # the sender is stuck inside publish
    started = time.perf_counter()
    for n in range(5000):
        logger.warning("record %d", n)
    elapsed = time.perf_counter() - started
    assert elapsed < 2.0, f"5,000 log calls took {elapsed:.2f} s with the sender stuck"
    assert len(handler.queue) == 100
    assert handler.dropped == 5000 - 100
    assert metric("ml_log_records_dropped_total", handler.service) == 4900
    publish.gate.set()  # the broker answers again: the newest 100 go out, oldest gone
    wait_until(lambda: len(publish.messages()) == 101)
    assert publish.messages()[0] == "first"
    assert publish.messages()[1:] == [f"record {n}" for n in range(4900, 5000)]


def test_a_failing_broker_keeps_the_batch_and_retries(make_logger):
    publish = Recorder()
    publish.fail = True
    logger, handler = make_logger(publish, batch_size=5)
    for n in range(5):
        logger.error("kept %d", n)
    wait_until(lambda: publish.calls >= 3)
    assert handler.failures >= 3 and handler.shipped == 0
    publish.fail = False
    wait_until(lambda: handler.shipped == 5)
    assert publish.messages() == [f"kept {n}" for n in range(5)]
    assert handler.dropped == 0


def test_what_the_shipping_machinery_logs_is_never_shipped(make_logger):
    publish = Recorder()
    logger, handler = make_logger(publish, batch_size=1)
    # The sender logging (as kombu would, or any code it calls) into the same handler.
    publish.log_inside = lambda batch: logger.warning("inside publish of %d", len(batch))
    publish.fail = True
    logger.info("one")
    wait_until(lambda: publish.calls >= 4)  # failed tries: logship warns about them
    logging.getLogger("shared.logship").addHandler(handler)
    try:
        logging.getLogger("shared.logship").warning("about shipping")
        logging.getLogger("kombu.connection").warning("reconnecting")
        with logship.suppressed():
            logger.warning("stored by the admin service")
    finally:
        logging.getLogger("shared.logship").removeHandler(handler)
    publish.fail = False
    publish.log_inside = None
    wait_until(lambda: handler.shipped >= 1)
    time.sleep(0.1)
    assert publish.messages() == ["one"]
    assert len(handler.queue) == 0 and handler.dropped == 0


def test_exceptions_are_shipped_with_their_traceback(make_logger):
    publish = Recorder()
    logger, _ = make_logger(publish)
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("it failed")
    wait_until(lambda: publish.messages())
    message = publish.messages()[0]
    assert message.startswith("it failed\nTraceback") and "ValueError: boom" in message


def test_the_kombu_publisher_against_a_dead_broker_does_not_block_the_caller():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: nothing listens
    handler = logship.ShippingHandler("unit-dead-broker",
                                      amqp_uri=f"amqp://guest:guest@127.0.0.1:{port}//",
                                      flush_interval=0.02, max_backoff=0.1)
    logger = logging.getLogger("tests.logship.dead")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        started = time.perf_counter()
        for n in range(200):
            logger.warning("while the broker is down %d", n)
        assert time.perf_counter() - started < 1.0
        wait_until(lambda: handler.failures >= 2, timeout=15)
        assert handler.shipped == 0 and handler.dropped == 0
        assert len(handler.queue) + len(handler._pending or []) == 200
    finally:
        logger.removeHandler(handler)
        handler.close()


def test_log_shipping_off_makes_the_handler_inert(monkeypatch):
    monkeypatch.setenv("LOG_SHIPPING", "0")
    publish = Recorder()
    handler = logship.ShippingHandler("unit-off", publish=publish)
    handler.handle(logging.makeLogRecord({"msg": "x", "levelno": 20, "levelname": "INFO"}))
    assert not handler.queue and handler._thread is None


# -- the admin side's pure parts ---------------------------------------------------


def test_a_batch_becomes_documents_that_expire_and_bad_records_are_left_out():
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    body = {"records": [
        {"at": now.timestamp() - 60, "service": "registry", "level": "WARNING",
         "levelno": 30, "message": "x" * 20_000, "request_id": "abc", "logger": "l",
         "host": "h", "pid": 12},
        {"at": "not a time", "message": "bad"},
        "not a record",
        {"at": now.timestamp(), "message": "no level", "request_id": ""},
    ]}
    docs = syslogs.normalize(body, now, 7)
    assert [d["service"] for d in docs] == ["registry", "unknown"]
    first, second = docs
    assert first["at"] == now - timedelta(seconds=60)
    assert first["expire_at"] == first["at"] + timedelta(days=7)
    assert len(first["message"]) == syslogs.MAX_MESSAGE_CHARS
    assert second["level"] == "INFO" and second["levelno"] == 20
    assert second["request_id"] is None
    assert syslogs.normalize({"nope": 1}, now, 7) == []
    assert syslogs.normalize(None, now, 7) == []


def test_retention_is_the_setting_else_the_default():
    assert syslogs.retention_days({"log_retention_days": 3}) == 3
    assert syslogs.retention_days({"log_retention_days": 0}) == syslogs.DEFAULT_RETENTION_DAYS
    assert syslogs.retention_days({}, default=30) == 30


def test_query_filters():
    query = syslogs.LogQuery().load({"service": "runner", "level": "warning", "q": "a.b (x",
                                     "request_id": "r1", "from": "2026-01-01T00:00:00Z",
                                     "to": "2026-01-02T00:00:00Z"})
    where = syslogs.mongo_filter(query)
    assert where["service"] == "runner"
    assert where["levelno"] == {"$gte": 30}
    assert where["message"] == {"$regex": r"a\.b\ \(x", "$options": "i"}
    assert where["request_id"] == "r1"
    assert set(where["at"]) == {"$gte", "$lt"}
    with pytest.raises(ValidationError) as bad:
        syslogs.mongo_filter({"after": "zzz"})
    assert "after" in bad.value.details
    with pytest.raises(ValidationError) as bad:
        syslogs.mongo_filter(syslogs.LogQuery().load({"from": "2026-01-02T00:00:00Z",
                                                      "to": "2026-01-01T00:00:00Z"}))
    assert "from" in bad.value.details
