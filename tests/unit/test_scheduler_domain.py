"""Scheduler logic without broker or database: state from deployments, tick plans, and
the tick entrypoint with a hand-written fake store (nameko worker_factory)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from nameko.testing.services import worker_factory

from services.deployer import domain as deployer_domain
from services.scheduler import domain
from services.scheduler.service import SchedulerService
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
    assert changes["due_at"] == changes["next_run_at"] + timedelta(seconds=changes["jitter"])


def test_plan_tick_on_time_and_max_concurrent():
    s = state(next_run_at=datetime(2026, 11, 26, 10, 0, tzinfo=UTC))
    plan = domain.plan_tick(s, NOW, grace_s=60, running=0)
    assert plan.fire == [s["next_run_at"]] and plan.skipped == []
    assert plan.next_run_at == datetime(2026, 11, 26, 10, 1, tzinfo=UTC)
    busy = domain.plan_tick(s, NOW, grace_s=60, running=1)
    assert busy.fire == [] and busy.skipped == [(s["next_run_at"], "max_concurrent")]
    assert busy.next_run_at == plan.next_run_at
    roomy = domain.plan_tick({**s, "max_concurrent": 2}, NOW, grace_s=60, running=1)
    assert roomy.fire == [s["next_run_at"]]


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


class FakeStore:
    """The repository verbs the tick uses, with the same conditions as the real one:
    ``claim`` wins once per seen next_run_at (and pushes the pending entries),
    ``claim_redispatch`` once per seen ``claimed_at``. Shared by "replicas"."""

    replica = "fake/1"
    descending = False
    last_claimed_at = None

    def __init__(self, states, running=0):
        self.states = {s["_id"]: s for s in states}
        self.running = running
        self.claims = []
        self.settled = []
        self.container = type("C", (), {"config": {"SCHEDULER_MISFIRE_GRACE_S": 30}})()

    def due(self, now, limit=500, descending=False):
        due = [dict(s) for s in self.states.values() if s["active"] and s["due_at"] <= now]
        due.sort(key=lambda s: s["_id"], reverse=descending)
        return sorted(due, key=lambda s: s["due_at"])[:limit]

    def running_counts(self, deployment_ids, now, ttl):
        return {dep_id: self.running for dep_id in deployment_ids}

    def claim(self, claims, now):
        won = set()
        for seen, plan, pending in claims:
            current = self.states[seen["_id"]]
            if current["next_run_at"] != seen["next_run_at"]:
                continue
            current.update(next_run_at=plan.next_run_at, due_at=plan.due_at)
            current.setdefault("pending", []).extend(dict(e) for e in pending or ())
            self.claims.append((seen["_id"], plan, pending))
            won.add(seen["_id"])
        return won

    def settle_claimed(self, claimed_at, claimed_by, unsent=None):
        for dep_id, state in self.states.items():
            keys = [
                e["idempotency_key"]
                for e in state.get("pending", [])
                if (e["claimed_at"], e["claimed_by"]) == (claimed_at, claimed_by)
                and e["idempotency_key"] not in (unsent or ())
            ]
            if keys:
                self.settle(dep_id, keys)

    def settle(self, deployment_id, keys):
        self.settled.append((deployment_id, list(keys)))
        state = self.states[deployment_id]
        state["pending"] = [e for e in state.get("pending", []) if e["idempotency_key"] not in keys]

    def stale_pending(self, cutoff):
        return [
            {"_id": s["_id"], "pending": [dict(e) for e in s["pending"]]}
            for s in self.states.values()
            if any(e["claimed_at"] <= cutoff for e in s.get("pending", []))
        ]

    def claim_redispatch(self, deployment_id, entry, now):
        for current in self.states[deployment_id].get("pending", []):
            if (current["idempotency_key"], current["claimed_at"]) == (
                entry["idempotency_key"],
                entry["claimed_at"],
            ):
                current.update(claimed_at=now, claimed_by=self.replica)
                return True
        return False


def test_tick_fires_due_slot_once_and_claims():
    slot = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=2)
    store = FakeStore([state(next_run_at=slot, due_at=slot)])
    service = worker_factory(SchedulerService, store=store, maintenance=MaintenanceView())
    service.tick()
    service.tick()  # nothing due any more
    assert service.dispatch.call_count == 1
    name, payload = service.dispatch.call_args[0]
    assert name == "execution_requested" and payload["slot"] == cron.slot_iso(slot)
    assert len(store.claims) == 1
    # the claim recorded the slot as pending; the confirmed dispatch cleared it
    ((_, _, pending),) = store.claims
    key = cron.slot_key("d1", slot)
    assert [e["idempotency_key"] for e in pending] == [key] == [payload["idempotency_key"]]
    assert store.settled == [("d1", [key])] and store.states["d1"]["pending"] == []


def test_tick_lost_claim_dispatches_nothing():
    slot = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=2)
    store = FakeStore([state(next_run_at=slot, due_at=slot)])
    store.claim = lambda claims, now: set()  # another replica won
    service = worker_factory(SchedulerService, store=store, maintenance=MaintenanceView())
    service.tick()
    assert service.dispatch.call_count == 0


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


# -- pending slots: a claim whose dispatch never happened is re-sent once ------------


def test_pending_entries_and_request():
    slot = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    nxt = slot + timedelta(minutes=1)
    entries = domain.pending_entries("d1", [slot], nxt, NOW, "host/1/ab")
    assert entries == [
        {
            "slot": slot,
            "idempotency_key": "d1:2026-11-26T10:00:00Z",
            "next_run_at": nxt,
            "claimed_at": NOW,
            "claimed_by": "host/1/ab",
        }
    ]
    assert domain.pending_entries("d1", [], nxt, NOW, "x") == []
    # the re-sent request is the one the claim meant to send
    assert domain.pending_request("d1", entries[0]) == domain.execution_request("d1", slot, nxt)


def test_stale_entries():
    slot = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    old = {"slot": slot, "idempotency_key": "d1:a", "claimed_at": NOW - timedelta(seconds=30)}
    older = {**old, "idempotency_key": "d1:b", "claimed_at": NOW - timedelta(seconds=40)}
    fresh = {**old, "idempotency_key": "d1:c", "claimed_at": NOW - timedelta(seconds=2)}
    cutoff = NOW - timedelta(seconds=10)
    assert domain.stale_entries([old, fresh, older], cutoff) == [older, old]
    assert domain.stale_entries([fresh], cutoff) == []
    assert domain.stale_entries(None, cutoff) == []


def test_dispatch_failure_leaves_pending_then_one_replica_resends_it():
    """The state a dead replica leaves: claimed (next_run_at advanced), slot pending."""
    from services.scheduler import service as service_module

    slot = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=2)
    store = FakeStore([state(next_run_at=slot, due_at=slot)])
    crashing = worker_factory(SchedulerService, store=store, maintenance=MaintenanceView())
    crashing.dispatch.side_effect = RuntimeError("broker gone")
    crashing.tick()
    key = cron.slot_key("d1", slot)
    assert crashing.dispatch.call_count == 1 and store.settled == []
    assert [e["idempotency_key"] for e in store.states["d1"]["pending"]] == [key]

    # younger than SCHEDULER_REDISPATCH_S (10 s): nobody re-sends it yet
    a = worker_factory(SchedulerService, store=store, maintenance=MaintenanceView())
    a.tick()
    assert a.dispatch.call_count == 0

    store.states["d1"]["pending"][0]["claimed_at"] -= timedelta(seconds=11)
    before = service_module.REDISPATCHED._value.get()
    b = worker_factory(SchedulerService, store=store, maintenance=MaintenanceView())
    stale_view = store.stale_pending(utcnow())  # what a second replica read concurrently
    a.tick()
    # b read the entry before a re-claimed it: its conditional write loses
    store.stale_pending = lambda cutoff: stale_view
    b.tick()
    assert a.dispatch.call_count == 1 and b.dispatch.call_count == 0
    name, payload = a.dispatch.call_args[0]
    assert name == "execution_requested" and payload["idempotency_key"] == key
    assert payload == domain.execution_request("d1", slot, store.claims[0][1].next_run_at)
    assert store.states["d1"]["pending"] == []
    assert service_module.REDISPATCHED._value.get() == before + 1


def test_failed_redispatch_stays_pending():
    slot = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    entry = domain.pending_entries("d1", [slot], None, utcnow() - timedelta(seconds=60), "dead")
    store = FakeStore(
        [
            state(
                next_run_at=slot + timedelta(days=1), due_at=slot + timedelta(days=1), pending=entry
            )
        ]
    )
    service = worker_factory(SchedulerService, store=store, maintenance=MaintenanceView())
    service.dispatch.side_effect = RuntimeError("broker gone")
    service.tick()
    assert service.dispatch.call_count == 1
    (left,) = store.states["d1"]["pending"]
    # re-claimed (fresh claimed_at): tried again after SCHEDULER_REDISPATCH_S, not every tick
    assert left["idempotency_key"] == cron.slot_key("d1", slot) and left["claimed_by"] == "fake/1"
    assert left["claimed_at"] > utcnow() - timedelta(seconds=5)
    service.tick()
    assert service.dispatch.call_count == 1


def test_tick_walks_due_batches_in_chunks():
    """A full batch is followed by the next one in the same tick; each chunk is one
    claim (bulk) and one settle; ``max_concurrent`` counts come per deployment."""
    slot = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=2)
    states = [state(_id=f"d{i}", next_run_at=slot, due_at=slot) for i in range(5)]
    store = FakeStore(states)
    store.running_counts = lambda ids, now, ttl: {"d3": 1}  # d3 is busy
    settles = []
    real_settle = store.settle_claimed

    def settle_claimed(claimed_at, claimed_by, unsent=None):
        settles.append(claimed_at)
        real_settle(claimed_at, claimed_by, unsent)

    store.settle_claimed = settle_claimed
    store.container.config.update(SCHEDULER_CLAIM_BATCH=2, SCHEDULER_CLAIM_CHUNK=1)
    service = worker_factory(SchedulerService, store=store, maintenance=MaintenanceView())
    service.tick()
    fired = sorted(call[0][1]["deployment_id"] for call in service.dispatch.call_args_list)
    assert fired == ["d0", "d1", "d2", "d4"]
    assert len(store.claims) == 5 and len(settles) == 4 == len(set(settles))
    assert [p.skipped for d, p, _ in store.claims if d == "d3"] == [[(slot, "max_concurrent")]]
    assert all(not s.get("pending") for s in store.states.values())
    assert all(s["next_run_at"] > slot for s in store.states.values())
