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

# A daily schedule: the slots a test makes due are the only ones that fire.
FAR = "0 4 * * *"
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
        # Every slot checkpointed: the tests read next_run_at from the database.
        "SCHEDULER_CHECKPOINT_S": 0.001,
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
    assert state["next_run_at"] == expected and state["changed_at"] <= datetime.now(UTC)
    changed_at = state["changed_at"]

    # the same deployment again (a resync): nothing the tick reads moved, nor changed_at
    dispatch("deployer", "deployment_updated", {"deployment": dep})
    time.sleep(0.5)
    assert schedules.find_one({"_id": dep["id"]})["changed_at"] == changed_at

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
    assert state["changed_at"] > changed_at

    dispatch(
        "deployer",
        "deployment_stopped",
        {"deployment": {**dep, "status": "inactive", "updated_at": "2026-11-26T00:00:02.000Z"}},
    )
    wait_for(lambda: schedules.find_one({"_id": dep["id"], "active": False}))
    dispatch("deployer", "deployment_deleted", {"deployment_id": dep["id"]})
    # a tombstone: every replica's timetable learns it from changed_at
    wait_for(lambda: schedules.find_one({"_id": dep["id"], "deleted": True, "active": False}))


def make_due(schedules, dep_id, slot):
    """Move a state's next slot as a deployer event would: ``changed_at`` moves, so
    every running replica reloads it."""
    schedules.update_one(
        {"_id": dep_id}, {"$set": {"next_run_at": slot, "changed_at": datetime.now(UTC)}}
    )


def unsettled(schedules) -> int:
    return schedules.database.schedule_batches.count_documents({"settled": False})


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
    # Not every minute: a real slot claimed ahead near a minute boundary would mix in.
    dep = make_deployment(max_concurrent=1, schedule=FAR)
    ACTIVE.append(dep)
    start(container_factory, config, FakeDeployer, SchedulerService, Collector)
    wait_for(lambda: schedules.find_one({"_id": dep["id"], "active": True}))
    runs = schedules.database.schedule_runs
    dispatch = event_dispatcher(config)
    execution = {"id": str(ObjectId()), "deployment_id": dep["id"], "status": "running"}
    dispatch("runner", "execution_started", {"execution": execution})
    wait_for(lambda: runs.find_one({"_id": execution["id"]}))

    slot = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    make_due(schedules, dep["id"], slot)
    state = wait_for(lambda: (s := schedules.find_one({"_id": dep["id"]}))["skips"] and s)
    assert [(s["slot"], s["reason"]) for s in state["skips"]] == [(slot, "max_concurrent")]
    assert by_deployment(dep["id"]) == []

    dispatch("runner", "execution_succeeded", {"execution": {**execution, "status": "succeeded"}})
    # a late, redelivered "started" must not make it running again
    dispatch("runner", "execution_started", {"execution": execution})
    wait_for(lambda: runs.find_one({"_id": execution["id"], "terminal": True}))
    time.sleep(0.3)
    # another slot (a slot is decided once: the same second again would be a duplicate)
    slot2 = max(datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1),
                slot + timedelta(seconds=1))
    make_due(schedules, dep["id"], slot2)
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
    # healthy replicas: every batch sent and settled, nothing re-sent
    assert unsettled(schedules) == 0
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
    """What a replica dying between its claim and its dispatch leaves behind: its batch
    unsettled, its lease run out, the claim in, no event. Two replicas start: the slot
    is sent exactly once, with its key, and the batch is settled."""
    dep = make_deployment(schedule="0 4 * * *")
    ACTIVE.append(dep)
    now = datetime.now(UTC).replace(microsecond=0)
    from services.scheduler import domain

    doc = domain.state_changes(dep, None, now)
    slot = doc["next_run_at"] - timedelta(days=1)  # claimed before the crash
    schedules.insert_one({"_id": dep["id"], "skips": [], **doc})
    plan = domain.plan_tick({**doc, "_id": dep["id"], "next_run_at": slot}, slot, 300)
    (claim,) = domain.claim_documents({"_id": dep["id"], **doc}, plan)
    schedules.database.schedule_batches.insert_one({
        "_id": "dead-batch", "claimed_by": "dead-replica", "fire_at": slot,
        "lease_until": now - timedelta(seconds=5), "settled": False, "redispatches": 0,
    })
    schedules.database.schedule_claims.insert_one({**claim, "batch": "dead-batch"})
    before = redispatched()

    start(container_factory, config, FakeDeployer, Collector)
    start(container_factory, config, SchedulerService, SchedulerService)
    key = cron.slot_key(dep["id"], slot)
    wait_for(lambda: by_deployment(dep["id"]))
    wait_for(lambda: unsettled(schedules) == 0)
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
    batch = schedules.database.schedule_batches.find_one({"_id": "dead-batch"})
    assert batch["redispatches"] == 1 and batch["claimed_by"] != "dead-replica"
    state = schedules.find_one({"_id": dep["id"]})
    assert state["next_run_at"] == doc["next_run_at"] and state["active"] is True


def test_replica_dying_after_its_claim(container_factory, config, schedules, monkeypatch):
    """The real claim writes: a replica "dies" right after them (the dispatch never
    runs); its batch is unsettled in the database, and a fresh replica sends it once."""
    from services.scheduler.dependencies import ScheduleStore

    real_claim = ScheduleStore.claim

    def claim_then_die(self, *args):
        real_claim(self, *args)
        raise RuntimeError("replica killed between its claim and its dispatch")

    config = {**config, "SCHEDULER_REDISPATCH_S": 1}
    dep = make_deployment()
    ACTIVE.append(dep)
    start(container_factory, config, FakeDeployer, Collector)
    monkeypatch.setattr(ScheduleStore, "claim", claim_then_die)
    (dying,) = start(container_factory, config, SchedulerService)
    wait_for(lambda: schedules.find_one({"_id": dep["id"], "active": True}))
    slot = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    make_due(schedules, dep["id"], slot)
    key = cron.slot_key(dep["id"], slot)
    claims = schedules.database.schedule_claims
    claim = wait_for(lambda: claims.find_one({"_id": key}))
    dying.kill()
    monkeypatch.undo()
    assert claim["slot"] == slot and claim["next_run_at"] > slot and claim["skip"] is None
    batch = schedules.database.schedule_batches.find_one({"_id": claim["batch"]})
    assert batch["settled"] is False and batch["claimed_by"].count("/") == 2
    # a late slot: leased from the claim on, not from its (past) fire time
    assert batch["lease_until"] == batch["claimed_at"] + timedelta(seconds=1)
    assert by_deployment(dep["id"]) == []

    before = redispatched()
    start(container_factory, config, SchedulerService)

    def sent():  # by key: a minute boundary during the test may fire the next slot too
        return [p for p in by_deployment(dep["id"]) if p["idempotency_key"] == key]

    wait_for(sent)
    wait_for(lambda: unsettled(schedules) == 0)
    time.sleep(1.5)  # three more ticks: nothing is sent again
    assert len(sent()) == 1 and sent()[0]["slot"] == cron.slot_iso(slot)
    assert redispatched() == before + 1


def _store(schedules, replica):
    from services.scheduler.dependencies import ScheduleStore

    store = ScheduleStore()
    store.db, store.replica = schedules.database, replica
    store.ensure_indexes()
    return store


def test_store_claims_are_unique_and_taken_over_once(schedules):
    """The repository against the real database: a slot is claimed by one insert, a
    second replica's is a duplicate key; a stale batch is taken over once."""
    from services.scheduler import domain

    a, b = _store(schedules, "replica-a"), _store(schedules, "replica-b")
    dep = make_deployment()
    now = datetime.now(UTC).replace(microsecond=0)
    due = _minute_floor(now)
    state = {"_id": dep["id"], **domain.state_changes(dep, None, now), "next_run_at": due}
    plan = domain.plan_tick(state, now, 300, now + timedelta(seconds=5))
    assert plan.fire == [due]
    batch_a, won = a.claim(domain.claim_documents(state, plan), due, 10, now)
    assert won == {cron.slot_key(dep["id"], due)}
    batch_b, lost = b.claim(domain.claim_documents(state, plan), due, 10, now)
    assert lost == set()
    batches = schedules.database.schedule_batches
    assert batches.find_one({"_id": batch_b})["settled"] is True  # nothing won: done
    # the slot is past (late): leased from the claim on
    assert batches.find_one({"_id": batch_a})["lease_until"] == now + timedelta(seconds=10)

    assert a.stale_batches(now + timedelta(seconds=9)) == []
    (stale,) = b.stale_batches(now + timedelta(seconds=10))
    later = now + timedelta(seconds=10)
    assert b.take_over(stale, later, 10) is True
    assert a.take_over(stale, later, 10) is False  # the lease it saw moved: b's turn
    (claim,) = b.batch_claims(batch_a)
    assert domain.claim_request(claim) == domain.execution_request(
        dep["id"], due, plan.next_run_at
    )
    taken = batches.find_one({"_id": batch_a})
    assert (taken["claimed_by"], taken["redispatches"]) == ("replica-b", 1)
    b.settle(batch_a)
    assert b.stale_batches(now + timedelta(days=1)) == []
    b.prune(due + timedelta(seconds=1))
    assert schedules.database.schedule_claims.count_documents({}) == 0
    assert batches.count_documents({}) == 0


def test_store_bulk_claim_and_checkpoint(schedules):
    """Many claims in one insert: the ones another replica has are told apart; the
    checkpoint moves next_run_at forward only, and not over a changed definition."""
    from services.scheduler import domain

    store = _store(schedules, "replica-a")
    now = datetime.now(UTC).replace(microsecond=0)
    due = _minute_floor(now)
    deps = [make_deployment() for _ in range(4)]
    states, plans, claims = [], [], []
    for dep in deps:
        doc = domain.state_changes(dep, None, now)
        schedules.insert_one({"_id": dep["id"], "skips": [], **doc, "next_run_at": due})
        state = {"_id": dep["id"], **doc, "next_run_at": due}
        plan = domain.plan_tick(state, now, 300)
        states.append(state)
        plans.append(plan)
        claims += domain.claim_documents(state, plan)
    # another replica claimed the first one meanwhile
    schedules.database.schedule_claims.insert_one({**claims[0], "batch": "other"})
    _, won = store.claim([dict(c) for c in claims], due, 10, now)
    assert won == {c["_id"] for c in claims[1:]}

    # deps[1]'s schedule changed meanwhile (the deployer's slot must stay)
    schedules.update_one({"_id": deps[1]["id"]}, {"$set": {"schedule": "0 * * * *"}})
    skipped = [(due, "max_concurrent")]
    store.checkpoint([[states[i], plans[i], skipped if i == 2 else []] for i in (1, 2, 3)], now)
    assert schedules.find_one({"_id": deps[1]["id"]})["next_run_at"] == due
    for i in (2, 3):
        doc = schedules.find_one({"_id": deps[i]["id"]})
        assert doc["next_run_at"] == plans[i].next_run_at
    assert [(s["slot"], s["reason"]) for s in
            schedules.find_one({"_id": deps[2]["id"]})["skips"]] == skipped
    # an older plan never moves it back
    store.checkpoint([[states[3], domain.TickPlan(next_run_at=due, last_slot=due), []]], now)
    assert schedules.find_one({"_id": deps[3]["id"]})["next_run_at"] == plans[3].next_run_at

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


def test_normal_fire_settles_its_batch(container_factory, config, schedules):
    dep = make_deployment(schedule=FAR)
    ACTIVE.append(dep)
    start(container_factory, config, FakeDeployer, SchedulerService, Collector)
    wait_for(lambda: schedules.find_one({"_id": dep["id"], "active": True}))
    before = redispatched()
    slot = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    make_due(schedules, dep["id"], slot)
    fired = wait_for(lambda: by_deployment(dep["id"]))
    assert [p["idempotency_key"] for p in fired] == [cron.slot_key(dep["id"], slot)]
    claim = schedules.database.schedule_claims.find_one({"_id": cron.slot_key(dep["id"], slot)})
    wait_for(lambda: schedules.database.schedule_batches.find_one(
        {"_id": claim["batch"], "settled": True}))
    wait_for(lambda: schedules.find_one({"_id": dep["id"]})["next_run_at"] > slot)
    assert redispatched() == before


def test_claims_ahead_and_fires_on_time(container_factory, config, schedules):
    """The slot is claimed before its time and sent at it, not a tick later."""
    dep = make_deployment(schedule=FAR)
    ACTIVE.append(dep)
    start(container_factory, {**config, "SCHEDULER_CLAIM_AHEAD_S": 2},
          FakeDeployer, SchedulerService, Collector)
    wait_for(lambda: schedules.find_one({"_id": dep["id"], "active": True}))
    slot = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
    make_due(schedules, dep["id"], slot)
    key = cron.slot_key(dep["id"], slot)
    claims = schedules.database.schedule_claims
    claim = wait_for(lambda: claims.find_one({"_id": key}), timeout=10)
    claimed = datetime.now(UTC)
    assert by_deployment(dep["id"]) == [] and claimed < slot  # claimed, not sent yet
    fired = wait_for(lambda: by_deployment(dep["id"]), timeout=10)
    arrived = datetime.now(UTC)
    assert [p["idempotency_key"] for p in fired] == [key] == [claim["_id"]]
    assert slot <= arrived < slot + timedelta(seconds=0.5)


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
        make_due(schedules, dep["id"], slot)
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
        wait_for(lambda: schedules.find_one({"_id": dep["id"], "deleted": True}))
