"""The runner service: executions (queued, sandboxed, logged) and online predictions.

Entrypoints only; the work is in ``engine.py``. Executions are started by RPC
(gateway) or by the scheduler's ``execution_requested`` event, recorded
``queued`` and put on a durable RabbitMQ queue; ``run_execution`` consumes that
queue (prefetch = ``RUNNER_SLOTS``) and runs each one in a child process.
"""

from __future__ import annotations

import logging
from typing import Any

import eventlet
from nameko.events import BROADCAST, SERVICE_POOL, EventDispatcher, event_handler
from nameko.rpc import RpcProxy, rpc
from nameko.timer import timer

from services.runner import domain, retention
from services.runner.dependencies import ExecutionRepository, Runtime
from services.runner.engine import Engine
from services.runner.queue import ExecutionQueue, execution_consumer
from shared import events, limits
from shared.caller import Caller
from shared.errors import EXPECTED, Conflict, NotFound, PlatformError, ServiceUnavailable
from shared.maintenance import MAINTENANCE_EVENTS, Maintenance
from shared.mongo import export_page, utcnow
from shared.observability import Observability
from shared.settings import PlatformSettings

log = logging.getLogger(__name__)

SWEEP_INTERVAL_S = 10
PURGE_TICK_S = 5


class RunnerService:
    name = "runner"

    repo = ExecutionRepository()
    runtime = Runtime()
    queue = ExecutionQueue()
    dispatch = EventDispatcher()
    registry = RpcProxy("registry")
    deployer = RpcProxy("deployer")
    caller = Caller()
    observability = Observability()
    settings = PlatformSettings()
    maintenance = Maintenance()

    @property
    def engine(self) -> Engine:
        return Engine(self)

    @rpc(expected_exceptions=EXPECTED)
    def create_execution(self, request: dict[str, Any]) -> dict[str, Any]:
        """Queue a run of a model or a deployment; returns the execution (``queued``).

        ``{"model_id" | "deployment_id", "parameters": {...}, "trigger": "manual",
        "input": {"rows": [...]} | {"artifact": ArtifactRef dict} | null}``.
        Raises NotFound (model/deployment), Conflict (model without file),
        ValidationError (bad parameter, naming it), InvalidInputData (unreadable
        input, missing columns).
        """
        return self.engine.create(request, self.caller)

    @rpc(expected_exceptions=EXPECTED)
    def resource_limits(self) -> dict[str, Any]:
        """The resources a deployment or a run may ask for, from the global settings as
        this replica holds them: ``{min_memory_mb, max_memory_mb, default_memory_mb,
        min_timeout_s, max_timeout_s, default_timeout_s}`` (every role reads it: forms
        help and validate with it; /admin/settings is for admins only)."""
        return self.engine.limits()

    @rpc(expected_exceptions=EXPECTED)
    def get_execution(self, execution_id: str) -> dict[str, Any]:
        """One execution dict (API.md Executions); NotFound for an unknown id."""
        return domain.to_dict(self.repo.get(execution_id))

    @rpc(expected_exceptions=EXPECTED)
    def reload_list_index(self) -> dict[str, Any]:
        """Reload this replica's list index (after ``executions`` was written from outside
        the runner: a restore, a bulk import); ``{"documents": n}`` once loaded."""
        return {"documents": self.repo.reload_list_index()}

    @rpc(expected_exceptions=EXPECTED)
    def list_executions(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        """``{items, total, page, per_page}``; query keys deployment_id, model_id, status,
        trigger, created_by, department, region, from / to (ISO 8601, on created_at: from
        inclusive, to exclusive), sort (e.g. ``-created_at``), page, per_page (≤ 200)."""
        filters, sort, page, per_page = domain.list_query(query)
        docs, total = self.repo.list(filters, sort, page, per_page)
        return {"items": [domain.to_dict(d) for d in docs], "total": total, "page": page,
                "per_page": per_page}

    @rpc(expected_exceptions=EXPECTED)
    def export_executions(self, after: str | None = None, limit: int = 1000) -> dict[str, Any]:
        """Every execution, oldest first, ``limit`` (≤ 2000) at a time (the reporting
        service's rebuild): ``{"items": [execution dict], "next": cursor | None}``; pass
        ``next`` back as ``after`` (an opaque cursor). ValidationError for a bad one."""
        _, limit = export_page(None, limit)
        docs, cursor = self.repo.export(domain.parse_export_cursor(after), limit)
        return {"items": [domain.to_dict(d) for d in docs],
                "next": domain.export_cursor(cursor)}

    @rpc(expected_exceptions=EXPECTED)
    def get_logs(self, execution_id: str, after: int = 0, limit: int = 1000) -> dict[str, Any]:
        """Log lines numbered after ``after``: ``{"lines": [{n, ts, level, message}],
        "next": N, "status": ...}``; pass ``next`` back as ``after`` to follow."""
        after = limits.bounded_int(after, "after", 0, limits.LOG_AFTER_MAX, 0)
        limit = limits.bounded_int(limit, "limit", 1, limits.LOG_LIMIT_MAX, 1000)
        doc = self.repo.get(execution_id)
        lines = self.repo.logs(execution_id, after, limit)
        return {
            "lines": [{"n": ln["n"], "ts": domain._iso(ln["ts"]), "level": ln["level"],
                       "message": ln["message"]} for ln in lines],
            "next": lines[-1]["n"] if lines else after,
            "status": doc["status"],
        }

    @rpc(expected_exceptions=EXPECTED)
    def get_result(self, execution_id: str) -> dict[str, Any]:
        """The result artifact ``{artifact_id, filename, content_type, size, format, rows}``;
        Conflict while the execution has no result (not succeeded)."""
        doc = self.repo.get(execution_id)
        result = doc.get("result")
        if result and result.get("purged_at"):
            raise NotFound("the results were purged by the retention policy",
                           {"purged_at": domain._iso(result["purged_at"])})
        if doc["status"] != domain.SUCCEEDED or not result:
            raise Conflict(f"no results: the execution is {doc['status']}",
                           {"status": doc["status"]})
        return {key: result.get(key) for key in
                ("artifact_id", "filename", "content_type", "size", "format", "rows")}

    @rpc(expected_exceptions=EXPECTED)
    def cancel_execution(self, execution_id: str) -> dict[str, Any]:
        """Cancel: a queued one at once, a running one within ~1 s (SIGTERM, grace,
        SIGKILL) on whichever replica runs it. Conflict when already finished."""
        return self.engine.cancel(execution_id)

    @rpc(expected_exceptions=EXPECTED)
    def rerun_execution(self, execution_id: str) -> dict[str, Any]:
        """A new execution with the same model, parameters and input (trigger ``rerun``,
        ``rerun_of`` = the source id)."""
        return self.engine.rerun(execution_id, self.caller)

    @rpc(expected_exceptions=EXPECTED)
    def predict(self, deployment_id: str, instances: list[dict[str, Any]],
                parameters: dict[str, Any] | None = None) -> dict[str, Any]:
        """Online prediction on an active deployment: ``{"predictions": [...]}`` (plus
        ``probabilities`` with ``predict_proba``). Conflict when not active;
        InvalidInputData naming missing/unknown/non-numeric fields."""
        return self.engine.predict(deployment_id, instances, parameters)

    # Requeued on error: a request that failed for a passing reason (a service that did
    # not answer) is tried again; refusals are recorded below and never loop.
    @event_handler("scheduler", events.EXECUTION_REQUESTED, handler_type=SERVICE_POOL,
                   requeue_on_error=True)
    def on_execution_requested(self, payload: dict[str, Any]) -> None:
        """A scheduled run: idempotent on ``idempotency_key`` (a redelivered request never
        makes a second execution). A refused one is recorded ``failed`` with the reason.

        ``{"deployment_id", "slot", "trigger": "schedule", "idempotency_key"}``
        """
        key = payload.get("idempotency_key") or f"{payload.get('deployment_id')}:" \
                                                   f"{payload.get('slot')}"
        if self.repo.by_key(key) is not None:
            return
        request = {"deployment_id": payload.get("deployment_id"), "parameters": {},
                   "input": None, "trigger": "schedule"}
        try:
            self.engine.create(request, {"username": "scheduler"}, idempotency_key=key,
                               slot=payload.get("slot"))
        except ServiceUnavailable:
            eventlet.sleep(1)  # back off before the broker hands the request back
            raise
        except PlatformError as exc:
            log.warning("scheduled run %s refused: %s", key, exc.message)
            self.engine.record_refused(payload, key, exc)

    @events.on_events("deployer", (events.DEPLOYMENT_UPDATED, events.DEPLOYMENT_STARTED,
                                   events.DEPLOYMENT_STOPPED, events.DEPLOYMENT_DELETED),
                      handler_type=BROADCAST, reliable_delivery=False)
    def on_deployment_changed(self, payload: dict[str, Any]) -> None:
        """Every replica drops its remembered copy of the deployment (online predict)."""
        deployment = payload.get("deployment") or {}
        self.runtime.forget("deployment", deployment.get("id") or payload.get("deployment_id"))

    @events.on_events("registry", (events.MODEL_UPDATED, events.MODEL_FILE_UPLOADED,
                                   events.MODEL_DELETED),
                      handler_type=BROADCAST, reliable_delivery=False)
    def on_model_changed(self, payload: dict[str, Any]) -> None:
        """Every replica drops its remembered copy of the model (online predict)."""
        model = payload.get("model") or {}
        self.runtime.forget("model", model.get("id") or payload.get("model_id"))

    @event_handler("admin", events.SETTINGS_CHANGED, handler_type=BROADCAST,
                   reliable_delivery=False)
    def on_settings_changed(self, payload: dict[str, Any]) -> None:
        """Every replica takes the new global settings (timeouts, retention)."""
        self.settings.apply(payload)

    @events.on_events("admin", MAINTENANCE_EVENTS, handler_type=BROADCAST,
                      reliable_delivery=False)
    def on_maintenance(self, payload: dict[str, Any]) -> None:
        """Every replica: while a restore runs, no execution starts (runs already going
        go on; their queue entries wait)."""
        self.maintenance.apply(payload)

    @event_handler("admin", events.DATA_RESTORED, handler_type=BROADCAST,
                   reliable_delivery=False)
    def on_data_restored(self, payload: dict[str, Any]) -> None:
        """Every replica forgets the models and deployments it remembered, and reloads
        its list index."""
        self.runtime.forget_all()
        self.repo.reload_list_index()

    @timer(interval=PURGE_TICK_S)
    def purge(self) -> None:
        """Retention, every ``RUNNER_PURGE_INTERVAL_S``: executions older than
        ``retention_days`` go with their logs and results; logs / results alone after
        their own setting (0 = kept). Their audit entries stay in the admin's audit
        trail. Safe on every replica."""
        if self.runtime.purge_due():
            retention.purge(self.repo, self.settings, utcnow())

    @execution_consumer
    def run_execution(self, execution_id: str) -> str:
        """Consume one queued execution id: run it in a child process to a final state.
        Returns ``ack`` or ``requeue`` (the queue entrypoint acts on it). Waits while a
        restore pauses the runners (the message stays unacknowledged meanwhile)."""
        while self.maintenance.paused():
            eventlet.sleep(0.5)
        return self.engine.run(execution_id)

    @timer(interval=SWEEP_INTERVAL_S)
    def sweep(self) -> None:
        """Runs whose runner vanished long ago → failed "runner lost"; re-queue ids that
        never reached the broker; refresh the queued gauge. Safe on every replica."""
        self.engine.sweep()
