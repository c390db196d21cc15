"""The reporting service: the read side of the dashboard and reports, and the
analytics copy that Superset reads.

It listens to the registry's, deployer's, scheduler's and runner's events and keeps
pre-aggregated figures (``dependencies.ReadModel``) plus the SQL analytics copy
(``analytics.Analytics``). It never reads another service's collections: a rebuild
(at start, and on demand through ``request_rebuild``) pages through the owning
services' ``export_*`` RPCs and replaces everything it keeps.

Event handlers requeue on error (a database hiccup must not lose a figure; the
upserts are idempotent so a redelivery is harmless), and requeue while a rebuild
runs (its snapshot would otherwise overwrite what they wrote).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import eventlet
from nameko.dependency_providers import Config
from nameko.events import SERVICE_POOL, EventDispatcher, event_handler
from nameko.rpc import RpcProxy, rpc
from nameko.timer import timer
from prometheus_client import Counter, Histogram

from services.reporting import domain, reports
from services.reporting.analytics import Analytics
from services.reporting.dependencies import DEPLOYMENTS, MODELS, ReadModel
from shared import events
from shared.caller import Caller
from shared.errors import EXPECTED
from shared.mongo import isoformat, utcnow
from shared.observability import Observability

log = logging.getLogger(__name__)

EVENTS_APPLIED = Counter("ml_reporting_events_total",
                         "Events applied to the read model, by event and outcome",
                         ["event", "outcome"])
REBUILDS = Counter("ml_reporting_rebuilds_total", "Read-model rebuilds, by outcome",
                   ["outcome"])
REBUILD_SECONDS = Histogram("ml_reporting_rebuild_seconds", "Duration of a rebuild",
                            buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600))
EXPORT_PAGE = 2000


class Rebuilding(Exception):
    """An event arrived during a rebuild: it is handed back to the broker."""


class ReportingService:
    name = "reporting"

    repo = ReadModel()
    analytics = Analytics()
    config = Config()
    caller = Caller()
    registry = RpcProxy("registry")
    deployer = RpcProxy("deployer")
    runner = RpcProxy("runner")
    observability = Observability()
    dispatch = EventDispatcher()

    # -- reads (the gateway) ------------------------------------------------------------

    @rpc(expected_exceptions=EXPECTED)
    def dashboard(self) -> dict[str, Any]:
        """Counts of models, deployments (active / inactive), executions (and the last
        24 hours by status), models by type and department, the recent activity."""
        return reports.dashboard(self.repo)

    @rpc(expected_exceptions=EXPECTED)
    def report(self, name: str, query: dict[str, Any] | None = None) -> dict[str, Any]:
        """One report: ``model-performance``, ``execution-trends``, ``department-usage``
        or ``deployment-status``; ``query`` holds its filters (department, region, from,
        to, ...). Raises ValidationError naming a bad parameter."""
        if name not in reports.REPORTS:
            raise domain.validation_error("report", f"unknown report {name!r}")
        query = {k: v for k, v in (query or {}).items() if k != "format"}
        return reports.REPORTS[name](self.repo, query)

    @rpc(expected_exceptions=EXPECTED)
    def request_rebuild(self) -> dict[str, Any]:
        """Ask for a rebuild from the owning services; runs on the next tick (≤ 1 s) of
        one replica. Returns the rebuild state (``rebuild_status``)."""
        self.repo.request_rebuild(self.caller["username"])
        self.dispatch(events.REPORTS_REBUILD_REQUESTED, {
            "rebuild": {"id": "read-side", "requested_by": self.caller["username"]}})
        return self.rebuild_status()

    @rpc(expected_exceptions=EXPECTED)
    def rebuild_status(self) -> dict[str, Any]:
        """``{"state": never|running|succeeded|failed, "requested", "started_at",
        "finished_at", "counts": {"models", "deployments", "executions"}, "error"}``."""
        meta = self.repo.meta()
        return {"state": meta.get("state", "never"), "requested": bool(meta.get("requested")),
                "requested_at": isoformat(meta.get("requested_at")),
                "started_at": isoformat(meta.get("started_at")),
                "finished_at": isoformat(meta.get("finished_at")),
                "counts": meta.get("counts") or {}, "error": meta.get("error")}

    @event_handler("admin", events.DATA_RESTORED, handler_type=SERVICE_POOL,
                   requeue_on_error=True)
    def on_data_restored(self, payload: dict[str, Any]) -> None:
        """A restore replaced the owners' data: rebuild the read side (and the analytics
        copy) from them on the next tick."""
        self.repo.request_rebuild("restore")

    # -- rebuild ------------------------------------------------------------------------

    @timer(interval=1)
    def tick(self) -> None:
        """At start: ask for a rebuild. Every tick: run a requested one (one replica)."""
        if not self.repo.start_requested:
            self.repo.start_requested = True
            self.repo.request_rebuild("start")
        stale = utcnow() - timedelta(seconds=float(self.config.get("REPORTING_STALE_S", 60)))
        if self.repo.claim_rebuild(self.repo.owner, stale):
            self._rebuild()
        self.repo.refresh_model_directory()
        self.repo.ticks += 1
        if self.repo.ticks % 10 == 1:
            self.repo.trim_activity()

    def _export(self, proxy, method: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        after = None
        while True:
            page = getattr(proxy, method)(after, EXPORT_PAGE)
            items.extend(page["items"])
            self.repo.heartbeat(self.repo.owner)
            after = page.get("next")
            if not after:
                return items

    def _rebuild(self) -> None:
        started = utcnow()
        try:
            with REBUILD_SECONDS.time():
                # Let handlers already past their rebuild check finish their writes.
                eventlet.sleep(0.2)
                models = self._export(self.registry, "export_models")
                deployments = self._export(self.deployer, "export_deployments")
                executions = self._export(self.runner, "export_executions")
                counts = self._replace(models, deployments, executions)
        except Exception as exc:
            REBUILDS.labels("failed").inc()
            log.exception("rebuild failed")
            self.repo.finish_rebuild(self.repo.owner, "failed", {}, f"{type(exc).__name__}: {exc}")
            return
        REBUILDS.labels("succeeded").inc()
        log.info("rebuilt from the services in %.1fs: %s",
                 (utcnow() - started).total_seconds(), counts)
        self.repo.finish_rebuild(self.repo.owner, "succeeded", counts)

    def _replace(self, models, deployments, executions) -> dict[str, int]:
        figures = domain.Totals()
        slim_models = []
        for model in models:
            figures.add(domain.model_contributions(model))
            slim_models.append({"_id": model["id"], **domain.slim_model(model), "deleted": False})
        slim_deployments = {}
        for deployment in deployments:
            figures.add(domain.deployment_contributions(deployment))
            slim_deployments[deployment["id"]] = {"_id": deployment["id"], "deleted": False,
                                                  **domain.slim_deployment(deployment),
                                                  "last_run": None, "last_run_at": None}
        slim_executions = []
        newest: dict[str, dict[str, Any]] = {}
        for n, execution in enumerate(executions):
            slim = domain.slim_execution(execution)
            figures.add(domain.execution_contributions(slim))
            slim_executions.append({"_id": execution["id"], **slim,
                                    "rank": domain.execution_rank(execution)})
            dep = execution.get("deployment_id")
            if dep and (dep not in newest or (newest[dep].get("created_at") or "")
                        <= (execution.get("created_at") or "")):
                newest[dep] = execution
            if n % 2000 == 1999:
                eventlet.sleep(0)  # a big rebuild must not starve the hub (heartbeats)
        for dep, execution in newest.items():
            if dep in slim_deployments:
                slim_deployments[dep]["last_run"] = {
                    "id": execution["id"], "status": execution.get("status"),
                    "created_at": execution.get("created_at"),
                    "at": execution.get("finished_at") or execution.get("started_at")
                    or execution.get("created_at")}
                slim_deployments[dep]["last_run_at"] = domain.parse_time(
                    execution.get("created_at"))
        objects = {"model": slim_models, "deployment": list(slim_deployments.values()),
                   "execution": slim_executions}
        self.repo.replace_all(objects, figures.result(), self.repo.owner)
        self.repo.refresh_model_directory(force=True)
        self.analytics.replace({"model": models, "deployment": deployments,
                                "execution": executions})
        activity = [domain.activity_entry("model_created", m, m.get("created_by"),
                                          m.get("created_at")) for m in models]
        activity += [domain.activity_entry("deployment_created", d, d.get("created_by"),
                                           d.get("created_at")) for d in deployments]
        activity += [domain.activity_entry("execution_queued", e, e.get("created_by"),
                                           e.get("created_at")) for e in executions[-200:]]
        self.repo.seed_activity([a for a in activity if a])
        return {"models": len(models), "deployments": len(deployments),
                "executions": len(executions)}

    # -- events -------------------------------------------------------------------------

    def _guard(self, event: str) -> None:
        if self.repo.rebuilding():
            EVENTS_APPLIED.labels(event, "deferred").inc()
            eventlet.sleep(0.5)
            raise Rebuilding(f"{event} deferred: a rebuild is running")

    def _who(self, fallback: str | None) -> str | None:
        return self.caller["username"] or fallback

    @events.on_events("registry", (events.MODEL_CREATED, events.MODEL_UPDATED,
                                   events.MODEL_FILE_UPLOADED),
                      handler_type=SERVICE_POOL, requeue_on_error=True)
    def on_model(self, payload: dict[str, Any]) -> None:
        """A model's new state: counters by type / department / region, analytics row."""
        model = (payload or {}).get("model") or {}
        if not model.get("id"):
            log.warning("model event without a model dropped: %r", payload)
            return
        self._guard("model")
        with self.repo.lock(f"model:{model['id']}"):
            applied, before, _ = self.repo.put_model(model)
            event = events.MODEL_CREATED if before is None else events.MODEL_UPDATED
            if applied:
                self.repo.apply(domain.difference(domain.model_contributions(before),
                                                  domain.model_contributions(model)))
                self.analytics.upsert("model", model)
        if applied:
            self.repo.mark_models_changed()
            self.repo.add_activity(domain.activity_entry(
                event, model, self._who(model.get("created_by")), model.get("updated_at")))
        EVENTS_APPLIED.labels(event, "applied" if applied else "stale").inc()

    @event_handler("registry", events.MODEL_DELETED, handler_type=SERVICE_POOL,
                   requeue_on_error=True)
    def on_model_deleted(self, payload: dict[str, Any]) -> None:
        """A deleted model leaves the counters (its executions stay: they happened)."""
        model_id = (payload or {}).get("model_id")
        if not model_id:
            log.warning("model_deleted without model_id dropped: %r", payload)
            return
        self._guard(events.MODEL_DELETED)
        with self.repo.lock(f"model:{model_id}"):
            applied, before = self.repo.remove(MODELS, model_id)
            if applied:
                self.repo.apply(domain.difference(domain.model_contributions(before), ()))
                self.analytics.delete("model", model_id)
        if applied:
            self.repo.mark_models_changed()
        self.repo.add_activity(domain.activity_entry(
            events.MODEL_DELETED, {"id": model_id, **(payload or {})}, self._who(None),
            isoformat(utcnow())))
        EVENTS_APPLIED.labels(events.MODEL_DELETED, "applied" if applied else "stale").inc()

    @events.on_events("deployer", (events.DEPLOYMENT_CREATED, events.DEPLOYMENT_UPDATED,
                                   events.DEPLOYMENT_STARTED, events.DEPLOYMENT_STOPPED),
                      handler_type=SERVICE_POOL, requeue_on_error=True)
    def on_deployment(self, payload: dict[str, Any]) -> None:
        """A deployment's new state: counters by status / department / region."""
        deployment = (payload or {}).get("deployment") or {}
        if not deployment.get("id"):
            log.warning("deployment event without a deployment dropped: %r", payload)
            return
        self._guard("deployment")
        with self.repo.lock(f"deployment:{deployment['id']}"):
            applied, before, _ = self.repo.put_deployment(deployment)
            event = self._deployment_event(before, deployment)
            if applied:
                self.repo.apply(domain.difference(domain.deployment_contributions(before),
                                                  domain.deployment_contributions(deployment)))
                self.analytics.upsert("deployment", deployment)
        if applied:
            who = self._who(deployment.get("created_by"))
            self.repo.add_activity(domain.activity_entry(event, deployment, who,
                                                         deployment.get("updated_at")))
        EVENTS_APPLIED.labels(event, "applied" if applied else "stale").inc()

    @staticmethod
    def _deployment_event(before: dict[str, Any] | None, deployment: dict[str, Any]) -> str:
        # One handler for four events (nameko does not say which): read it from the change.
        if before is None:
            return events.DEPLOYMENT_CREATED
        if before.get("status") != deployment.get("status"):
            return (events.DEPLOYMENT_STARTED if deployment.get("status") == "active"
                    else events.DEPLOYMENT_STOPPED)
        return events.DEPLOYMENT_UPDATED

    @event_handler("deployer", events.DEPLOYMENT_DELETED, handler_type=SERVICE_POOL,
                   requeue_on_error=True)
    def on_deployment_deleted(self, payload: dict[str, Any]) -> None:
        """A deleted deployment leaves the counters."""
        deployment_id = (payload or {}).get("deployment_id")
        if not deployment_id:
            log.warning("deployment_deleted without deployment_id dropped: %r", payload)
            return
        self._guard(events.DEPLOYMENT_DELETED)
        with self.repo.lock(f"deployment:{deployment_id}"):
            applied, before = self.repo.remove(DEPLOYMENTS, deployment_id)
            if applied:
                self.repo.apply(domain.difference(domain.deployment_contributions(before), ()))
                self.analytics.delete("deployment", deployment_id)
        self.repo.add_activity(domain.activity_entry(
            events.DEPLOYMENT_DELETED, {"id": deployment_id, "name": (before or {}).get("name")},
            self._who(None), isoformat(utcnow())))
        EVENTS_APPLIED.labels(events.DEPLOYMENT_DELETED,
                              "applied" if applied else "stale").inc()

    @event_handler("scheduler", events.EXECUTION_REQUESTED, handler_type=SERVICE_POOL,
                   requeue_on_error=True)
    def on_execution_requested(self, payload: dict[str, Any]) -> None:
        """The scheduler's next slot is the deployment's next run."""
        payload = payload or {}
        if payload.get("deployment_id") and payload.get("next_run_at"):
            self.repo.set_next_run(payload["deployment_id"], payload["next_run_at"])

    @events.on_events("runner", events.EXECUTION_EVENTS, handler_type=SERVICE_POOL,
                      requeue_on_error=True)
    def on_execution(self, payload: dict[str, Any]) -> None:
        """An execution's new state: buckets by hour / day, department, region, status,
        trigger; duration histogram, rows and compute time; per model; last run."""
        execution = (payload or {}).get("execution") or {}
        if not execution.get("id"):
            log.warning("execution event without an execution dropped: %r", payload)
            return
        event = f"execution_{execution.get('status')}"
        self._guard(event)
        with self.repo.lock(f"execution:{execution['id']}"):
            applied, before, slim = self.repo.put_execution(execution)
            if applied:
                self.repo.apply(domain.difference(domain.execution_contributions(before),
                                                  domain.execution_contributions(slim)))
                self.repo.set_last_run(execution)
                self.analytics.upsert("execution", execution)
        if applied and execution.get("status") != "running":
            self.repo.add_activity(domain.activity_entry(
                event, execution, execution.get("created_by"),
                execution.get("finished_at") or execution.get("created_at")))
        EVENTS_APPLIED.labels(event, "applied" if applied else "stale").inc()

