"""System logs (« Journaux système ») against the real admin service (nameko container)
on the real broker and database, read over HTTP through the gateway (Flask test
client): a nameko service's records, shipped by ``shared.logship``'s sender — a green
thread in this eventlet-patched process, as in ``nameko run`` — are stored under their
request id and found with every filter; refused for the other roles; they expire."""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime, timedelta

import eventlet
import pytest
from nameko.rpc import rpc
from nameko.standalone.rpc import ServiceRpcProxy

from services.admin import syslogs
from services.admin.service import AdminService
from shared import logship
from shared.errors import EXPECTED
from shared.observability import Observability, RequestIdFilter
from shared.testing.gateway import gateway_app, gateway_config

pytestmark = pytest.mark.service

OTHER_ROLES = ("data-scientist", "business-user", "viewer")
log = logging.getLogger("tests.syslogs.chatty")


class ChattyService:
    """A service that logs while it works, under the caller's request id."""

    name = "chatty"
    observability = Observability()

    @rpc(expected_exceptions=EXPECTED)
    def work(self, word: str) -> str:
        log.info("working on %s", word)
        log.warning("Something Odd about %s", word)
        return word


@pytest.fixture
def shipping(service_config):
    """The ShippingHandler of every service's config.yml, on this test's vhost."""
    handler = logship.ShippingHandler("chatty", amqp_uri=service_config["AMQP_URI"],
                                      flush_interval=0.05)
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield handler
    root.removeHandler(handler)
    root.setLevel(previous)
    handler.close()


@pytest.fixture
def client(container_factory, service_config, token_issuer, shipping):
    for cls in (AdminService, ChattyService):
        container_factory(cls, service_config).start()
    with gateway_app(gateway_config(service_config, token_issuer)) as app:
        yield app.test_client()


def call_chatty(service_config, word: str) -> str:
    request_id = uuid.uuid4().hex
    with ServiceRpcProxy("chatty", service_config,
                         context_data={"request_id": request_id}) as chatty:
        assert chatty.work(word) == word
    return request_id


def logs(client, auth, **query) -> dict:
    response = client.get("/api/v1/admin/logs", query_string=query, headers=auth("admin"))
    assert response.status_code == 200, response.get_data(True)
    return response.json


def wait_logs(client, auth, predicate, timeout=20.0, **query) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        page = logs(client, auth, **query)
        if predicate(page):
            return page
        if time.monotonic() > deadline:
            raise AssertionError(f"not found in time: {page}")
        time.sleep(0.2)


def test_a_services_records_reach_the_store_under_their_request_id(client, auth, shipping,
                                                                    service_config):
    assert eventlet.patcher.is_monkey_patched("thread")  # as under ``nameko run``
    word = uuid.uuid4().hex[:8]
    request_id = call_chatty(service_config, word)
    page = wait_logs(client, auth, lambda p: len([i for i in p["items"]
                                                  if i["service"] == "chatty"]) >= 2,
                     request_id=request_id)
    chatty = [i for i in page["items"] if i["service"] == "chatty"]
    assert [i["message"] for i in chatty] == [f"Something Odd about {word}",
                                              f"working on {word}"]  # newest first
    assert [i["level"] for i in chatty] == ["WARNING", "INFO"]
    assert all(i["request_id"] == request_id and i["at"].endswith("Z") for i in chatty)
    # The sender really ran here, as a green thread of this process's hub.
    assert shipping._thread is not None and shipping._thread.is_alive()
    assert shipping.shipped >= 2 and shipping.dropped == 0


def test_filters_paging_and_the_live_follow_cursor(client, auth, service_config):
    word = uuid.uuid4().hex[:8]
    first = call_chatty(service_config, word)
    second = call_chatty(service_config, word)
    wait_logs(client, auth, lambda p: p["total"] >= 4, q=word)

    # text, ignoring case; level = that level and above; service; request id
    assert logs(client, auth, q=f"something ODD about {word}")["total"] == 2
    warnings = logs(client, auth, q=word, level="WARNING")
    assert warnings["total"] == 2 and {i["level"] for i in warnings["items"]} == {"WARNING"}
    assert logs(client, auth, q=word, level="error")["total"] == 0
    assert logs(client, auth, q=word, service="chatty")["total"] == 4
    assert logs(client, auth, q=word, service="registry")["total"] == 0
    by_id = logs(client, auth, request_id=first, service="chatty")
    assert by_id["total"] == 2 and {i["request_id"] for i in by_id["items"]} == {first}

    # newest first, paged
    everything = logs(client, auth, q=word)
    times = [i["at"] for i in everything["items"]]
    assert times == sorted(times, reverse=True)
    assert everything["items"][0]["request_id"] == second
    page2 = logs(client, auth, q=word, per_page=3, page=2)
    assert page2["total"] == 4 and len(page2["items"]) == 1
    assert page2["items"][0]["id"] == everything["items"][-1]["id"]

    # period
    now = datetime.now(UTC)
    assert logs(client, auth, q=word, **{"from": (now - timedelta(minutes=5)).isoformat(),
                                         "to": (now + timedelta(minutes=5)).isoformat()}
                )["total"] == 4
    assert logs(client, auth, q=word, to=(now - timedelta(minutes=5)).isoformat())["total"] == 0

    # live follow: after the cursor, only the lines stored since
    cursor = everything["cursor"]
    assert logs(client, auth, q=word, after=cursor)["items"] == []
    third = call_chatty(service_config, word)
    followed = wait_logs(client, auth, lambda p: len(p["items"]) >= 2, q=word, after=cursor)
    assert {i["request_id"] for i in followed["items"]} == {third}
    assert followed["cursor"] != cursor
    assert logs(client, auth, q=word, after=followed["cursor"])["items"] == []


@pytest.mark.parametrize("query, field", [
    ({"level": "LOUD"}, "level"),
    ({"after": "not-a-cursor"}, "after"),
    ({"from": "yesterday"}, "from"),
    ({"per_page": "500"}, "per_page"),
    ({"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "from"),
])
def test_a_bad_parameter_is_a_400_naming_it(client, auth, query, field):
    response = client.get("/api/v1/admin/logs", query_string=query, headers=auth("admin"))
    assert response.status_code == 400, response.get_data(True)
    error = response.json["error"]
    assert error["code"] == "validation_error" and field in error["details"]


@pytest.mark.parametrize("role", OTHER_ROLES)
def test_other_roles_are_refused(client, auth, role):
    response = client.get("/api/v1/admin/logs", headers=auth(role))
    assert response.status_code == 403 and response.json["error"]["code"] == "forbidden"


def test_without_a_token_401(client):
    assert client.get("/api/v1/admin/logs").status_code == 401


def test_old_records_expire_through_the_ttl_index(client, auth, mongo_db, service_config):
    index = [spec for spec in mongo_db[syslogs.SYSTEM_LOGS].index_information().values()
             if spec["key"] == [("expire_at", 1)]]
    assert index and index[0]["expireAfterSeconds"] == 0
    now = datetime.now(UTC)
    marker = uuid.uuid4().hex
    docs = syslogs.normalize({"records": [
        {"at": (now - timedelta(days=30)).timestamp(), "message": f"old {marker}"},
        {"at": now.timestamp(), "message": f"new {marker}"},
    ]}, now, 14)
    mongo_db[syslogs.SYSTEM_LOGS].insert_many(docs)
    assert logs(client, auth, q=marker)["total"] == 2
    mongo_db.client.admin.command("secantusAdmin.pruneTtl")  # the 60 s sweeper, now
    page = logs(client, auth, q=marker)
    assert [i["message"] for i in page["items"]] == [f"new {marker}"]


def test_with_the_store_away_work_goes_on_and_the_lines_arrive_later(
        container_factory, service_config, token_issuer, auth, shipping):
    """The admin service (the store) is not running: the service answers as usual, its
    lines wait in the broker's queue and are stored once the admin service starts."""
    container_factory(ChattyService, service_config).start()
    started = time.perf_counter()
    request_id = call_chatty(service_config, "offline")
    assert time.perf_counter() - started < 5
    deadline = time.monotonic() + 10
    while shipping.shipped < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert shipping.shipped >= 2  # published, nobody consuming yet
    container_factory(AdminService, service_config).start()
    with gateway_app(gateway_config(service_config, token_issuer)) as app:
        page = wait_logs(app.test_client(), auth,
                         lambda p: len([i for i in p["items"] if i["service"] == "chatty"]) >= 2,
                         request_id=request_id)
    assert {i["message"] for i in page["items"]} >= {"working on offline",
                                                     "Something Odd about offline"}
