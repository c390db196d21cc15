"""The scheduler against the real broker and database (fake deployer and runner events).

``test_scheduler_soak_two_replicas`` is THE long one (~3 min of wall clock, marked
``soak``): deselect it with ``-m "not soak"``.
"""

from __future__ import annotations

import collections
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pymongo
import pytest
from bson import ObjectId
from nameko.events import event_handler
from nameko.rpc import rpc
from nameko.standalone.events import event_dispatcher

from services.scheduler.service import SchedulerService
from shared import cron
from shared.errors import EXPECTED
from shared.testing.deployer import MODELS, FakeRegistry, wait_for

pytestmark = pytest.mark.service

ACTIVE: list[dict] = []  # what the fake deployer's list_active_schedules returns
REQUESTED: list[dict] = []  # execution_requested payloads seen


class FakeDeployer:
    name = "deployer"

    @rpc(expected_exceptions=EXPECTED)
    def list_active_schedules(self):
        return list(ACTIVE)


class Collector:
    name = "scheduler_test_collector"

    @event_handler("scheduler", "execution_requested")
    def requested(self, payload):
        REQUESTED.append(payload)


def make_deployment(**overrides):
    return {
        "id": str(ObjectId()),
        "name": "d",
        "status": "active",
        "schedule": "* * * * *",
        "timezone": "UTC",
        "misfire_policy": "run_once",
        "max_concurrent": 1,
        "jitter_s": 0,
        "updated_at": "2026-11-26T00:00:00.000Z",
        **overrides,
    }


@pytest.fixture
def config(service_config):
    ACTIVE.clear()
    REQUESTED.clear()
    return {
        **service_config,
        "SCHEDULER_TICK_S": 0.5,
        "SCHEDULER_MISFIRE_GRACE_S": 5,
        "SCHEDULER_RESYNC_S": 300,
    }


@pytest.fixture
def schedules(mongo_uri, config):
    client = pymongo.MongoClient(mongo_uri, tz_aware=True)
    yield client[config["MONGO_DB"]].schedules
    client.close()


def start(container_factory, config, *classes):
    containers = [container_factory(cls, config) for cls in classes]
    for container in containers:
        container.start()
    return containers


def by_deployment(dep_id):
    return [p for p in REQUESTED if p["deployment_id"] == dep_id]


def test_state_follows_deployer_events(container_factory, config, schedules):
    start(container_factory, config, FakeDeployer, SchedulerService, Collector)
    dispatch = event_dispatcher(config)
    dep = make_deployment(schedule="30 2 * * *", timezone="Europe/Paris")
    dispatch("deployer", "deployment_started", {"deployment": dep})
    state = wait_for(lambda: schedules.find_one({"_id": dep["id"], "active": True}))
    expected = cron.next_run("30 2 * * *", "Europe/Paris", datetime.now(UTC))
    assert state["next_run_at"] == expected and state["due_at"] == expected

    # an older event (stale updated_at) changes nothing
    dispatch(
        "deployer",
        "deployment_stopped",
        {"deployment": {**dep, "status": "inactive", "updated_at": "2020-01-01T00:00:00Z"}},
    )
    time.sleep(0.5)
    assert schedules.find_one({"_id": dep["id"]})["active"] is True

    dispatch(
        "deployer",
        "deployment_updated",
        {
            "deployment": {
                **dep,
                "schedule": "0 5 * * *",
                "jitter_s": 60,
                "updated_at": "2026-11-26T00:00:01.000Z",
            }
        },
    )
    state = wait_for(
        lambda: (s := schedules.find_one({"_id": dep["id"]}))["schedule"] == "0 5 * * *" and s
    )
    assert state["jitter"] == cron.jitter_offset(dep["id"], 60)
    assert state["due_at"] == state["next_run_at"] + timedelta(seconds=state["jitter"])

    dispatch(
        "deployer",
        "deployment_stopped",
        {"deployment": {**dep, "status": "inactive", "updated_at": "2026-11-26T00:00:02.000Z"}},
    )
    wait_for(lambda: schedules.find_one({"_id": dep["id"], "active": False}))
    dispatch("deployer", "deployment_deleted", {"deployment_id": dep["id"]})
    wait_for(lambda: schedules.find_one({"_id": dep["id"]}) is None)


def _minute_floor(now: datetime) -> datetime:
    return now.replace(second=0, microsecond=0)


def test_downtime_misfire_policies(container_factory, config, schedules):
    """The scheduler was down for 3 minutes: every policy does what it says."""
    # Stay clear of a minute boundary so the current slot is late too (grace 1 s here).
    config = {**config, "SCHEDULER_MISFIRE_GRACE_S": 1}
    while not 4 <= datetime.now(UTC).second <= 45:
        time.sleep(0.5)
    deps = {
        policy: make_deployment(misfire_policy=policy)
        for policy in ("run_once", "skip", "catch_up")
    }
    ACTIVE.extend(deps.values())
    # The state as a previous scheduler left it, 3 minutes ago.
    start(container_factory, config, FakeDeployer)
    floor = _minute_floor(datetime.now(UTC))
    seen = floor - timedelta(minutes=3)
    from services.scheduler.domain import state_changes

    for dep in deps.values():
        doc = state_changes(dep, None, seen - timedelta(seconds=30))
        assert doc["next_run_at"] == seen
        schedules.insert_one({"_id": dep["id"], "skips": [], **doc})

    start(container_factory, config, SchedulerService, Collector)
    wait_for(
        lambda: all(
            schedules.find_one({"_id": d["id"]})["next_run_at"] > floor for d in deps.values()
        )
    )
    time.sleep(1.0)
    missed = [seen + timedelta(minutes=i) for i in range(4)]  # floor-3 .. floor

    run_once = by_deployment(deps["run_once"]["id"])
    assert [p["slot"] for p in run_once] == [cron.slot_iso(floor)]
    assert run_once[0]["idempotency_key"] == f"{deps['run_once']['id']}:{cron.slot_iso(floor)}"
    assert run_once[0]["trigger"] == "schedule"
    assert run_once[0]["next_run_at"] == cron.slot_iso(floor + timedelta(minutes=1))
    state = schedules.find_one({"_id": deps["run_once"]["id"]})
    assert [(s["slot"], s["reason"]) for s in state["skips"]] == [
        (slot, "misfire_coalesced") for slot in missed[:-1]
    ]

    assert by_deployment(deps["skip"]["id"]) == []
    state = schedules.find_one({"_id": deps["skip"]["id"]})
    assert [(s["slot"], s["reason"]) for s in state["skips"]] == [
        (slot, "misfire_skip") for slot in missed
    ]
    assert state["next_run_at"] == floor + timedelta(minutes=1)

    catch_up = by_deployment(deps["catch_up"]["id"])
    assert sorted(p["slot"] for p in catch_up) == [cron.slot_iso(s) for s in missed]
    assert schedules.find_one({"_id": deps["catch_up"]["id"]})["skips"] == []

    # the resync at startup kept the seen next_run_at (else nothing would have fired)
    assert len(REQUESTED) == 1 + 0 + 4


def test_max_concurrent_skips_overlapping_slot(container_factory, config, schedules):
    dep = make_deployment(max_concurrent=1)
    ACTIVE.append(dep)
    start(container_factory, config, FakeDeployer, SchedulerService, Collector)
    wait_for(lambda: schedules.find_one({"_id": dep["id"], "active": True}))
    runs = schedules.database.schedule_runs
    dispatch = event_dispatcher(config)
    execution = {"id": str(ObjectId()), "deployment_id": dep["id"], "status": "running"}
    dispatch("runner", "execution_started", {"execution": execution})
    wait_for(lambda: runs.find_one({"_id": execution["id"]}))

    slot = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    schedules.update_one({"_id": dep["id"]}, {"$set": {"next_run_at": slot, "due_at": slot}})
    state = wait_for(lambda: (s := schedules.find_one({"_id": dep["id"]}))["skips"] and s)
    assert [(s["slot"], s["reason"]) for s in state["skips"]] == [(slot, "max_concurrent")]
    assert by_deployment(dep["id"]) == []

    dispatch("runner", "execution_succeeded", {"execution": {**execution, "status": "succeeded"}})
    # a late, redelivered "started" must not make it running again
    dispatch("runner", "execution_started", {"execution": execution})
    wait_for(lambda: runs.find_one({"_id": execution["id"], "terminal": True}))
    time.sleep(0.3)
    slot2 = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    schedules.update_one({"_id": dep["id"]}, {"$set": {"next_run_at": slot2, "due_at": slot2}})
    fired = wait_for(lambda: by_deployment(dep["id"]))
    assert [p["slot"] for p in fired] == [cron.slot_iso(slot2)]


@pytest.mark.soak
def test_scheduler_soak_two_replicas(container_factory, config, schedules):
    """THE LONG ONE (~3 min): two schedulers, twenty every-minute deployments; every
    slot fires exactly once (no duplicate, none missing)."""
    deps = [make_deployment(jitter_s=10 if i % 4 == 0 else 0) for i in range(20)]
    ACTIVE.extend(deps)
    start(container_factory, config, FakeDeployer, Collector)
    start(
        container_factory, {**config, "SCHEDULER_TICK_S": 1.0}, SchedulerService, SchedulerService
    )
    wait_for(lambda: schedules.count_documents({"active": True}) == 20)
    redispatched_before = redispatched()
    began = datetime.now(UTC)
    first_slot = _minute_floor(began) + timedelta(minutes=1)
    slots = [first_slot + timedelta(minutes=i) for i in range(3)]
    # until the third slot has fired, jitter (< 10 s) and delivery included
    while datetime.now(UTC) < slots[-1] + timedelta(seconds=14):
        time.sleep(1)

    counts = collections.Counter(p["idempotency_key"] for p in REQUESTED)
    duplicates = {key: n for key, n in counts.items() if n > 1}
    assert duplicates == {}
    expected = {cron.slot_key(d["id"], s) for d in deps for s in slots}
    got = {key for key in counts if key.split(":", 1)[1] <= cron.slot_iso(slots[-1])}
    assert expected - got == set(), "slots never fired"
    assert got - expected == set(), "unexpected slots fired"
    for p in REQUESTED:  # jittered deployments fired no earlier than slot + offset
        assert p["trigger"] == "schedule"
    # healthy replicas: every dispatch confirmed and cleared, nothing re-sent
    assert schedules.count_documents({"pending.0": {"$exists": True}}) == 0
    assert redispatched() == redispatched_before


def test_failed_handler_is_requeued_not_lost(container_factory, config, schedules, monkeypatch):
    """TRAPS: a handler that raises drops the event unless it requeues; ours requeue."""
    from services.scheduler.dependencies import ScheduleStore

    real = ScheduleStore.apply_deployment
    calls = []

    def flaky(self, deployment, now):
        calls.append(deployment["id"])
        if len(calls) == 1:
            raise RuntimeError("database hiccup")
        return real(self, deployment, now)

    monkeypatch.setattr(ScheduleStore, "apply_deployment", flaky)
    start(container_factory, config, FakeDeployer, SchedulerService)
    dep = make_deployment()
    event_dispatcher(config)("deployer", "deployment_started", {"deployment": dep})
    wait_for(lambda: schedules.find_one({"_id": dep["id"], "active": True}))
    assert len(calls) >= 2


def test_malformed_events_are_dropped_not_looped(container_factory, config, schedules):
    start(container_factory, config, FakeDeployer, SchedulerService)
    dispatch = event_dispatcher(config)
    dispatch("deployer", "deployment_started", {"deployment": {"name": "no id"}})
    dispatch("runner", "execution_started", {"execution": {"id": "x"}})
    dep = make_deployment()
    dispatch("deployer", "deployment_started", {"deployment": dep})
    wait_for(lambda: schedules.find_one({"_id": dep["id"]}))
    assert schedules.count_documents({}) == 1
    assert schedules.database.schedule_runs.count_documents({}) == 0


# -- no lost schedule: a claim whose dispatch never happened is re-sent exactly once -----


def redispatched() -> float:
    from services.scheduler.service import REDISPATCHED

    return REDISPATCHED._value.get()


def test_slot_claimed_by_a_dead_replica_is_redispatched_once(container_factory, config, schedules):
    """The state a replica dying between its claim and its dispatch leaves behind: slot
    claimed (next_run_at advanced) and pending, no event. Two replicas start: the slot is
    sent exactly once, with its key, and is no longer pending."""
    dep = make_deployment(schedule="0 4 * * *")
    ACTIVE.append(dep)
    now = datetime.now(UTC)
    from services.scheduler.domain import pending_entries, state_changes

    doc = state_changes(dep, None, now)
    slot = doc["next_run_at"] - timedelta(days=1)  # fired (claimed) before the crash
    pending = pending_entries(
        dep["id"], [slot], doc["next_run_at"], now - timedelta(seconds=30), "dead-replica"
    )
    schedules.insert_one({"_id": dep["id"], "skips": [], **doc, "pending": pending})
    before = redispatched()

    start(container_factory, config, FakeDeployer, Collector)
    start(container_factory, config, SchedulerService, SchedulerService)
    key = cron.slot_key(dep["id"], slot)
    wait_for(lambda: by_deployment(dep["id"]))
    wait_for(lambda: schedules.find_one({"_id": dep["id"]})["pending"] == [])
    time.sleep(2.0)  # four more ticks of each replica: nothing is sent again
    assert by_deployment(dep["id"]) == [
        {
            "deployment_id": dep["id"],
            "slot": cron.slot_iso(slot),
            "trigger": "schedule",
            "idempotency_key": key,
            "next_run_at": cron.slot_iso(doc["next_run_at"]),
        }
    ]
    assert redispatched() == before + 1
    state = schedules.find_one({"_id": dep["id"]})
    assert state["next_run_at"] == doc["next_run_at"] and state["active"] is True


def test_replica_dying_after_its_claim(container_factory, config, schedules, monkeypatch):
    """The real claim write: a replica "dies" right after it (the dispatch never runs);
    its slot is pending in the database, and a fresh replica sends it once."""
    from services.scheduler.dependencies import ScheduleStore

    real_claim = ScheduleStore.claim

    def claim_then_die(self, claims, now):
        real_claim(self, claims, now)
        raise RuntimeError("replica killed between its claim and its dispatch")

    dep = make_deployment()
    ACTIVE.append(dep)
    start(container_factory, config, FakeDeployer, Collector)
    monkeypatch.setattr(ScheduleStore, "claim", claim_then_die)
    (dying,) = start(container_factory, config, SchedulerService)
    wait_for(lambda: schedules.find_one({"_id": dep["id"], "active": True}))
    slot = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    schedules.update_one({"_id": dep["id"]}, {"$set": {"next_run_at": slot, "due_at": slot}})
    state = wait_for(lambda: (s := schedules.find_one({"_id": dep["id"]})).get("pending") and s)
    dying.kill()
    monkeypatch.undo()
    key = cron.slot_key(dep["id"], slot)
    (entry,) = state["pending"]
    assert entry["idempotency_key"] == key and entry["slot"] == slot
    assert entry["next_run_at"] == state["next_run_at"] > slot
    assert entry["claimed_by"].count("/") == 2 and entry["claimed_at"] <= datetime.now(UTC)
    assert by_deployment(dep["id"]) == []

    before = redispatched()
    start(container_factory, {**config, "SCHEDULER_REDISPATCH_S": 1}, SchedulerService)

    def sent():  # by key: a minute boundary during the test may fire the next slot too
        return [p for p in by_deployment(dep["id"]) if p["idempotency_key"] == key]

    wait_for(sent)
    wait_for(lambda: schedules.find_one({"_id": dep["id"]})["pending"] == [])
    time.sleep(1.5)  # three more ticks: nothing is sent again
    assert len(sent()) == 1 and sent()[0]["slot"] == cron.slot_iso(slot)
    assert redispatched() == before + 1


def test_store_pending_writes_are_conditional(schedules):
    """The repository against the real database: the claim pushes the pending entries in
    its conditional write; a re-dispatch is claimed once per ``claimed_at`` seen."""
    from services.scheduler import domain
    from services.scheduler.dependencies import ScheduleStore

    store = ScheduleStore()
    store.db, store.replica = schedules.database, "replica-b"
    store.ensure_indexes()
    dep = make_deployment()
    now = datetime.now(UTC).replace(microsecond=0)
    doc = domain.state_changes(dep, None, now)
    due = _minute_floor(now)  # one due slot
    schedules.insert_one({"_id": dep["id"], "skips": [], **doc, "next_run_at": due, "due_at": due})
    seen = schedules.find_one({"_id": dep["id"]})
    plan = domain.plan_tick(seen, now, 300, 0)
    assert plan.fire == [due]
    pending = domain.pending_entries(
        dep["id"], plan.fire, plan.next_run_at, now - timedelta(seconds=30), "replica-a"
    )
    assert store.claim([(seen, plan, pending)], now) == {dep["id"]}
    assert store.claim([(seen, plan, pending)], now) == set()  # next_run_at moved: lost
    assert schedules.find_one({"_id": dep["id"]})["pending"] == pending

    cutoff = now - timedelta(seconds=10)
    assert store.stale_pending(now - timedelta(seconds=60)) == []
    (stale,) = store.stale_pending(cutoff)
    (entry,) = domain.stale_entries(stale["pending"], cutoff)
    assert store.claim_redispatch(dep["id"], entry, now) is True
    assert store.claim_redispatch(dep["id"], entry, now) is False  # another replica's turn
    (left,) = schedules.find_one({"_id": dep["id"]})["pending"]
    assert (left["claimed_at"], left["claimed_by"], left["redispatches"]) == (now, "replica-b", 1)
    assert store.stale_pending(cutoff) == []
    store.settle(dep["id"], [entry["idempotency_key"]])
    assert schedules.find_one({"_id": dep["id"]})["pending"] == []


def test_store_bulk_claim_and_settle(schedules):
    """Many claims in one write: the ones another replica advanced first are lost (and
    told apart); one settle clears exactly the entries of one claim that were sent."""
    from services.scheduler import domain
    from services.scheduler.dependencies import ScheduleStore

    store = ScheduleStore()
    store.db, store.replica = schedules.database, "replica-a"
    store.ensure_indexes()
    now = datetime.now(UTC).replace(microsecond=0)
    due = _minute_floor(now)
    deps = [make_deployment() for _ in range(4)]
    for dep in deps:
        doc = domain.state_changes(dep, None, now)
        schedules.insert_one(
            {"_id": dep["id"], "skips": [], **doc, "next_run_at": due, "due_at": due}
        )
    seen = store.due(now, 10)
    assert sorted(s["_id"] for s in seen) == sorted(d["id"] for d in deps)
    assert [s["_id"] for s in store.due(now, 10, descending=True)] == [
        s["_id"] for s in reversed(seen)
    ]
    assert len(store.due(now, 3)) == 3
    # another replica advanced the first one meanwhile
    schedules.update_one(
        {"_id": seen[0]["_id"]}, {"$set": {"next_run_at": due + timedelta(minutes=1)}}
    )
    claimed_at = domain.claim_time(datetime.now(UTC))
    claims = []
    for state in seen:
        plan = domain.plan_tick(state, now, 300, 0)
        pending = domain.pending_entries(
            state["_id"], plan.fire, plan.next_run_at, claimed_at, store.replica
        )
        claims.append((state, plan, pending))
    won = store.claim(claims, now)
    assert won == {s["_id"] for s in seen[1:]}
    assert schedules.count_documents({"pending.claimed_at": claimed_at}) == 3
    unsent = cron.slot_key(seen[1]["_id"], due)
    store.settle_claimed(claimed_at, "replica-b")  # not ours: nothing goes
    assert schedules.count_documents({"pending.claimed_at": claimed_at}) == 3
    store.settle_claimed(claimed_at, store.replica, [unsent])
    (left,) = schedules.find({"pending.0": {"$exists": True}})
    assert left["_id"] == seen[1]["_id"]
    assert [e["idempotency_key"] for e in left["pending"]] == [unsent]

    runs = schedules.database.schedule_runs
    runs.insert_many(
        [
            {"_id": "e1", "deployment_id": deps[0]["id"], "terminal": False, "updated_at": now},
            {"_id": "e2", "deployment_id": deps[0]["id"], "terminal": False, "updated_at": now},
            {"_id": "e3", "deployment_id": deps[1]["id"], "terminal": True, "updated_at": now},
            {
                "_id": "e4",
                "deployment_id": deps[2]["id"],
                "terminal": False,
                "updated_at": now - timedelta(days=2),
            },
        ]
    )
    counts = store.running_counts([d["id"] for d in deps], now, 86400)
    assert counts == {deps[0]["id"]: 2}


def test_normal_fire_leaves_no_pending_entry(container_factory, config, schedules):
    dep = make_deployment()
    ACTIVE.append(dep)
    start(container_factory, config, FakeDeployer, SchedulerService, Collector)
    wait_for(lambda: schedules.find_one({"_id": dep["id"], "active": True}))
    before = redispatched()
    slot = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    schedules.update_one({"_id": dep["id"]}, {"$set": {"next_run_at": slot, "due_at": slot}})
    fired = wait_for(lambda: by_deployment(dep["id"]))
    assert [p["idempotency_key"] for p in fired] == [cron.slot_key(dep["id"], slot)]
    # pushed by the claim (the field exists), pulled once the dispatch was confirmed
    wait_for(lambda: schedules.find_one({"_id": dep["id"]}).get("pending") == [])
    assert redispatched() == before


def test_with_the_real_deployer(container_factory, config, schedules):
    """Deployer events drive the state; a fired slot moves the deployer's next_run_at."""
    from nameko.standalone.rpc import ClusterRpcProxy

    from services.deployer.service import DeployerService

    model = {
        "id": str(ObjectId()),
        "name": "m",
        "version": "1.0.0",
        "status": "ready",
        "department": "d",
        "region": "r",
        "input_schema": None,
    }
    MODELS[model["id"]] = model
    start(container_factory, config, DeployerService, FakeRegistry, SchedulerService, Collector)
    with ClusterRpcProxy(config, timeout=20, context_data={"username": "u"}) as cluster:
        dep = cluster.deployer.create_deployment(
            {
                "name": "x",
                "model_id": model["id"],
                "schedule": "0 4 * * *",
                "timezone": "Europe/Paris",
                "jitter_s": 0,
            }
        )
        started = cluster.deployer.start_deployment(dep["id"])
        state = wait_for(lambda: schedules.find_one({"_id": dep["id"], "active": True}))
        assert cron.slot_iso(state["next_run_at"]) == started["next_run_at"].replace(".000", "")

        cluster.deployer.update_deployment(dep["id"], {"schedule": "15 5 * * *"})
        state = wait_for(
            lambda: (s := schedules.find_one({"_id": dep["id"]}))["schedule"] == "15 5 * * *" and s
        )
        assert state["next_run_at"].astimezone(ZoneInfo("Europe/Paris")).hour == 5

        # make the slot due now: it fires, and the deployer shows the following one
        slot = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
        schedules.update_one({"_id": dep["id"]}, {"$set": {"next_run_at": slot, "due_at": slot}})
        fired = wait_for(lambda: by_deployment(dep["id"]))
        assert fired[0]["idempotency_key"] == cron.slot_key(dep["id"], slot)
        wait_for(
            lambda: (
                cluster.deployer.get_deployment(dep["id"])["next_run_at"]
                == fired[0]["next_run_at"].replace("Z", ".000Z")
            )
        )

        cluster.deployer.stop_deployment(dep["id"])
        wait_for(lambda: schedules.find_one({"_id": dep["id"], "active": False}))
        cluster.deployer.delete_deployment(dep["id"])
        wait_for(lambda: schedules.find_one({"_id": dep["id"]}) is None)
