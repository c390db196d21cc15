"""The scheduler: fires each cron slot of each active deployment once, across replicas.

* State: its own ``schedules`` collection, built from the deployer's
  ``deployment_*`` events and a resync through ``deployer.list_active_schedules()``
  at startup (and every ``SCHEDULER_RESYNC_S``). It never reads ``deployments``.
* Tick (``SCHEDULER_TICK_S``, 1 s): due states (``active, due_at`` index) →
  misfire policy and ``max_concurrent`` → ONE conditional write claims the slot
  (``{_id, next_run_at: <seen>}``) → ``execution_requested`` per fired slot,
  ``idempotency_key = <deployment id>:<slot>`` (the runner dedupes on it).
* Running count per deployment from the runner's ``execution_*`` events.
* DST rule and misfire policies: ``shared/cron.py``.

Delivery is at most once per slot: a replica that dies between its claim and
its dispatch loses that slot (recorded nowhere but the log line before it).
"""

from __future__ import annotations

import logging
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
ACTIVE = Gauge("ml_scheduler_active_deployments", "Active deployments with a schedule")

DEPLOYMENT_EVENTS = (
    events.DEPLOYMENT_CREATED,
    events.DEPLOYMENT_UPDATED,
    events.DEPLOYMENT_STARTED,
    events.DEPLOYMENT_STOPPED,
)
EXECUTION_EVENTS = (
    events.EXECUTION_QUEUED,
    events.EXECUTION_STARTED,
    events.EXECUTION_SUCCEEDED,
    events.EXECUTION_FAILED,
    events.EXECUTION_CANCELLED,
    events.EXECUTION_TIMED_OUT,
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
        """Fire the due slots of active deployments (every replica ticks; claims decide)."""
        now = utcnow()
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
        if not self.store.claim(state, plan, now):
            return  # another replica claimed this slot
        if plan.late:
            MISSED.inc(plan.late)
        for slot, reason in plan.skipped:
            SKIPPED.labels(reason).inc()
            log.info("deployment %s: slot %s skipped (%s)", dep_id, slot.isoformat(), reason)
        if plan.unlisted_skipped:
            SKIPPED.labels("misfire_limit").inc(plan.unlisted_skipped)
        jitter = float(state.get("jitter") or 0)
        for slot in plan.fire:
            payload = domain.execution_request(dep_id, slot, plan.next_run_at)
            log.info("deployment %s: firing slot %s", dep_id, payload["slot"])
            self.dispatch(events.EXECUTION_REQUESTED, payload)
            FIRED.inc()
            LAG.observe(max((utcnow() - slot).total_seconds() - jitter, 0.0))

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

    @event_handler("deployer", events.DEPLOYMENT_CREATED, requeue_on_error=True)
    @event_handler("deployer", events.DEPLOYMENT_UPDATED, requeue_on_error=True)
    @event_handler("deployer", events.DEPLOYMENT_STARTED, requeue_on_error=True)
    @event_handler("deployer", events.DEPLOYMENT_STOPPED, requeue_on_error=True)
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

    @event_handler("runner", events.EXECUTION_QUEUED, requeue_on_error=True)
    @event_handler("runner", events.EXECUTION_STARTED, requeue_on_error=True)
    @event_handler("runner", events.EXECUTION_SUCCEEDED, requeue_on_error=True)
    @event_handler("runner", events.EXECUTION_FAILED, requeue_on_error=True)
    @event_handler("runner", events.EXECUTION_CANCELLED, requeue_on_error=True)
    @event_handler("runner", events.EXECUTION_TIMED_OUT, requeue_on_error=True)
    def on_execution(self, payload: dict[str, Any]) -> None:
        """Track queued/running executions of deployments (for ``max_concurrent``)."""
        execution = (payload or {}).get("execution") or {}
        if execution.get("id") and execution.get("deployment_id") and execution.get("status"):
            self.store.record_execution(
                str(execution["id"]), str(execution["deployment_id"]), execution["status"], utcnow()
            )
