"""The admin service: global settings, the audit trail and outgoing webhooks.

RPC entrypoints (all raise ``shared.errors`` subclasses only):
``get_settings``, ``get_settings_versioned``, ``update_settings``, ``list_audit``,
``create_integration``, ``list_integrations``, ``get_integration``,
``update_integration``, ``delete_integration``, ``test_integration``,
``list_deliveries``, ``list_logs``.

It listens to every service's change events: each one becomes (part of) ONE audit
entry per request (the gateway's ``request_uid`` in the nameko context data, which
nameko carries into every event dispatched while serving that request), and the
events integrations subscribe to become pending webhook deliveries, sent by
``DeliveryWorker`` off the request path. Users administration, system logs and
backups (issue 9, items 1, 6, 7) add their entrypoints here, beside these. The
system logs: ``store_logs`` consumes the batches every service ships
(``shared.logship``) and ``list_logs`` reads them.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from nameko.dependency_providers import Config
from nameko.events import EventDispatcher
from nameko.extensions import DependencyProvider
from nameko.messaging import consume
from nameko.rpc import RpcProxy, rpc
from prometheus_client import Counter

from services.admin import domain, syslogs, webhooks
from services.admin.backups import BackupJobs, backup_to_api, restore_to_api
from services.admin.deliveries import DeliveryWorker, new_delivery
from services.admin.dependencies import AdminRepository
from services.admin.schemas import AuditQuery, IntegrationCreate, IntegrationUpdate, PageQuery, load
from shared import events, logship
from shared.errors import EXPECTED, Conflict, NotFound, ValidationError
from shared.mongo import retry_db, utcnow
from shared.observability import Observability
from shared.settings import defaults

log = logging.getLogger(__name__)

AUDIT_ENTRIES = Counter("ml_audit_entries_total", "Audit entries recorded", ["object_type"])
LOG_RECORDS_STORED = Counter("ml_system_log_records_stored_total",
                             "System log records stored by the admin service")
LOG_RECORDS_LOST = Counter("ml_system_log_records_lost_total",
                           "System log records the admin service could not store")
#: The retention of the system logs, read from the settings at most this often.
_RETENTION = {"days": syslogs.DEFAULT_RETENTION_DAYS, "at": 0.0}
RETENTION_REFRESH_S = 30.0

REGISTRY_EVENTS = (events.MODEL_CREATED, events.MODEL_UPDATED, events.MODEL_FILE_UPLOADED,
                   events.MODEL_DELETED)
DEPLOYER_EVENTS = (events.DEPLOYMENT_CREATED, events.DEPLOYMENT_UPDATED,
                   events.DEPLOYMENT_STARTED, events.DEPLOYMENT_STOPPED,
                   events.DEPLOYMENT_DELETED)
RUNNER_EVENTS = (events.EXECUTION_QUEUED, events.EXECUTION_CANCEL_REQUESTED,
                 events.EXECUTION_CANCELLED, events.EXECUTION_SUCCEEDED,
                 events.EXECUTION_FAILED, events.EXECUTION_TIMED_OUT,
                 events.PREDICTION_SERVED)
AUTH_EVENTS = (events.USER_CREATED, events.USER_UPDATED, events.LOGIN_SUCCEEDED,
               events.LOGIN_FAILED, events.USER_LOCKED_OUT, events.USER_PASSWORD_RESET,
               events.USER_UNLOCKED)


class EventContext(DependencyProvider):
    """What the audit trail needs of a worker: who, from where, which request, which
    event (for event handlers), how deep in the call chain (the most direct event of
    a request names its entry)."""

    def get_dependency(self, worker_ctx) -> dict[str, Any]:
        data = worker_ctx.data or {}
        stack = worker_ctx.call_id_stack
        entrypoint = worker_ctx.entrypoint
        return {
            "request_id": data.get("request_id"),
            "request_uid": data.get("request_uid"),
            "username": data.get("username"),
            "client": data.get("client"),
            "depth": len(stack),
            # The call id of the worker that dispatched this event: with the event type
            # and the object, it identifies a redelivered event.
            "parent": stack[-2] if len(stack) >= 2 else worker_ctx.call_id,
            "call_id": worker_ctx.call_id,
            "event_type": getattr(entrypoint, "event_type", None),
        }


def syslogs_load(query: dict[str, Any]) -> dict[str, Any]:
    return load(syslogs.LogQuery(), query)


class AdminService:
    name = "admin"

    repo = AdminRepository()
    context = EventContext()
    deliveries = DeliveryWorker()
    dispatch = EventDispatcher()
    registry = RpcProxy("registry")
    jobs = BackupJobs()
    observability = Observability()
    config = Config()

    # -- settings ---------------------------------------------------------------------

    def _settings(self) -> tuple[dict[str, Any], int]:
        stored, version = self.repo.get_settings()
        return {**defaults(), **(stored or {})}, version

    @rpc(expected_exceptions=EXPECTED)
    def get_settings(self) -> dict[str, Any]:
        """Every global setting: ``{"default_timezone": "UTC", "max_upload_mb": 200, ...}``
        (stored values over the defaults of the environment)."""
        return self._settings()[0]

    @rpc(expected_exceptions=EXPECTED)
    def get_settings_versioned(self) -> dict[str, Any]:
        """``{"settings": {...}, "version": N}`` (``shared.settings`` clients)."""
        values, version = self._settings()
        return {"settings": values, "version": version}

    @rpc(expected_exceptions=EXPECTED)
    def update_settings(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Change any subset of the settings, e.g. ``{"max_upload_mb": 50}``; every other
        service follows through ``settings_changed``. Raises ValidationError naming each
        bad key (unknown, wrong type, out of range, default timeout above the maximum)."""
        current, version = self._settings()
        merged = domain.validate_settings(current, changes)
        if "webhook_allowed_hosts" in merged:
            merged["webhook_allowed_hosts"] = list(merged["webhook_allowed_hosts"])
        changed = domain.changed_keys(current, merged)
        new_version = self.repo.save_settings(merged, version, self.context["username"])
        payload = {"settings": merged, "changed": changed, "version": new_version,
                   "previous": {key: current.get(key) for key in changed}}
        self.dispatch(events.SETTINGS_CHANGED, payload)
        self._audit_direct(events.SETTINGS_CHANGED, payload)
        return merged

    # -- audit trail ------------------------------------------------------------------

    @rpc(expected_exceptions=EXPECTED)
    def list_audit(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        """A page of entries, newest first: ``{items: [{id, at, user, action,
        object_type, object_id, summary, request_id, client, events}], total, page,
        per_page}``; query keys user, object_type, object_id (any object the request
        touched), request_id, from, to (ISO 8601), page, per_page. Read only: nothing edits or
        deletes an entry. Raises ValidationError."""
        query = load(AuditQuery(), {k: v for k, v in (query or {}).items()
                                    if v not in (None, "")})
        filters = {"user": query.get("user"), "object_type": query.get("object_type"),
                   "object_id": query.get("object_id"),
                   "request_id": query.get("request_id"), "from": query.get("from_"),
                   "to": query.get("to")}
        return self.repo.audit_page(filters, query["page"], query["per_page"])

    def _record(self, event_type: str, payload: dict[str, Any], ctx: dict[str, Any],
                depth: int) -> None:
        if event_type not in domain.AUDITED or not isinstance(payload, dict):
            return
        object_type, object_id, state = domain.object_of(event_type, payload)
        diffed = object_id is not None and object_type in domain.DIFFED
        old = self.repo.last_state(object_type, object_id) if diffed else None
        new = domain.snapshot(state)
        text = domain.summary(event_type, payload, old, new)
        if diffed:
            deleted = event_type.endswith("_deleted")
            self.repo.remember_state(object_type, object_id, None if deleted else new)
        action = domain.action_of(event_type, payload)
        event_id = f"{ctx['parent']}:{event_type}:{object_id}"
        user = ctx["username"] or payload.get("username") or _created_by(state) or "system"
        client = ctx["client"] or payload.get("client")
        key = ctx["request_uid"] or ctx["request_id"]
        key = f"req:{key}" if key else f"evt:{event_id}"
        now = utcnow()
        entry = {"key": key, "request_id": ctx["request_id"], "at": now, "user": user,
                 "client": client, "action": action, "object_type": object_type,
                 "object_id": object_id, "summary": text, "depth": depth}
        event = {"id": event_id, "event": event_type, "object_type": object_type,
                 "object_id": object_id, "at": now}
        if self.repo.record(entry, event):
            AUDIT_ENTRIES.labels(object_type or "none").inc()

    def _audit_direct(self, event_type: str, payload: dict[str, Any]) -> None:
        """Audit an event this service dispatched itself (its handler would be the next
        call in the chain, hence depth + 1)."""
        ctx = self.context
        self._record(event_type, payload, {**ctx, "parent": ctx["call_id"]}, ctx["depth"] + 1)

    # -- events -----------------------------------------------------------------------
    # Requeued on error (a database hiccup must lose no entry and no delivery); both
    # the audit entry and the deliveries are idempotent on the event's identity.

    @events.on_events("admin", (events.BACKUP_SUCCEEDED, events.BACKUP_FAILED,
                                events.RESTORE_SUCCEEDED, events.RESTORE_FAILED),
                      requeue_on_error=True)
    def on_backup_event(self, payload: dict[str, Any]) -> None:
        """A backup or restore finished: appended to the audit entry of the request that
        asked for it; backup_succeeded and backup_failed also go to integrations."""
        self._on_event(payload)

    def _on_event(self, payload: dict[str, Any]) -> None:
        ctx = self.context
        event_type = ctx["event_type"]
        if not isinstance(payload, dict):
            log.warning("%s with a non-object payload dropped: %r", event_type, payload)
            return
        self._record(event_type, payload, ctx, ctx["depth"])
        if event_type in domain.WEBHOOK_EVENTS:
            self._fan_out(event_type, payload, f"{ctx['parent']}:{event_type}")

    @events.on_events("registry", REGISTRY_EVENTS, requeue_on_error=True)
    def on_registry_event(self, payload: dict[str, Any]) -> None:
        """Models: audited; model_created / model_updated also go to integrations."""
        self._on_event(payload)

    @events.on_events("deployer", DEPLOYER_EVENTS, requeue_on_error=True)
    def on_deployer_event(self, payload: dict[str, Any]) -> None:
        """Deployments: audited; started / stopped also go to integrations."""
        self._on_event(payload)

    @events.on_events("runner", RUNNER_EVENTS, requeue_on_error=True)
    def on_runner_event(self, payload: dict[str, Any]) -> None:
        """Runs and cancels: audited; succeeded / failed / timed out go to integrations."""
        self._on_event(payload)

    @events.on_events("reporting", (events.REPORTS_REBUILD_REQUESTED,), requeue_on_error=True)
    def on_reporting_event(self, payload: dict[str, Any]) -> None:
        """A rebuild of the reports' read side asked for (by an admin): audited."""
        self._on_event(payload)

    @events.on_events("auth", AUTH_EVENTS, requeue_on_error=True)
    def on_auth_event(self, payload: dict[str, Any]) -> None:
        """Users, roles, logins and failed logins (contract C2): audited."""
        self._on_event(payload)

    # -- system logs (« Journaux système ») ---------------------------------------------

    def _log_retention_days(self) -> int:
        if time.monotonic() - _RETENTION["at"] > RETENTION_REFRESH_S:
            default = int(self.config.get("SYSLOG_RETENTION_DAYS")
                          or syslogs.DEFAULT_RETENTION_DAYS)
            _RETENTION["days"] = syslogs.retention_days(self._settings()[0], default)
            _RETENTION["at"] = time.monotonic()
        return _RETENTION["days"]

    @consume(logship.LOG_QUEUE)
    def store_logs(self, body: dict[str, Any]) -> None:
        """One batch ``{"records": [...]}`` shipped by a service's ``ShippingHandler``:
        stored with its expiry. The database being down is ridden out for a few
        seconds, then the batch is dropped and counted (never requeued in a loop);
        nothing logged here is shipped again."""
        with logship.suppressed():
            records = body.get("records") if isinstance(body, dict) else None
            try:
                docs = syslogs.normalize(body, utcnow(), self._log_retention_days())
                budget = float(self.config.get("SYSLOG_STORE_RETRY_S") or 10)
                stored = retry_db(lambda: self.repo.store_logs(docs), budget,
                                  "system logs write")
            except Exception as exc:
                count = len(records) if isinstance(records, list) else 0
                LOG_RECORDS_LOST.inc(count)
                syslogs.lost(count, f"{exc.__class__.__name__}: {exc}"[:300])
                return
            LOG_RECORDS_STORED.inc(stored)

    @rpc(expected_exceptions=EXPECTED)
    def list_logs(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        """A page of system log records, newest first: ``{items: [{id, at, service,
        level, message, request_id, logger, host, pid}], total, page, per_page,
        cursor}``; query keys service, level (that level and above), q (text in the
        message, case-insensitive), request_id, from, to (ISO 8601), page, per_page,
        and after (a previous answer's ``cursor``: only the records stored since, for
        a live follow). Raises ValidationError naming the bad key."""
        query = syslogs_load({k: v for k, v in (query or {}).items() if v not in (None, "")})
        return self.repo.logs_page(query)

    # -- backups and restores ------------------------------------------------------------

    def _job_context(self) -> dict[str, Any]:
        ctx = self.context
        return {key: ctx.get(key) for key in ("request_id", "request_uid", "username",
                                              "client", "call_id")}

    @rpc(expected_exceptions=EXPECTED)
    def create_backup(self) -> dict[str, Any]:
        """Start a backup now: returns its record (``status: running``), to poll with
        ``get_backup`` until ``succeeded`` (size, sha256, counts) or ``failed`` (``error``
        says why). Raises Conflict while a backup or a restore runs."""
        doc = self.jobs.new_backup(self.context["username"])
        backup = backup_to_api(doc)
        self._emit(events.BACKUP_REQUESTED, {"backup": backup})
        self.jobs.spawn_backup(doc, self._job_context())
        return backup

    @rpc(expected_exceptions=EXPECTED)
    def list_backups(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        """A page of backups, newest first: ``{items: [{id, status, trigger, created_at,
        finished_at, duration_s, size, sha256, counts, summary, error}], ...}``."""
        query = load(PageQuery(), {k: v for k, v in (query or {}).items() if v is not None})
        return self.jobs.list_backups(query["page"], query["per_page"])

    @rpc(expected_exceptions=EXPECTED)
    def get_backup(self, backup_id: str) -> dict[str, Any]:
        """One backup. Raises NotFound."""
        return backup_to_api(self.jobs.backup_doc(backup_id))

    @rpc(expected_exceptions=EXPECTED)
    def backup_archive(self, backup_id: str) -> dict[str, Any]:
        """Where a succeeded backup's archive is: ``{artifact_id, bucket, filename, size}``
        (the gateway streams it). Raises NotFound, Conflict (not succeeded)."""
        doc = self.jobs.backup_doc(backup_id)
        if doc["status"] != "succeeded" or not doc.get("artifact_id"):
            raise Conflict(f"the backup is {doc['status']}: it has no archive",
                           {"status": doc["status"]})
        return {"artifact_id": doc["artifact_id"], "bucket": "backups",
                "filename": doc.get("filename") or f"backup-{backup_id}.tar.gz",
                "size": doc.get("size")}

    @rpc(expected_exceptions=EXPECTED)
    def start_restore(self, source: dict[str, Any]) -> dict[str, Any]:
        """Restore ``{"backup_id"}`` (a succeeded backup) or ``{"artifact_id",
        "filename"}`` (an archive the gateway stored in the ``backups`` bucket after
        checking it): returns the restore (``running``, ``phase``), to poll with
        ``get_restore``. Raises ValidationError, NotFound, Conflict."""
        if not isinstance(source, dict):
            raise ValidationError("invalid body", {"_schema": ["must be an object"]})
        if source.get("backup_id"):
            backup = self.jobs.backup_doc(str(source["backup_id"]))
            if backup["status"] != "succeeded":
                raise Conflict(f"the backup is {backup['status']}: it cannot be restored",
                               {"status": backup["status"]})
            clean = {"kind": "backup", "backup_id": str(backup["_id"]),
                     "backup_created_at": backup_to_api(backup)["created_at"]}
        elif source.get("artifact_id"):
            clean = {"kind": "upload", "artifact_id": str(source["artifact_id"]),
                     "filename": str(source.get("filename") or "backup.tar.gz")[:200]}
        else:
            raise ValidationError("backup_id or file is required",
                                  {"backup_id": ["Missing data for required field."]})
        doc = self.jobs.new_restore(self.context["username"], clean)
        restore = restore_to_api(doc)
        self._emit(events.RESTORE_REQUESTED, {"restore": restore})
        self.jobs.spawn_restore(doc, self._job_context())
        return restore

    @rpc(expected_exceptions=EXPECTED)
    def get_restore(self, restore_id: str) -> dict[str, Any]:
        """One restore: ``{id, status, phase (verifying|pausing|restoring|resuming|done),
        progress {done, total}, source, error}``. Raises NotFound."""
        return restore_to_api(self.jobs.restore_doc(restore_id))

    @rpc(expected_exceptions=EXPECTED)
    def list_restores(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        """A page of restores, newest first."""
        query = load(PageQuery(), {k: v for k, v in (query or {}).items() if v is not None})
        return self.jobs.list_restores(query["page"], query["per_page"])

    @rpc(expected_exceptions=EXPECTED)
    def get_maintenance(self) -> dict[str, Any]:
        """The open maintenance windows ``{"windows": [{id, kind, until, pause}]}`` (the
        gateway and the services read it when they (re)connect)."""
        return {"windows": self.jobs.maintenance_windows()}

    # -- integrations -----------------------------------------------------------------

    def _check_url(self, url: str) -> str:
        try:
            webhooks.check_url(url, self._settings()[0]["webhook_allowed_hosts"])
        except webhooks.UrlRefused as exc:
            raise ValidationError(f"url: {exc}", {"url": [str(exc)]}) from None
        return url.strip()

    def _emit(self, event_type: str, payload: dict[str, Any]) -> None:
        self.dispatch(event_type, payload)
        self._audit_direct(event_type, payload)

    @rpc(expected_exceptions=EXPECTED)
    def create_integration(self, data: dict[str, Any]) -> dict[str, Any]:
        """A webhook: ``{"name", "url", "events": ["execution_failed"], "department",
        "active"}`` → the integration with its ``secret`` (``whsec_...``), the only time
        it is shown. Raises ValidationError (bad field; ``url`` refused: not http(s),
        or a non-public address not in webhook_allowed_hosts)."""
        data = load(IntegrationCreate(), data)
        data["url"] = self._check_url(data["url"])
        data["events"] = sorted(set(data["events"]))
        secret = webhooks.new_secret()
        now = utcnow()
        doc = {**data, "secret": secret, "created_at": now, "updated_at": now,
               "created_by": self.context["username"]}
        integration = self.repo.insert_integration(doc)
        self._emit(events.INTEGRATION_CREATED, {"integration": integration})
        return {**integration, "secret": secret}

    @rpc(expected_exceptions=EXPECTED)
    def list_integrations(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        """A page of integrations, newest first (never their secret)."""
        query = load(PageQuery(), {k: v for k, v in (query or {}).items() if v is not None})
        return self.repo.list_integrations(query["page"], query["per_page"])

    @rpc(expected_exceptions=EXPECTED)
    def get_integration(self, integration_id: str) -> dict[str, Any]:
        """One integration (never its secret). Raises NotFound."""
        return self.repo.get_integration(integration_id)

    @rpc(expected_exceptions=EXPECTED)
    def update_integration(self, integration_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Edit name, url (checked again), events, department, active. Raises NotFound,
        ValidationError."""
        self.repo.get_integration(integration_id)
        changes = load(IntegrationUpdate(), changes, partial=True)
        if "url" in changes:
            changes["url"] = self._check_url(changes["url"])
        if "events" in changes:
            changes["events"] = sorted(set(changes["events"]))
        changes["updated_at"] = utcnow()
        integration = self.repo.update_integration(integration_id, changes)
        self._emit(events.INTEGRATION_UPDATED, {"integration": integration})
        return integration

    @rpc(expected_exceptions=EXPECTED)
    def delete_integration(self, integration_id: str) -> None:
        """Delete it with its pending deliveries and delivery log. Raises NotFound."""
        integration = self.repo.delete_integration(integration_id)
        self._emit(events.INTEGRATION_DELETED, {"integration_id": integration["id"],
                                                "name": integration.get("name")})

    @rpc(expected_exceptions=EXPECTED)
    def test_integration(self, integration_id: str) -> dict[str, Any]:
        """Queue a signed ``integration_test`` event to the integration (even inactive);
        returns the pending delivery, to follow in ``list_deliveries``. Raises NotFound."""
        integration = self.repo.get_integration(integration_id)
        payload = {"integration": {"id": integration["id"], "name": integration["name"]},
                   "message": "Test event from the ML platform"}
        doc = new_delivery({"_id": integration["id"]}, domain.TEST_EVENT, payload,
                           f"test:{self.context['call_id']}")
        self.repo.enqueue(doc)
        self.deliveries.wake()
        self._emit(events.INTEGRATION_TESTED, {"integration": integration})
        from services.admin.dependencies import delivery_to_api

        return delivery_to_api(doc)

    @rpc(expected_exceptions=EXPECTED)
    def list_deliveries(self, integration_id: str,
                        query: dict[str, Any] | None = None) -> dict[str, Any]:
        """The delivery log, newest first: ``{items: [{id, webhook_id, event_type, status
        (pending|sending|delivered|failed), attempt_count, attempts: [{attempt, at,
        status_code, duration_ms, error}], next_attempt_at, delivered_at}], ...}``.
        Raises NotFound."""
        query = load(PageQuery(), {k: v for k, v in (query or {}).items() if v is not None})
        return self.repo.deliveries(integration_id, query["page"], query["per_page"])

    def _fan_out(self, event_type: str, payload: dict[str, Any], source_key: str) -> None:
        subscribers = self.repo.subscribers(event_type)
        if not subscribers:
            return
        department = None
        if any(s.get("department") for s in subscribers):
            department = domain.event_department(event_type, payload)
            if department is None:
                department = self._execution_department(payload)
        queued = 0
        for integration in subscribers:
            if integration.get("department") and integration["department"] != department:
                continue
            if self.repo.enqueue(new_delivery(integration, event_type, payload, source_key)):
                queued += 1
        if queued:
            self.deliveries.wake()

    def _execution_department(self, payload: dict[str, Any]) -> str | None:
        """An execution carries no department: its model's (None when it is gone)."""
        model_id = (payload.get("execution") or {}).get("model_id")
        if not model_id:
            return None
        try:
            return self.registry.get_model(model_id).get("department")
        except NotFound:
            return None


def _created_by(state: dict[str, Any] | None) -> str | None:
    return (state or {}).get("created_by")
