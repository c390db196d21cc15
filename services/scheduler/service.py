"""The scheduler: fires each cron slot of each active deployment once, across replicas.

* State: its own ``schedules`` collection, built from the deployer's
  ``deployment_*`` events and a resync through ``deployer.list_active_schedules()``
  at startup (and every ``SCHEDULER_RESYNC_S``). It never reads ``deployments``.
  Each replica keeps it in memory (``timetable.py``: the states and a heap of their
  fire times), loaded once, then refreshed from the states whose ``changed_at``
  moved (one indexed query per tick).
* Tick (``SCHEDULER_TICK_S``, 1 s). The database work of a slot happens BEFORE it:

  1. the heap gives the states that fire within ``SCHEDULER_CLAIM_AHEAD_S`` (15 s);
     their plans are made in memory (misfire policy, DST: ``shared/cron.py``);
  2. ONE insert of a batch (``schedule_batches``, unsettled, leased until its last
     fire time + ``SCHEDULER_REDISPATCH_S``), then ONE ``insert_many`` of a claim per
     slot decided (``schedule_claims``, ``_id`` = ``<deployment id>:<slot>``): the
     unique ``_id`` is the claim, a duplicate key means another replica has it;
     won or lost, the state moves on to its next slot in memory;
  3. the won claims wait in the outbox (``outbox.py``) until their fire time, when
     ONE find counts the running executions of the deployments about to fire
     (``max_concurrent``: a deployment at its limit is skipped), and
     ``execution_requested`` leaves per slot (``idempotency_key`` = the claim's
     ``_id``; the runner dedupes on it), the group on one channel with ONE wait for
     the broker's confirms (``publisher.py``);
  4. once a batch is sent, off the tick: ONE write settles it, ONE ``bulk_write``
     checkpoints the ``next_run_at`` of its states that have skips to record or
     whose stored one lags by ``SCHEDULER_CHECKPOINT_S`` (300 s) — what a replica
     loads; a lagging checkpoint costs duplicate-key claims, nothing more.

  Exactly once: a slot's claim is one insert under a unique key, whatever the
  number of replicas or restarts. Two replicas insert a due list from opposite
  ends (``ScheduleStore.descending``).
* Running count per deployment from the runner's ``execution_*`` events.

Delivery is exactly once in effect, at least once on the wire: a replica that
dies (or whose dispatch fails) between its claim and its dispatch leaves its
batch unsettled; on every tick, any replica takes the batches whose lease ran
out, takes one over with a conditional write on the lease it saw (so one
replica re-sends, not all), sends its claims again and settles it
(``ml_scheduler_redispatched_total``); a re-sent batch skips the
``max_concurrent`` check (the runner dedupes what was sent already). A slot can
thus be sent twice; the runner's unique index on ``idempotency_key`` makes that
one execution. A deployment stopped after its slot was claimed (within
``SCHEDULER_CLAIM_AHEAD_S``) is not sent once this replica's timetable knows it.
Replica clocks must agree within ``CHANGES_MARGIN_S`` (``changed_at`` is theirs).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import Any

import eventlet
from nameko.events import BROADCAST, event_handler
from nameko.rpc import RpcProxy
from prometheus_client import Counter, Gauge, Histogram

from services.scheduler import domain
from services.scheduler.dependencies import ScheduleStore, config_timer
from services.scheduler.outbox import Batch
from services.scheduler.publisher import EventPublisher
from services.scheduler.timetable import checkpoint_due
from shared import events
from shared.maintenance import MAINTENANCE_EVENTS, Maintenance
from shared.mongo import utcnow
from shared.observability import Observability

log = logging.getLogger(__name__)

LAG = Histogram(
    "ml_scheduler_lag_seconds",
    "Actual fire time minus planned fire time (slot + jitter) of scheduled runs",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600),
)
FIRED = Counter("ml_scheduler_fired_total", "Scheduled slots fired (execution_requested)")
SKIPPED = Counter("ml_scheduler_skipped_total", "Scheduled slots not fired, by reason", ["reason"])
MISSED = Counter(
    "ml_scheduler_missed_total",
    "Slots found late (past the misfire grace), whatever the policy did",
)
REDISPATCHED = Counter(
    "ml_scheduler_redispatched_total",
    "Claimed slots sent again because their dispatch was not confirmed in time "
    "(replica died or dispatch failed); the runner dedupes on the idempotency key",
)
ACTIVE = Gauge("ml_scheduler_active_deployments", "Active deployments with a schedule")

# Claims one tick inserts at most (SCHEDULER_CLAIM_BATCH each) before the next tick.
MAX_BATCHES_PER_TICK = 20
# States whose changed_at is this close to the newest one seen are read again (replica
# clocks differ a little, and a write may land after a newer one).
CHANGES_MARGIN_S = 10
# Deleted states stay this long as tombstones (every replica's timetable learns them).
TOMBSTONES_KEPT_S = 3600

DEPLOYMENT_EVENTS = (
    events.DEPLOYMENT_CREATED,
    events.DEPLOYMENT_UPDATED,
    events.DEPLOYMENT_STARTED,
    events.DEPLOYMENT_STOPPED,
)


class SchedulerService:
    name = "scheduler"

    store = ScheduleStore()
    deployer = RpcProxy("deployer")
    publisher = EventPublisher()
    maintenance = Maintenance()
    observability = Observability()

    def _config(self, key: str, default: float) -> float:
        return float(self.store.container.config.get(key, default) or default)

    # -- ticking ---------------------------------------------------------------

    @config_timer("SCHEDULER_TICK_S", 1.0)
    def tick(self) -> None:
        """Refresh the timetable, take over stale batches, claim what fires within
        ``SCHEDULER_CLAIM_AHEAD_S``, then send what fires before the next tick, each at
        its time (every replica ticks; the unique claim decides who sends what)."""
        if self.maintenance.active():
            # A backup's snapshot (a moment) or a restore: nothing fires until it ends;
            # the slots due meanwhile fire at the next tick (misfire policy).
            return
        now = utcnow()
        try:
            self._refresh(now)
            self._take_over_stale(now)
            self._claim_ahead(now)
        except Exception:  # the database is down: what is claimed already is still sent
            log.exception("claiming the next slots failed")
        self._send_until(now + timedelta(seconds=self._config("SCHEDULER_TICK_S", 1.0)))

    def _refresh(self, now: datetime) -> None:
        """The timetable: everything once, then the states changed since last time."""
        timetable = self.store.timetable
        if not timetable.loaded:
            timetable.load(self.store.active_states())
            timetable.watermark = max(timetable.watermark or now, now)
            ACTIVE.set(len(timetable.states))
            return
        since = timetable.watermark - timedelta(seconds=CHANGES_MARGIN_S)
        for doc in self.store.changed_since(since):
            timetable.apply(doc)

    def _claim_ahead(self, now: datetime) -> None:
        horizon = now + timedelta(seconds=self._config("SCHEDULER_CLAIM_AHEAD_S", 15))
        limit = int(self._config("SCHEDULER_CLAIM_BATCH", 1000))
        for _ in range(MAX_BATCHES_PER_TICK):
            states = self.store.timetable.due(horizon, limit)
            if states:
                self._claim(states, now, horizon)
            if len(states) < limit:
                return

    def _claim(self, states: list[dict[str, Any]], now: datetime, horizon: datetime) -> None:
        """Plans for ``states``, ONE batch of claims for them, the won ones to the outbox."""
        timetable = self.store.timetable
        grace = self._config("SCHEDULER_MISFIRE_GRACE_S", 30)
        planned: list[tuple[dict[str, Any], domain.TickPlan, list[dict[str, Any]]]] = []
        batch = Batch("")
        for state in states:
            try:
                plan = domain.plan_tick(state, now, grace, horizon)
            except Exception:  # one broken state must not stop the others
                log.exception("scheduling deployment %s failed", state.get("_id"))
                timetable.advance(state, state["next_run_at"])
                continue
            planned.append((state, plan, domain.claim_documents(state, plan)))
        claims = [claim for _, _, docs in planned for claim in docs]
        if not claims:
            return
        began = time.monotonic()
        try:
            batch.id, won = self.store.claim(
                claims, max(c["fire_at"] for c in claims),
                self._config("SCHEDULER_REDISPATCH_S", 10), now,
            )
        except Exception:
            for state, _, _ in planned:  # tried again at the next tick
                timetable.advance(state, state["next_run_at"])
            raise
        to_send = []
        for state, plan, docs in planned:
            timetable.advance(state, plan.next_run_at)  # won or lost: the slot is handled
            to_send += [c for c in docs if c["skip"] is None and c["_id"] in won]
            if docs[-1]["_id"] in won:  # the plan's own claim: its skips and checkpoint
                batch.plans[state["_id"]] = self._won_plan(state, plan, docs, won)
        log.info("claimed %d of %d slot(s) in %.3f s", len(won), len(claims),
                 time.monotonic() - began)
        if to_send:
            self.store.outbox.add(batch, to_send)
        elif won:
            self._finish(batch)

    def _won_plan(
        self, state: dict[str, Any], plan: domain.TickPlan, docs: list[dict[str, Any]],
        won: set[str],
    ) -> list:
        """Count a won plan's misses and skips; what its checkpoint needs."""
        if plan.late:
            MISSED.inc(plan.late)
        skips = [(c["slot"], c["skip"]) for c in docs if c["skip"] and c["_id"] in won]
        for slot, reason in skips:
            SKIPPED.labels(reason).inc()
            log.info("deployment %s: slot %s skipped (%s)", state["_id"], slot.isoformat(),
                     reason)
        if plan.unlisted_skipped:
            SKIPPED.labels("misfire_limit").inc(plan.unlisted_skipped)
        return [state, plan, skips]

    def _send_until(self, until: datetime) -> None:
        """Send the outbox's claims that fire before ``until``, each at its time: those
        due already together, the later ones as their fire time comes."""
        items = self.store.outbox.take(until)
        while items:
            now = utcnow()
            due = [item for item in items if item[0]["fire_at"] <= now]
            if not due:
                eventlet.sleep(max((items[0][0]["fire_at"] - now).total_seconds(), 0))
                continue
            items = items[len(due):]
            self._send(due)

    def _send(self, items: list[tuple[dict[str, Any], Batch]]) -> None:
        """Send one group of due claims: ONE find for their running counts first. A
        deployment stopped since its claim (gone from the timetable) is not sent."""
        states = self.store.timetable.states
        running: dict[str, int] = {}
        try:
            ttl = self._config("SCHEDULER_RUNNING_TTL_S", 86400)
            running = self.store.running_counts(
                sorted({c["deployment_id"] for c, _ in items}), utcnow(), ttl
            )
        except Exception:  # no counts: send (max_concurrent unknown rather than a lost slot)
            log.exception("counting running executions failed")
        began = time.monotonic()
        blocked: dict[tuple[str, str], bool] = {}
        outgoing: list[dict[str, Any]] = []
        for claim, batch in items:
            dep_id = claim["deployment_id"]
            state = states.get(dep_id)
            if state is None or batch.failed:
                continue
            # One decision per deployment and batch (catch_up: all its slots or none).
            key = (dep_id, batch.id)
            if key not in blocked:
                blocked[key] = domain.over_limit(state, running.get(dep_id, 0))
            if blocked[key]:
                self._skipped(batch, dep_id, claim["slot"])
            else:
                outgoing.append(claim)
        try:
            self.publisher.send(events.EXECUTION_REQUESTED,
                                [domain.claim_request(c) for c in outgoing])
        except Exception:  # the broker is gone: these batches are left to the take-over
            log.exception("sending %d slot(s) failed: their batches are re-sent after "
                          "SCHEDULER_REDISPATCH_S", len(outgoing))
            for _, batch in items:
                batch.failed = True
        else:
            sent = utcnow()
            FIRED.inc(len(outgoing))
            for claim in outgoing:
                LAG.observe(max((sent - claim["fire_at"]).total_seconds(), 0.0))
        for _, batch in items:
            batch.waiting -= 1
            if batch.waiting == 0:
                self._finish(batch)
        log.info("sent %d of %d claim(s) in %.3f s", len(outgoing), len(items),
                 time.monotonic() - began)

    def _skipped(self, batch: Batch, dep_id: str, slot: datetime) -> None:
        SKIPPED.labels("max_concurrent").inc()
        log.info("deployment %s: slot %s skipped (max_concurrent)", dep_id, slot.isoformat())
        if dep_id in batch.plans:
            batch.plans[dep_id][2].append((slot, "max_concurrent"))

    def _finish(self, batch: Batch) -> None:
        """Settle the batch (unless a send failed) and checkpoint those of its states
        with skips to record or a stored ``next_run_at`` ``SCHEDULER_CHECKPOINT_S``
        behind, in a thread of its own: the writes cost milliseconds per state."""
        every = self._config("SCHEDULER_CHECKPOINT_S", 300)
        entries = [entry for entry in batch.plans.values()
                   if entry[2] or checkpoint_due(entry[0], entry[1].next_run_at, every)]

        def finish() -> None:
            began = time.monotonic()
            try:
                if not batch.failed:
                    self.store.settle(batch.id)
                if entries:
                    self.store.checkpoint(entries, utcnow())
            except Exception:  # a lagging checkpoint costs a duplicate claim, no more
                log.exception("settling batch %s failed", batch.id)
                return
            for state, plan, _ in entries:
                state["checkpoint"] = plan.next_run_at
            log.info("batch %s settled, %d state(s) checkpointed in %.3f s", batch.id,
                     len(entries), time.monotonic() - began)

        self.store.container.spawn_managed_thread(finish)

    def _take_over_stale(self, now: datetime) -> None:
        """Re-send the batches whose sending was not confirmed within their lease."""
        lease = self._config("SCHEDULER_REDISPATCH_S", 10)
        for stale in self.store.stale_batches(now):
            if not self.store.take_over(stale, utcnow(), lease):
                continue  # another replica re-sends it (or it was just settled)
            claims = self.store.batch_claims(stale["_id"])
            log.warning("re-sending the %d claim(s) of batch %s (claimed by %s, never "
                        "confirmed)", len(claims), stale["_id"], stale.get("claimed_by"))
            try:
                self.publisher.send(events.EXECUTION_REQUESTED,
                                    [domain.claim_request(c) for c in claims])
            except Exception:  # still unsettled: tried again after SCHEDULER_REDISPATCH_S
                log.exception("re-sending batch %s failed", stale["_id"])
                continue
            REDISPATCHED.inc(len(claims))
            self.store.settle(stale["_id"])

    @config_timer("SCHEDULER_PRUNE_S", 60.0)
    def prune(self) -> None:
        """Claims and settled batches older than ``SCHEDULER_CLAIMS_KEPT_S`` go."""
        kept = self._config("SCHEDULER_CLAIMS_KEPT_S", 3600)
        self.store.prune(utcnow() - timedelta(seconds=kept))

    @config_timer("SCHEDULER_RESYNC_S", 300.0, eager=True)
    def resync(self) -> None:
        """Rebuild the state from ``deployer.list_active_schedules()`` (at startup, then
        periodically): events missed while down are caught up, ``next_run_at`` of an
        unchanged schedule is kept so missed slots go through the misfire policy."""
        started = utcnow()
        deployments = None
        timeout = self._config("RPC_TIMEOUT_S", 10)
        for attempt in range(3):
            if not self.store.resynced:
                # At container start the RPC reply queue may not be consumed yet: a
                # reply sent before that is lost, so give it a moment and retry quickly.
                eventlet.sleep(0.5 * (attempt + 1))
            try:
                with eventlet.Timeout(timeout if self.store.resynced else 3):
                    deployments = self.deployer.list_active_schedules()
                break
            except (Exception, eventlet.Timeout) as exc:  # deployer down: retry later
                log.warning("resync: deployer.list_active_schedules failed: %r", exc)
        if deployments is None:
            return
        self.store.resynced = True
        for deployment in deployments:
            self.store.apply_deployment(deployment, utcnow())
        stopped = self.store.deactivate_missing({str(d["id"]) for d in deployments}, started)
        self.store.drop_tombstones(started - timedelta(seconds=TOMBSTONES_KEPT_S))
        ACTIVE.set(self.store.count_active())
        log.info("resync: %d active schedules, %d deactivated", len(deployments), stopped)

    @config_timer("SCHEDULER_GAUGE_S", 15.0, eager=True)
    def gauge(self) -> None:
        """Refresh the active-deployments gauge."""
        ACTIVE.set(self.store.count_active())

    # -- events ----------------------------------------------------------------

    @events.on_events("admin", MAINTENANCE_EVENTS, handler_type=BROADCAST,
                      reliable_delivery=False)
    def on_maintenance(self, payload: dict[str, Any]) -> None:
        """Every replica: a backup's snapshot or a restore pauses the ticks until it ends
        (or its window expires)."""
        self.maintenance.apply(payload)

    @event_handler("admin", events.DATA_RESTORED, handler_type=BROADCAST,
                   reliable_delivery=False)
    def on_data_restored(self, payload: dict[str, Any]) -> None:
        """A restore replaced the data: rebuild the schedule state from the deployer."""
        log.info("data restored (%s): resyncing the schedules", (payload or {}).get("restore_id"))
        self.resync()
        self.store.timetable.loaded = False  # the next tick reloads every state
    # Requeue on error (a DB hiccup must not lose a start/stop); malformed payloads
    # are logged and dropped so they cannot loop.

    @events.on_events("deployer", DEPLOYMENT_EVENTS, requeue_on_error=True)
    def on_deployment(self, payload: dict[str, Any]) -> None:
        """Create / update / activate / deactivate the deployment's schedule state."""
        deployment = (payload or {}).get("deployment") or {}
        if not deployment.get("id"):
            log.warning("deployment event without id dropped: %r", payload)
            return
        self.store.apply_deployment(deployment, utcnow())

    @event_handler("deployer", events.DEPLOYMENT_DELETED, requeue_on_error=True)
    def on_deployment_deleted(self, payload: dict[str, Any]) -> None:
        """Forget the deployment's schedule state."""
        deployment_id = (payload or {}).get("deployment_id")
        if deployment_id:
            self.store.remove(deployment_id, utcnow())

    @events.on_events("runner", events.EXECUTION_EVENTS, requeue_on_error=True)
    def on_execution(self, payload: dict[str, Any]) -> None:
        """Track queued/running executions of deployments (for ``max_concurrent``)."""
        execution = (payload or {}).get("execution") or {}
        if execution.get("id") and execution.get("deployment_id") and execution.get("status"):
            self.store.record_execution(
                str(execution["id"]), str(execution["deployment_id"]), execution["status"], utcnow()
            )
