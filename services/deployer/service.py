"""The deployer: deployments of ready models, with parameters, cron schedule and input.

RPC entrypoints (all raise ``shared.errors`` subclasses only):
``create_deployment``, ``get_deployment``, ``list_deployments``,
``update_deployment``, ``delete_deployment``, ``start_deployment``,
``stop_deployment``, ``preview_schedule``, ``preview_expression``, ``attach_input``,
``active_deployments_for_model``, ``list_active_schedules``.
Listens to the registry (models), the runner (last execution) and the
scheduler (shown ``next_run_at``).
"""

from __future__ import annotations

import logging
import os
import tempfile
from datetime import datetime
from typing import Any

from nameko.events import BROADCAST, EventDispatcher, event_handler
from nameko.rpc import RpcProxy, rpc

from services.deployer import domain
from services.deployer.dependencies import Deployments
from services.deployer.schemas import DeploymentCreate, DeploymentQuery, DeploymentUpdate, load
from shared import cron, events, limits, resources
from shared.caller import Caller
from shared.datasets import inspect_dataset_offhub
from shared.errors import EXPECTED, Conflict, InvalidInputData, NotFound, ValidationError
from shared.mongo import utcnow
from shared.observability import Observability
from shared.settings import PlatformSettings

log = logging.getLogger(__name__)

def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _preview_count(count: Any) -> int:
    """``count`` of a schedule preview (400 naming ``count`` when out of range)."""
    return limits.bounded_int(count, "count", 1, min(cron.PREVIEW_MAX, limits.PREVIEW_COUNT_MAX), 5)


class DeployerService:
    name = "deployer"

    deployments = Deployments()
    caller = Caller()
    registry = RpcProxy("registry")
    dispatch = EventDispatcher()
    observability = Observability()
    settings = PlatformSettings()

    # -- helpers ---------------------------------------------------------------

    def _model(self, model_id: str) -> dict[str, Any]:
        """The model from the registry; an unknown one is a 400 naming ``model_id``."""
        try:
            return self.registry.get_model(model_id)
        except NotFound:
            raise ValidationError(
                f"model_id: model {model_id!r} not found", {"model_id": ["model not found"]}
            ) from None

    def _emit(self, event: str, deployment: dict[str, Any]) -> None:
        self.dispatch(event, {"deployment": deployment})

    # -- CRUD ------------------------------------------------------------------

    @rpc(expected_exceptions=EXPECTED)
    def create_deployment(self, data: dict[str, Any]) -> dict[str, Any]:
        """Create an inactive deployment of a ready model.

        ``{"name": "churn nightly", "model_id": "665f...", "parameters": {"threshold": 0.5},
        "schedule": "30 2 * * *", "timezone": "Europe/Paris"}`` → the deployment.
        Raises ValidationError (400: bad field, bad cron, unknown time zone or model),
        Conflict (409: model not ready, e.g. a draft without a valid file). Without a
        ``timezone``, the global setting ``default_timezone``. ``memory_mb`` /
        ``timeout_s`` (null = default) above the settings' ``max_memory_mb`` /
        ``max_execution_timeout_s`` → 400 naming the field and the ceiling.
        """
        if isinstance(data, dict) and not data.get("timezone"):
            data = {**data, "timezone": self.settings["default_timezone"]}
        data = domain.validate_schedule(load(DeploymentCreate(), data))
        data.update(resources.validate(data, self.settings))
        model = self._model(data["model_id"])
        doc = domain.new_deployment(data, model, self.caller["username"], utcnow())
        deployment = self.deployments.insert(doc)
        self._emit(events.DEPLOYMENT_CREATED, deployment)
        return deployment

    @rpc(expected_exceptions=EXPECTED)
    def get_deployment(self, deployment_id: str) -> dict[str, Any]:
        """One deployment, with ``model_id``, ``parameters`` and ``input`` (artifact_id,
        filename, rows, columns, format). Raises NotFound."""
        return domain.refresh_next_run_at(self.deployments.get(deployment_id), utcnow())

    @rpc(expected_exceptions=EXPECTED)
    def reload_list_index(self) -> dict[str, Any]:
        """Reload this replica's list index (after ``deployments`` was written from outside
        the deployer: a restore); ``{"documents": n}`` once loaded."""
        return {"documents": self.deployments.reload_list_index()}

    @rpc(expected_exceptions=EXPECTED)
    def list_deployments(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        """``{items, total, page, per_page}``; query keys q, department, region, status,
        model_id, sort (e.g. ``-created_at``), page, per_page (≤ 200). Raises ValidationError."""
        query = load(
            DeploymentQuery(), {k: v for k, v in (query or {}).items() if v not in (None, "")}
        )
        sort = domain.parse_sort(query.pop("sort"))
        page = self.deployments.search(query, sort, query.pop("page"), query.pop("per_page"))
        now = utcnow()
        page["items"] = [domain.refresh_next_run_at(item, now) for item in page["items"]]
        return page

    @rpc(expected_exceptions=EXPECTED)
    def export_deployments(self, after: str | None = None, limit: int = 1000) -> dict[str, Any]:
        """Every deployment (without history), oldest id first, a keyset page at a time
        (the reporting service's rebuild): ``{"items": [...], "next": id | None}``."""
        items = self.deployments.export(after, limit)
        return {"items": items, "next": items[-1]["id"] if len(items) == limit else None}

    @rpc(expected_exceptions=EXPECTED)
    def update_deployment(self, deployment_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Edit fields; a schedule / time zone change recomputes ``next_run_at`` and is
        recorded in ``history`` (who, when, old, new). Raises NotFound, ValidationError,
        Conflict (new model not ready)."""
        old = self.deployments.get_raw(deployment_id)
        changes = domain.validate_schedule(load(DeploymentUpdate(), changes, partial=True))
        changes.update(resources.validate(changes, self.settings))
        if "timezone" in changes and changes["timezone"] is None:
            changes["timezone"] = "UTC"
        if "model_id" in changes and changes["model_id"] != old["model_id"]:
            model = self._model(changes["model_id"])
            domain.check_model_usable(model)
            changes.update(domain.model_fields(model))
        now = utcnow()
        history = domain.history_entries(old, changes, self.caller["username"], now)
        if not changes:
            return self.deployments.get(deployment_id)
        merged = {**old, **changes}
        if any(k in changes for k in ("schedule", "timezone")):
            changes["next_run_at"] = domain.next_run_at(merged, now)
        changes["updated_at"] = now
        deployment = self.deployments.update(deployment_id, changes, history)
        self._emit(events.DEPLOYMENT_UPDATED, deployment)
        return deployment

    @rpc(expected_exceptions=EXPECTED)
    def delete_deployment(self, deployment_id: str) -> None:
        """Delete a deployment and its input dataset. Raises NotFound."""
        deployment = self.deployments.delete(deployment_id)
        if deployment.get("input"):
            self.deployments.artifacts.delete(deployment["input"].get("artifact_id"))
        self.dispatch(events.DEPLOYMENT_DELETED, {"deployment_id": deployment["id"]})

    # -- lifecycle -------------------------------------------------------------

    @rpc(expected_exceptions=EXPECTED)
    def start_deployment(self, deployment_id: str) -> dict[str, Any]:
        """Status ``active`` and the next slot in ``next_run_at`` (null without schedule).
        Raises NotFound, Conflict (the model is gone or not ready). Idempotent."""
        old = self.deployments.get_raw(deployment_id)
        if old["status"] == "active":
            return self.deployments.get(deployment_id)
        if old.get("model_deleted"):
            raise Conflict("the deployment's model was deleted", {"model_id": old["model_id"]})
        try:
            model = self.registry.get_model(old["model_id"])
        except NotFound:
            raise Conflict(
                "the deployment's model was deleted", {"model_id": old["model_id"]}
            ) from None
        domain.check_model_usable(model)
        now = utcnow()
        changes = {"status": "active", **domain.model_fields(model), "updated_at": now}
        changes["next_run_at"] = domain.next_run_at({**old, **changes}, now)
        history = [domain.status_entry(old["status"], "active", self.caller["username"], now)]
        deployment = self.deployments.update(
            deployment_id, changes, history, expect={"status": "inactive"}
        )
        if deployment is None:  # started concurrently
            return self.deployments.get(deployment_id)
        self._emit(events.DEPLOYMENT_STARTED, deployment)
        return deployment

    @rpc(expected_exceptions=EXPECTED)
    def stop_deployment(self, deployment_id: str) -> dict[str, Any]:
        """Status ``inactive``, ``next_run_at`` cleared; running executions go on.
        Raises NotFound. Idempotent."""
        return self._stop(deployment_id, self.caller["username"])

    def _stop(self, deployment_id: str, username: str | None, **extra: Any) -> dict[str, Any]:
        now = utcnow()
        history = [domain.status_entry("active", "inactive", username, now)]
        deployment = self.deployments.update(
            deployment_id,
            {"status": "inactive", "next_run_at": None, "updated_at": now, **extra},
            history,
            expect={"status": "active"},
        )
        if deployment is None:  # already inactive (or gone: get raises NotFound)
            if extra:
                self.deployments.update(deployment_id, extra)
            return self.deployments.get(deployment_id)
        self._emit(events.DEPLOYMENT_STOPPED, deployment)
        return deployment

    @rpc(expected_exceptions=EXPECTED)
    def preview_schedule(self, deployment_id: str, count: int = 5) -> dict[str, Any]:
        """The next ``count`` (1..100) run times: ``{"timezone", "schedule", "next_runs":
        [{"utc": "2026-10-25T00:30:00Z", "local": "2026-10-25T02:30:00+02:00"}]}``.
        Raises NotFound, ValidationError (count)."""
        count = _preview_count(count)
        doc = self.deployments.get_raw(deployment_id)
        return cron.preview(doc.get("schedule"), doc.get("timezone") or "UTC", utcnow(), count)

    @rpc(expected_exceptions=EXPECTED)
    def preview_expression(
        self, schedule: str | None, timezone: str | None = None, count: int = 5
    ) -> dict[str, Any]:
        """The next ``count`` run times of an expression not saved yet (a form being typed):
        the same answer as ``preview_schedule``. Raises ValidationError naming
        ``schedule`` (missing or invalid cron), ``timezone`` (unknown IANA name), ``count``."""
        count = _preview_count(count)
        expression = cron.validate_cron(schedule)
        if expression is None:
            raise ValidationError(
                "schedule: a cron expression is required",
                {"schedule": ["a 5-field cron expression is required"]},
            )
        zone = cron.validate_timezone(timezone)
        return cron.preview(expression, zone, utcnow(), count)

    # -- input dataset ---------------------------------------------------------

    @rpc(expected_exceptions=EXPECTED)
    def attach_input(self, deployment_id: str, artifact: dict[str, Any]) -> dict[str, Any]:
        """Check and attach the default input dataset (already in the artifact store).

        ``artifact`` = ``ArtifactRef.to_dict()``. The file is parsed off the hub
        (``shared.datasets``): unreadable or a bad row (ragged, a value that is not of its
        column's type; kept and reported instead when the deployment's parameters say
        ``on_bad_rows: "skip"``) → InvalidInputData (422) with the line or reason,
        columns of the model's ``input_schema`` missing → InvalidInputData naming them. A
        rejected artifact is deleted; an accepted one replaces (and deletes) the previous.
        Raises NotFound.
        """
        artifact_id = artifact.get("id") if isinstance(artifact, dict) else None
        if not artifact_id:
            raise ValidationError("artifact: missing id", {"artifact": ["missing id"]})
        try:
            doc = self.deployments.get_raw(deployment_id)
            schema = self._input_schema(doc["model_id"])
            on_bad_rows = (doc.get("parameters") or {}).get("on_bad_rows")
            info = self._inspect(artifact, schema, "skip" if on_bad_rows == "skip" else "fail")
        except BaseException:
            self.deployments.artifacts.delete(artifact_id)
            raise
        now = utcnow()
        input_ = {
            "artifact_id": artifact_id,
            "filename": artifact.get("filename"),
            "content_type": artifact.get("content_type"),
            "size": artifact.get("size"),
            "sha256": artifact.get("sha256"),
            **info,
            "uploaded_at": now,
            "uploaded_by": self.caller["username"],
        }
        deployment, previous = self.deployments.set_input(deployment_id, input_, now)
        if previous and previous.get("artifact_id") != artifact_id:
            self.deployments.artifacts.delete(previous.get("artifact_id"))
        self._emit(events.DEPLOYMENT_UPDATED, deployment)
        return deployment

    def _input_schema(self, model_id: str) -> list[dict[str, Any]] | None:
        try:
            return self.registry.get_model(model_id).get("input_schema") or None
        except NotFound:
            raise Conflict("the deployment's model was deleted", {"model_id": model_id}) from None

    def _inspect(
        self, artifact: dict[str, Any], schema: list[dict[str, Any]] | None,
        on_bad_rows: str = "fail",
    ) -> dict[str, Any]:
        fd, path = tempfile.mkstemp(prefix="deployer-input-")
        os.close(fd)
        try:
            # Streaming download is I/O (green); the parse runs in an OS thread.
            self.deployments.artifacts.download_to(artifact["id"], path)
            return inspect_dataset_offhub(path, artifact.get("filename"), schema, on_bad_rows)
        except NotFound:
            raise InvalidInputData(
                "the uploaded file is not in the artifact store", {"artifact_id": artifact["id"]}
            ) from None
        finally:
            os.unlink(path)

    # -- for other services ----------------------------------------------------

    @rpc(expected_exceptions=EXPECTED)
    def active_deployments_for_model(self, model_id: str) -> list[dict[str, Any]]:
        """Active deployments using ``model_id`` (the registry refuses deletion if any)."""
        return self.deployments.active_for_model(str(model_id))

    @rpc(expected_exceptions=EXPECTED)
    def list_active_schedules(self) -> list[dict[str, Any]]:
        """Every active deployment with a schedule (the scheduler's resync at startup)."""
        return self.deployments.active_schedules()

    # -- events ----------------------------------------------------------------

    @event_handler("admin", events.DATA_RESTORED, handler_type=BROADCAST,
                   reliable_delivery=False)
    def on_data_restored(self, payload: dict[str, Any]) -> None:
        """A restore replaced the deployments: every replica reloads its list index."""
        self.deployments.reload_list_index()

    @event_handler("admin", events.SETTINGS_CHANGED, handler_type=BROADCAST,
                   reliable_delivery=False)
    def on_settings_changed(self, payload: dict[str, Any]) -> None:
        """Every replica takes the new global settings (default time zone)."""
        self.settings.apply(payload)
    # Handlers requeue on error (a database hiccup must not lose the update); a
    # malformed payload is logged and dropped, so it cannot loop forever.

    @event_handler("registry", events.MODEL_UPDATED, requeue_on_error=True)
    @event_handler("registry", events.MODEL_FILE_UPLOADED, requeue_on_error=True)
    def on_model_updated(self, payload: dict[str, Any]) -> None:
        """Keep department, region and model name/version in step with the model."""
        model = (payload or {}).get("model") or {}
        if not model.get("id"):
            log.warning("model event without model id dropped: %r", payload)
            return
        ids = self.deployments.sync_model(model["id"], domain.model_fields(model), utcnow())
        for deployment_id in ids:
            self._emit(events.DEPLOYMENT_UPDATED, self.deployments.get(deployment_id))

    @event_handler("registry", events.MODEL_DELETED, requeue_on_error=True)
    def on_model_deleted(self, payload: dict[str, Any]) -> None:
        """Mark the model's deployments ``model_deleted`` and stop the active ones."""
        model_id = (payload or {}).get("model_id")
        if not model_id:
            log.warning("model_deleted without model_id dropped: %r", payload)
            return
        for deployment in self.deployments.for_model(model_id):
            if deployment.get("model_deleted") and deployment["status"] == "inactive":
                continue  # redelivered: nothing changes twice
            self._stop(deployment["id"], "system", model_deleted=True)

    @events.on_events("runner", events.EXECUTION_EVENTS, requeue_on_error=True)
    def on_execution(self, payload: dict[str, Any]) -> None:
        """Keep ``last_execution`` {id, status, time} on the newest execution."""
        execution = (payload or {}).get("execution") or {}
        deployment_id = execution.get("deployment_id")
        summary = domain.execution_summary(execution)
        if deployment_id and summary:
            self.deployments.set_last_execution(deployment_id, summary)

    @event_handler("scheduler", events.EXECUTION_REQUESTED, requeue_on_error=True)
    def on_execution_requested(self, payload: dict[str, Any]) -> None:
        """Show the scheduler's next slot as ``next_run_at``."""
        try:
            next_run_at = _parse_time((payload or {}).get("next_run_at"))
        except ValueError:
            log.warning("execution_requested with a bad next_run_at dropped: %r", payload)
            return
        if payload.get("deployment_id") and next_run_at:
            self.deployments.set_next_run_at(payload["deployment_id"], next_run_at)
