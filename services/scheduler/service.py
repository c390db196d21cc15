"""The scheduler: fires each cron slot of each active deployment once, across replicas.

* State: its own ``schedules`` collection, built from the deployer's
  ``deployment_*`` events and a resync through ``deployer.list_active_schedules()``
  at startup (and every ``SCHEDULER_RESYNC_S``). It never reads ``deployments``.
* Tick (``SCHEDULER_TICK_S``, 1 s), a constant number of round trips per batch
  of due deployments, not a few per deployment (the embedded database costs
  milliseconds per command):

  1. ONE find: up to ``SCHEDULER_CLAIM_BATCH`` (500) due states (index
     ``active, due_at``), oldest due first; ties in ``_id`` order, ascending or
     descending per replica (``ScheduleStore.descending``);
  2. ONE find: the live executions (running counts of all of them, ``max_concurrent``);
  3. plans in memory (misfire policy, ``max_concurrent``, DST: ``shared/cron.py``);
  4. per chunk of ``SCHEDULER_CLAIM_CHUNK`` (100) plans, so the first events
     leave before the whole batch is written:
     a. ONE ``bulk_write`` claims them: per state, the conditional write
        ``{_id, active, next_run_at: <seen>}`` that advances it and, in the same
        write, pushes the slots to fire into ``pending`` (all with the same
        ``claimed_at``, ms precision, and ``claimed_by`` = this replica). The
        writes that matched are ours; when not all did (another replica advanced
        some first), ONE find on the ``claim_token`` each write also sets tells
        which;
     b. ``execution_requested`` per fired slot of the states won,
        ``idempotency_key = <deployment id>:<slot>`` (the runner dedupes on it);
     c. ONE ``update_many`` pulls this claim's entries (``pending.claimed_at``
        index + ``claimed_by``) from ``pending`` but those whose dispatch failed;
  5. a full batch: the next one at once (at most ``MAX_BATCHES_PER_TICK``).

  Exactly once: as before, only one write can match a seen ``next_run_at``, so
  each slot is claimed by one replica, and the claim carries its pending entries.
  Two replicas: a state one of them advanced no longer matches the other's write
  (a lost write is a cheap no-op), nor its next due query; reading the ties from
  opposite ends (when their ``descending`` differ) they split a big due list
  rather than walk it in step.
* Running count per deployment from the runner's ``execution_*`` events.
* DST rule and misfire policies: ``shared/cron.py``.

Delivery is exactly once in effect, at least once on the wire: a replica that
dies (or whose dispatch fails) between its claim and its dispatch leaves the
slot in ``pending``; on every tick, any replica takes the pending entries
claimed more than ``SCHEDULER_REDISPATCH_S`` (10 s) ago, claims their
re-dispatch with a conditional write on the ``claimed_at`` it saw (so one
replica re-sends, not all), sends the same request again and pulls the entry
(``ml_scheduler_redispatched_total``). A slot can thus be sent twice (the first
dispatch succeeded but its ``$pull`` failed, or took longer than
``SCHEDULER_REDISPATCH_S``, or replica clocks differ by that much); the
runner's unique index on ``idempotency_key`` makes that one execution.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import Any

import eventlet
from nameko.events import BROADCAST, EventDispatcher, event_handler
from nameko.rpc import RpcProxy
from prometheus_client import Counter, Gauge, Histogram

from services.scheduler import domain
from services.scheduler.dependencies import ScheduleStore, config_timer
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

# Due batches one tick walks at most (SCHEDULER_CLAIM_BATCH each) before the next tick.
MAX_BATCHES_PER_TICK = 20

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
    dispatch = EventDispatcher()
    maintenance = Maintenance()
    observability = Observability()

    def _config(self, key: str, default: float) -> float:
        return float(self.store.container.config.get(key, default) or default)

    # -- ticking ---------------------------------------------------------------

    @config_timer("SCHEDULER_TICK_S", 1.0)
    def tick(self) -> None:
        """Re-send the stale pending slots, then fire the due slots of active deployments
        (every replica ticks; conditional writes decide who sends what)."""
        if self.maintenance.active():
            # A backup's snapshot (a moment) or a restore: nothing fires until it ends;
            # the slots due meanwhile fire at the next tick (misfire policy).
            return
        now = utcnow()
        try:
            self._redispatch_stale(now)
        except Exception:  # the database is down: the due slots below will fail too
            log.exception("re-dispatching pending slots failed")
        grace = self._config("SCHEDULER_MISFIRE_GRACE_S", 30)
        ttl = self._config("SCHEDULER_RUNNING_TTL_S", 86400)
        batch = int(self._config("SCHEDULER_CLAIM_BATCH", 500))
        chunk = int(self._config("SCHEDULER_CLAIM_CHUNK", 100))
        # A full batch means more may be due: go on (bounded, the next tick follows).
        for _ in range(MAX_BATCHES_PER_TICK):
            states = self.store.due(now, batch, self.store.descending)
            if not states:
                return
            try:
                claimed = self._fire_batch(states, now, grace, ttl, chunk)
            except Exception:  # database or broker down: the next tick tries again
                log.exception("firing %d due deployments failed", len(states))
                return
            if len(states) < batch or not claimed:
                return  # all seen, or nothing moved (the same batch would come back)
            now = utcnow()

    def _fire_batch(
        self, states: list[dict[str, Any]], now: datetime, grace: float, ttl: float, chunk: int
    ) -> int:
        """Plans for all ``states`` (one query for their running counts), then claim,
        dispatch and settle them ``chunk`` at a time (one write each for claim and
        settle): the first events leave before the whole batch is claimed. Returns how
        many states this replica claimed (advanced)."""
        running = self.store.running_counts([s["_id"] for s in states], now, ttl)
        plans: list[tuple[dict[str, Any], domain.TickPlan]] = []
        for state in states:
            try:
                plan = domain.plan_tick(state, now, grace, running.get(state["_id"], 0))
            except Exception:  # one broken state must not stop the others
                log.exception("scheduling deployment %s failed", state.get("_id"))
                continue
            if plan.last_slot is not None:
                plans.append((state, plan))
        claimed, chunk = 0, max(chunk, 1)
        for start in range(0, len(plans), chunk):
            # Unique per claim of this replica (its settle pulls by claimed_at + replica).
            claimed_at = domain.claim_time(utcnow(), self.store.last_claimed_at)
            self.store.last_claimed_at = claimed_at
            claimed += self._fire_chunk(plans[start : start + chunk], now, claimed_at)
        return claimed

    def _fire_chunk(
        self,
        plans: list[tuple[dict[str, Any], domain.TickPlan]],
        now: datetime,
        claimed_at: datetime,
    ) -> int:
        replica = self.store.replica
        claims = [
            (
                state,
                plan,
                # Recorded as pending by the claim itself: if this replica dies before
                # the dispatch below, another one re-sends them (see _redispatch_stale).
                domain.pending_entries(
                    state["_id"], plan.fire, plan.next_run_at, claimed_at, replica
                ),
            )
            for state, plan in plans
        ]
        began = time.monotonic()
        won = self.store.claim(claims, now)
        claimed = time.monotonic()
        if not won:
            return 0  # another replica claimed these slots
        unsent: list[str] = []
        failure: Exception | None = None
        for state, plan, pending in claims:
            dep_id = state["_id"]
            if dep_id not in won:
                continue
            if plan.late:
                MISSED.inc(plan.late)
            for slot, reason in plan.skipped:
                SKIPPED.labels(reason).inc()
                log.info("deployment %s: slot %s skipped (%s)", dep_id, slot.isoformat(), reason)
            if plan.unlisted_skipped:
                SKIPPED.labels("misfire_limit").inc(plan.unlisted_skipped)
            jitter = float(state.get("jitter") or 0)
            for entry in pending:
                if failure is not None:
                    # What was not sent stays pending: re-sent after SCHEDULER_REDISPATCH_S.
                    unsent.append(entry["idempotency_key"])
                    continue
                payload = domain.pending_request(dep_id, entry)
                log.debug("deployment %s: firing slot %s", dep_id, payload["slot"])
                try:
                    self.dispatch(events.EXECUTION_REQUESTED, payload)
                except Exception as exc:  # the broker is gone: do not wait on each event
                    failure = exc
                    unsent.append(entry["idempotency_key"])
                    continue
                FIRED.inc()
                LAG.observe(max((utcnow() - entry["slot"]).total_seconds() - jitter, 0.0))
        fired = sum(len(p) for s, _, p in claims if s["_id"] in won) - len(unsent)
        dispatched = time.monotonic()
        if fired:
            try:
                self.store.settle_claimed(claimed_at, replica, unsent)
            except Exception:  # left pending: re-sent later, and the runner dedupes it
                log.exception("could not clear the pending entries claimed at %s", claimed_at)
        # Where a slow tick spends its time (claim / dispatch / settle).
        log.info(
            "fired %d slot(s) of %d/%d deployment(s) claimed: claim %.3f s, dispatch %.3f s, "
            "settle %.3f s",
            fired,
            len(won),
            len(claims),
            claimed - began,
            dispatched - claimed,
            time.monotonic() - dispatched,
        )
        if failure is not None:
            raise failure
        return len(won)

    def _redispatch_stale(self, now: datetime) -> None:
        """Re-send the pending slots whose dispatch was not confirmed in time."""
        cutoff = now - timedelta(seconds=self._config("SCHEDULER_REDISPATCH_S", 10))
        for state in self.store.stale_pending(cutoff):
            dep_id = state["_id"]
            for entry in domain.stale_entries(state.get("pending"), cutoff):
                try:
                    if not self.store.claim_redispatch(dep_id, entry, utcnow()):
                        continue  # another replica re-sends it (or it was just settled)
                    payload = domain.pending_request(dep_id, entry)
                    log.warning(
                        "deployment %s: re-dispatching slot %s (claimed by %s at %s, "
                        "dispatch never confirmed)",
                        dep_id,
                        payload["slot"],
                        entry.get("claimed_by"),
                        entry.get("claimed_at"),
                    )
                    self.dispatch(events.EXECUTION_REQUESTED, payload)
                except Exception:  # stays pending: the next try is in SCHEDULER_REDISPATCH_S
                    log.exception("deployment %s: re-dispatch failed", dep_id)
                    continue
                REDISPATCHED.inc()
                self._settle(dep_id, [entry["idempotency_key"]])

    def _settle(self, dep_id: str, keys: list[str]) -> None:
        if not keys:
            return
        try:
            self.store.settle(dep_id, keys)
        except Exception:  # left pending: re-sent later, and the runner dedupes it
            log.exception("deployment %s: could not clear pending %s", dep_id, keys)

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
            self.store.remove(deployment_id)

    @events.on_events("runner", events.EXECUTION_EVENTS, requeue_on_error=True)
    def on_execution(self, payload: dict[str, Any]) -> None:
        """Track queued/running executions of deployments (for ``max_concurrent``)."""
        execution = (payload or {}).get("execution") or {}
        if execution.get("id") and execution.get("deployment_id") and execution.get("status"):
            self.store.record_execution(
                str(execution["id"]), str(execution["deployment_id"]), execution["status"], utcnow()
            )
