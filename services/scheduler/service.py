"""The scheduler: fires each cron slot of each active deployment once, across replicas.

* State: its own ``schedules`` collection, built from the deployer's
  ``deployment_*`` events and a resync through ``deployer.list_active_schedules()``
  at startup (and every ``SCHEDULER_RESYNC_S``). It never reads ``deployments``.
* Tick (``SCHEDULER_TICK_S``, 1 s): due states (``active, due_at`` index) →
  misfire policy and ``max_concurrent`` → ONE conditional write claims the slot
  (``{_id, next_run_at: <seen>}``) and, in the same write, records the slots to
  fire in ``pending`` → ``execution_requested`` per fired slot,
  ``idempotency_key = <deployment id>:<slot>`` (the runner dedupes on it) → once
  the broker confirmed the events, ``$pull`` them from ``pending``.
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
from datetime import datetime, timedelta
from typing import Any

import eventlet
from nameko.events import EventDispatcher, event_handler
from nameko.rpc import RpcProxy
from prometheus_client import Counter, Gauge, Histogram

from services.scheduler import domain
from services.scheduler.dependencies import ScheduleStore, config_timer
from shared import events
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
    observability = Observability()

    def _config(self, key: str, default: float) -> float:
        return float(self.store.container.config.get(key, default) or default)

    # -- ticking ---------------------------------------------------------------

    @config_timer("SCHEDULER_TICK_S", 1.0)
    def tick(self) -> None:
        """Re-send the stale pending slots, then fire the due slots of active deployments
        (every replica ticks; conditional writes decide who sends what)."""
        now = utcnow()
        try:
            self._redispatch_stale(now)
        except Exception:  # the database is down: the due slots below will fail too
            log.exception("re-dispatching pending slots failed")
        grace = self._config("SCHEDULER_MISFIRE_GRACE_S", 30)
        ttl = self._config("SCHEDULER_RUNNING_TTL_S", 86400)
        for state in self.store.due(now):
            try:
                self._fire_due(state, now, grace, ttl)
            except Exception:  # one broken state must not stop the others
                log.exception("scheduling deployment %s failed", state.get("_id"))

    def _fire_due(self, state: dict[str, Any], now, grace: float, ttl: float) -> None:
        dep_id = state["_id"]
        running = self.store.running_count(dep_id, now, ttl)
        plan = domain.plan_tick(state, now, grace, running)
        if plan.last_slot is None:
            return
        # Recorded as pending by the claim itself: if this replica dies before the
        # dispatch below, another one re-sends them (see _redispatch_stale).
        pending = domain.pending_entries(
            dep_id, plan.fire, plan.next_run_at, utcnow(), self.store.replica
        )
        if not self.store.claim(state, plan, now, pending):
            return  # another replica claimed this slot
        if plan.late:
            MISSED.inc(plan.late)
        for slot, reason in plan.skipped:
            SKIPPED.labels(reason).inc()
            log.info("deployment %s: slot %s skipped (%s)", dep_id, slot.isoformat(), reason)
        if plan.unlisted_skipped:
            SKIPPED.labels("misfire_limit").inc(plan.unlisted_skipped)
        jitter = float(state.get("jitter") or 0)
        sent: list[str] = []
        try:
            for entry in pending:
                payload = domain.pending_request(dep_id, entry)
                log.info("deployment %s: firing slot %s", dep_id, payload["slot"])
                self.dispatch(events.EXECUTION_REQUESTED, payload)
                sent.append(entry["idempotency_key"])
                FIRED.inc()
                LAG.observe(max((utcnow() - entry["slot"]).total_seconds() - jitter, 0.0))
        finally:
            # What was not sent stays pending: re-sent after SCHEDULER_REDISPATCH_S.
            self._settle(dep_id, sent)

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
