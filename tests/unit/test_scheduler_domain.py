"""Scheduler logic without broker or database: state from deployments, tick plans, and
the tick entrypoint with a hand-written fake store (nameko worker_factory)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from nameko.testing.services import worker_factory

from services.deployer import domain as deployer_domain
from services.scheduler import domain
from services.scheduler.outbox import Batch, Outbox
from services.scheduler.service import SchedulerService
from services.scheduler.timetable import Timetable, fire_time
from shared import cron
from shared.maintenance import MaintenanceView
from shared.mongo import utcnow

NOW = datetime(2026, 11, 26, 10, 0, 30, tzinfo=UTC)


def deployment(**overrides):
    return {
        "id": "d1",
        "status": "active",
        "schedule": "* * * * *",
        "timezone": "UTC",
        "misfire_policy": "run_once",
        "max_concurrent": 1,
        "jitter_s": 0,
        "updated_at": "2026-11-26T10:00:00.000Z",
        **overrides,
    }


def state(**overrides):
    changes = domain.state_changes(deployment(), None, NOW - timedelta(minutes=1))
    return {"_id": "d1", "skips": [], **changes, **overrides}


def test_state_changes_keep_next_run_when_schedule_unchanged():
    fresh = domain.state_changes(deployment(), None, NOW)
    assert fresh["active"] and fresh["next_run_at"] == datetime(2026, 11, 26, 10, 1, tzinfo=UTC)
    old = {**fresh, "next_run_at": NOW - timedelta(minutes=3)}
    same = domain.state_changes(deployment(max_concurrent=3), old, NOW)
    assert "next_run_at" not in same and same["max_concurrent"] == 3
    moved = domain.state_changes(deployment(schedule="0 * * * *"), old, NOW)
    assert moved["next_run_at"] == datetime(2026, 11, 26, 11, 0, tzinfo=UTC)
    stopped = domain.state_changes(deployment(status="inactive"), old, NOW)
    assert stopped["active"] is False and stopped["next_run_at"] is None
    unscheduled = domain.state_changes(deployment(schedule=None), old, NOW)
    assert unscheduled["active"] is False


def test_state_changes_jitter():
    changes = domain.state_changes(deployment(jitter_s=30), None, NOW)
    assert changes["jitter"] == cron.jitter_offset("d1", 30)
    first = {"_id": "d1", **changes}
    assert fire_time(first) == changes["next_run_at"] + timedelta(seconds=changes["jitter"])


def test_changed_only_when_the_tick_reads_it():
    fresh = domain.state_changes(deployment(), None, NOW)
    assert domain.changed(fresh, None)
    stored = {**fresh, "synced_at": NOW - timedelta(hours=1)}
    resync = domain.state_changes(deployment(), stored, NOW)  # same: next_run_at kept
    assert not domain.changed(resync, stored)
    assert domain.changed(domain.state_changes(deployment(max_concurrent=2), stored, NOW), stored)
    assert domain.changed(domain.state_changes(deployment(status="inactive"), stored, NOW), stored)
    assert domain.changed(resync, {**stored, "deleted": True})


def test_plan_tick_on_time_and_ahead():
    s = state(next_run_at=datetime(2026, 11, 26, 10, 0, tzinfo=UTC))
    plan = domain.plan_tick(s, NOW, grace_s=60)
    assert plan.fire == [s["next_run_at"]] and plan.skipped == []
    assert plan.next_run_at == datetime(2026, 11, 26, 10, 1, tzinfo=UTC)
    # claimed ahead: the slot of 10:01 is due by the horizon, and on time (not late)
    ahead = domain.plan_tick(
        {**s, "next_run_at": plan.next_run_at}, NOW, 0, NOW + timedelta(seconds=31)
    )
    assert ahead.fire == [plan.next_run_at] and ahead.late == 0
    assert domain.plan_tick({**s, "next_run_at": plan.next_run_at}, NOW, 0).last_slot is None


def test_over_limit():
    s = state()
    assert not domain.over_limit(s, 0)
    assert domain.over_limit(s, 1)
    assert not domain.over_limit({**s, "max_concurrent": 2}, 1)


def test_claim_documents_one_per_slot_decided():
    slot = datetime(2026, 11, 26, 9, 57, tzinfo=UTC)
    s = state(next_run_at=slot, jitter=7)
    plan = domain.plan_tick(s, NOW + timedelta(seconds=30), grace_s=10)  # run_once, late
    docs = domain.claim_documents(s, plan)
    assert [(d["slot"], d["skip"]) for d in docs] == [
        (slot, "misfire_coalesced"),
        (slot + timedelta(minutes=1), "misfire_coalesced"),
        (slot + timedelta(minutes=2), "misfire_coalesced"),
        (slot + timedelta(minutes=3), None),
    ]
    last = docs[-1]
    assert last["slot"] == plan.last_slot and last["_id"] == cron.slot_key("d1", last["slot"])
    assert last["fire_at"] == last["slot"] + timedelta(seconds=7)
    assert domain.claim_request(last) == domain.execution_request(
        "d1", last["slot"], plan.next_run_at
    )


def test_execution_request_payload():
    slot = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    payload = domain.execution_request("d1", slot, slot + timedelta(minutes=1))
    assert payload == {
        "deployment_id": "d1",
        "slot": "2026-11-26T10:00:00Z",
        "trigger": "schedule",
        "idempotency_key": "d1:2026-11-26T10:00:00Z",
        "next_run_at": "2026-11-26T10:01:00Z",
    }


def test_timetable_due_advance_and_changes():
    table = Timetable()
    t0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    table.load([state(_id=f"d{i}", next_run_at=t0 + timedelta(minutes=i), changed_at=NOW)
                for i in range(3)])
    assert table.due(t0, 10) == [table.states["d0"]]
    assert table.due(t0, 10) == []  # out until advanced
    table.advance(table.states["d0"], t0 + timedelta(minutes=5))
    assert [s["_id"] for s in table.due(t0 + timedelta(minutes=5), 2)] == ["d1", "d2"]
    # a change while d1 is out: the changed state replaces it, the old one is not put back
    out = table.states["d1"]
    changed = {**out, "active": True, "next_run_at": t0, "changed_at": NOW + timedelta(seconds=1)}
    assert table.apply(changed)
    table.advance(out, t0 + timedelta(hours=1))
    assert table.states["d1"]["next_run_at"] == t0
    assert not table.apply(dict(changed))  # the same changed_at: applied already
    assert table.watermark == NOW + timedelta(seconds=1)
    # stopped: forgotten, its heap entries are dropped when reached
    assert table.apply({**changed, "active": False, "changed_at": NOW + timedelta(2)})
    assert "d1" not in table.states
    assert [s["_id"] for s in table.due(t0 + timedelta(hours=2), 10)] == ["d0"]


def test_timetable_a_state_reapplied_is_due_once():
    table = Timetable()
    t0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    doc = {**state(next_run_at=t0), "changed_at": NOW}
    table.load([doc])
    table.apply({**doc, "changed_at": NOW + timedelta(seconds=1)})  # same slot, new change
    assert len(table.due(t0, 10)) == 1
    assert table.due(t0, 10) == []


def test_outbox_soonest_first():
    box = Outbox()
    t0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    batch = Batch("b")
    box.add(batch, [{"fire_at": t0 + timedelta(seconds=2)}, {"fire_at": t0}])
    assert batch.waiting == 2 and len(box) == 2
    assert [c["fire_at"] for c, _ in box.take(t0 + timedelta(seconds=1))] == [t0]
    assert [c["fire_at"] for c, _ in box.take(t0 + timedelta(seconds=5))] == [
        t0 + timedelta(seconds=2)
    ]


class FakeStore:
    """The repository verbs the tick uses, with the same conditions as the real one:
    a claim is won once per ``_id``, a stale batch taken over once per lease seen.
    Shared by "replicas" (each has its own timetable and outbox)."""

    replica = "fake/1"

    def __init__(self, states, running=None):
        self.states = {s["_id"]: s for s in states}
        self.running = running or {}
        self.claimed: dict[str, dict] = {}
        self.batches: dict[str, dict] = {}
        self.checkpoints: list = []
        self.timetable = Timetable()
        self.outbox = Outbox()
        self.container = type("C", (), {
            "config": {"SCHEDULER_MISFIRE_GRACE_S": 30, "SCHEDULER_TICK_S": 0.2,
                       "SCHEDULER_CHECKPOINT_S": 0.001},
            "spawn_managed_thread": staticmethod(lambda fn: fn()),
        })()

    def replica_view(self):
        """A second replica on the same data: its own memory."""
        other = FakeStore.__new__(FakeStore)
        other.__dict__.update(self.__dict__, timetable=Timetable(), outbox=Outbox())
        return other

    def active_states(self):
        return [dict(s) for s in self.states.values() if s["active"]]

    def changed_since(self, since):
        return []

    def running_counts(self, deployment_ids, now, ttl):
        return {d: n for d, n in self.running.items() if d in deployment_ids}

    def claim(self, claims, fire_at, lease_s, now):
        batch_id = f"b{len(self.batches)}"
        self.batches[batch_id] = {"_id": batch_id, "settled": False, "redispatches": 0,
                                  "lease_until": fire_at + timedelta(seconds=lease_s)}
        won = set()
        for claim in claims:
            if claim["_id"] not in self.claimed:
                self.claimed[claim["_id"]] = {**claim, "batch": batch_id}
                won.add(claim["_id"])
        if not won:
            self.settle(batch_id)
        return batch_id, won

    def settle(self, batch_id):
        self.batches[batch_id]["settled"] = True

    def checkpoint(self, entries, now):
        self.checkpoints.append([(s["_id"], p.next_run_at, list(k)) for s, p, k in entries])

    def stale_batches(self, now):
        return [dict(b) for b in self.batches.values()
                if not b["settled"] and b["lease_until"] <= now]

    def take_over(self, batch, now, lease_s):
        current = self.batches[batch["_id"]]
        if current["settled"] or current["lease_until"] != batch["lease_until"]:
            return False
        current["lease_until"] = now + timedelta(seconds=lease_s)
        current["redispatches"] += 1
        return True

    def batch_claims(self, batch_id):
        return [c for c in self.claimed.values() if c["batch"] == batch_id and c["skip"] is None]


def scheduler(store):
    return worker_factory(SchedulerService, store=store, maintenance=MaintenanceView())


def sent(service):
    """The payloads the service had confirmed by the broker (one ``send`` per group)."""
    return [p for call in service.publisher.send.call_args_list for p in call[0][1]]


def test_tick_claims_ahead_sends_at_fire_time_settles_and_checkpoints():
    slot = utcnow() + timedelta(seconds=0.15)
    store = FakeStore([state(next_run_at=slot)])
    service = scheduler(store)
    service.tick()  # claims (within 5 s), sends at the slot (within the 0.2 s tick)
    arrived = utcnow()
    (payload,) = sent(service)
    assert payload == domain.execution_request("d1", slot, cron.next_run("* * * * *", "UTC", slot))
    assert slot <= arrived < slot + timedelta(seconds=0.2)
    assert list(store.claimed) == [cron.slot_key("d1", slot)]
    assert all(b["settled"] for b in store.batches.values())
    assert store.checkpoints == [[("d1", cron.next_run("* * * * *", "UTC", slot), [])]]
    service.tick()  # nothing due any more
    assert len(sent(service)) == 1


def test_two_replicas_claim_each_slot_once():
    slot = utcnow() - timedelta(seconds=1)
    store = FakeStore([state(_id=f"d{i}", next_run_at=slot) for i in range(5)])
    a, b = scheduler(store), scheduler(store.replica_view())
    a.tick()
    b.tick()  # every claim a duplicate: nothing sent, but its timetable moved on
    assert len(sent(a)) == 5 and sent(b) == []
    assert all(s["next_run_at"] > slot for s in b.store.timetable.states.values())
    assert len(store.checkpoints) == 1  # the winner's only


def test_max_concurrent_is_decided_when_sending():
    slot = utcnow() - timedelta(seconds=1)
    store = FakeStore([state(_id=f"d{i}", next_run_at=slot) for i in range(3)],
                      running={"d1": 1})
    service = scheduler(store)
    service.tick()
    assert sorted(p["deployment_id"] for p in sent(service)) == ["d0", "d2"]
    (entries,) = store.checkpoints
    assert ("d1", cron.next_run("* * * * *", "UTC", slot), [(slot, "max_concurrent")]) \
        in entries


def test_checkpoint_only_when_lagging_or_skipping():
    slot = utcnow() - timedelta(seconds=1)
    store = FakeStore([state(_id=f"d{i}", next_run_at=slot) for i in range(2)],
                      running={"d1": 1})
    store.container.config["SCHEDULER_CHECKPOINT_S"] = 300
    service = scheduler(store)
    service.tick()
    # d0 fired, its stored slot one minute behind: not written; d1's skip is recorded
    assert [[entry[0] for entry in entries] for entries in store.checkpoints] == [["d1"]]
    assert not timetable_checkpoint_due(store, "d0", 300)
    assert timetable_checkpoint_due(store, "d0", 0.5)  # (less than a minute behind)


def timetable_checkpoint_due(store, dep_id, every_s):
    from services.scheduler.timetable import checkpoint_due

    current = store.timetable.states[dep_id]
    return checkpoint_due(current, current["next_run_at"], every_s)


def test_stopped_after_its_claim_is_not_sent():
    slot = utcnow() + timedelta(seconds=0.4)
    store = FakeStore([state(next_run_at=slot)])
    store.container.config["SCHEDULER_TICK_S"] = 0.1
    service = scheduler(store)
    service.tick()  # claimed ahead, not sent yet
    assert list(store.claimed) and sent(service) == []
    service.store.timetable.apply({**state(), "active": False, "changed_at": utcnow()})
    time.sleep(0.5)
    service.tick()
    assert sent(service) == [] and all(b["settled"] for b in store.batches.values())


def test_failed_claim_is_tried_again():
    slot = utcnow() - timedelta(seconds=1)
    store = FakeStore([state(next_run_at=slot)])
    real_claim = store.claim
    store.claim = lambda *args: (_ for _ in ()).throw(RuntimeError("database down"))
    service = scheduler(store)
    service.tick()
    assert sent(service) == [] and store.timetable.states["d1"]["next_run_at"] == slot
    store.claim = real_claim
    service.tick()
    assert [p["slot"] for p in sent(service)] == [cron.slot_iso(slot)]


def test_failed_send_leaves_the_batch_then_one_replica_resends_it():
    from services.scheduler import service as service_module

    slot = utcnow() - timedelta(seconds=1)
    store = FakeStore([state(next_run_at=slot)])
    crashing = scheduler(store)
    crashing.publisher.send.side_effect = RuntimeError("broker gone")
    crashing.tick()
    (batch,) = store.batches.values()
    assert crashing.publisher.send.call_count == 1 and batch["settled"] is False
    assert len(store.checkpoints) == 1  # the state moved on all the same

    a, b = scheduler(store.replica_view()), scheduler(store.replica_view())
    a.tick()  # the lease (slot + 10 s) has not run out: nobody re-sends it yet
    assert sent(a) == []
    batch["lease_until"] -= timedelta(seconds=11)
    stale_view = store.stale_batches(utcnow())  # what b read concurrently
    before = service_module.REDISPATCHED._value.get()
    a.tick()
    b.store.stale_batches = lambda now: stale_view
    b.tick()  # its take-over is conditional on the lease it saw: lost
    assert len(sent(a)) == 1 and sent(b) == []
    assert sent(a)[0]["idempotency_key"] == cron.slot_key("d1", slot)
    assert batch["settled"] is True and batch["redispatches"] == 1
    assert service_module.REDISPATCHED._value.get() == before + 1


def test_deployer_history_and_model_check():
    now = NOW
    old = {"schedule": "* * * * *", "timezone": "UTC", "name": "a"}
    entries = deployer_domain.history_entries(
        old, {"schedule": "0 * * * *", "timezone": "UTC", "name": "b"}, "alice", now
    )
    # the name is tracked too (the history of changes shows every edit a user makes)
    assert entries == [
        {"at": now, "by": "alice", "field": "name", "old": "a", "new": "b"},
        {"at": now, "by": "alice", "field": "schedule", "old": "* * * * *", "new": "0 * * * *"},
    ]
    try:
        deployer_domain.check_model_usable({"id": "m", "name": "m", "status": "draft"})
    except Exception as exc:
        assert exc.status == 409 and "no valid file" in exc.message
    else:
        raise AssertionError("draft accepted")


def test_state_takes_the_deployers_first_slot():
    first = "2026-11-26T10:00:00.000Z"  # computed by the deployer just before NOW
    changes = domain.state_changes(deployment(next_run_at=first), None, NOW)
    assert changes["next_run_at"] == datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
