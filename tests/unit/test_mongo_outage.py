"""shared/mongo.py: database connection errors become one 503; bounded retries."""

from __future__ import annotations

import time

import pytest
from pymongo.errors import AutoReconnect, NetworkTimeout, ServerSelectionTimeoutError

from shared import mongo
from shared.artifacts import ArtifactStore
from shared.errors import NotFound, ServiceUnavailable


class FlakyRepo:
    def __init__(self, failures: int, exc: type[Exception] = AutoReconnect):
        self.failures = failures
        self.exc = exc
        self.calls = 0
        self.artifacts = ArtifactStore.__new__(ArtifactStore)
        self.name = "repo"

    def read(self):
        self.calls += 1
        if self.calls <= self.failures:
            raise self.exc("connection closed (configured timeouts: connectTimeoutMS: 20000.0ms)")
        return "ok"

    def missing(self):
        raise NotFound("no such thing")


@pytest.mark.parametrize("exc", [AutoReconnect, ServerSelectionTimeoutError, NetworkTimeout])
def test_guard_turns_driver_errors_into_service_unavailable(exc):
    guarded = mongo._Guarded(FlakyRepo(failures=1, exc=exc))
    with pytest.raises(ServiceUnavailable) as error:
        guarded.read()
    assert error.value.details == {"service": "database"}
    assert "connectTimeoutMS" not in error.value.message
    assert guarded.read() == "ok"  # the next call goes through
    assert guarded.name == "repo"  # plain attributes pass
    assert isinstance(guarded.artifacts, mongo._Guarded)  # the artifact store is guarded too
    with pytest.raises(NotFound):  # other errors are untouched
        guarded.missing()


def test_as_platform_error():
    assert isinstance(mongo.as_platform_error(AutoReconnect("x")), ServiceUnavailable)
    other = ValueError("x")
    assert mongo.as_platform_error(other) is other


def test_retry_db_rides_out_a_short_outage():
    repo = FlakyRepo(failures=3)
    assert mongo.retry_db(repo.read, budget_s=5) == "ok" and repo.calls == 4
    # through the guard's ServiceUnavailable too
    guarded = mongo._Guarded(FlakyRepo(failures=2))
    assert mongo.retry_db(guarded.read, budget_s=5) == "ok"


def test_retry_db_gives_up_after_its_budget():
    repo = FlakyRepo(failures=1000)
    started = time.monotonic()
    with pytest.raises(AutoReconnect):
        mongo.retry_db(repo.read, budget_s=0.5)
    assert time.monotonic() - started < 2.5
    with pytest.raises(NotFound):  # not a connection error: no retry
        mongo.retry_db(FlakyRepo(0).missing, budget_s=5)


def test_connect_uses_a_short_selection_timeout():
    client = mongo.connect("mongodb://127.0.0.1:1/?directConnection=true", 300)
    try:
        started = time.monotonic()
        with pytest.raises(ServerSelectionTimeoutError):
            client.admin.command("ping")
        assert time.monotonic() - started < 3
    finally:
        client.close()
