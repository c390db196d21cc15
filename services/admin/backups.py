"""Backups and restores (« Sauvegarde et restauration », issue 9 item 7).

``BackupJobs`` is a DependencyProvider of the admin service: the RPC entrypoints
record a backup or a restore (``running``) and hand it to ``spawn_backup`` /
``spawn_restore``, which run it on a managed green thread, off the request. The
heavy part (reading the whole database, compressing, hashing, writing) runs in a
child process, ``services/admin/backup_worker.py``, whose JSON lines the thread
follows:

* backup: ``maintenance_started`` (the gateways answer writes 503 + Retry-After),
  a short grace for the broadcast to arrive, the worker's snapshot, then
  ``maintenance_ended`` as soon as it says ``snapshot_done`` (the compression
  happens after the window); the archive goes to the GridFS bucket ``backups``;
  the record gets its size, sha256 and counts; older ones beyond the retention
  count are deleted. Runs in progress are not touched.
* restore: the archive is fetched to a temporary file and verified in full (manifest,
  every sha256 and count) BEFORE anything is written: a refused archive fails the
  restore with its reason and changes nothing. Then ``maintenance_started`` with
  ``pause`` (the scheduler fires nothing, the runners start nothing), the worker
  writes, the admin's settings get a version above every one served so far (so
  every service takes the restored ones), ``data_restored`` makes the services with
  caches resync, and the window ends. The audit trail only gains entries.

A failure is never silent: the reason is in the record (``error``), in the admin
service's log with the worker's own last lines, and in the metrics.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

import eventlet
from bson import ObjectId
from eventlet.green import subprocess
from nameko.extensions import DependencyProvider
from nameko.standalone.events import event_dispatcher
from prometheus_client import Counter, Gauge, Histogram
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from services.admin.dependencies import AdminRepository
from shared import backup_archive, events
from shared.artifacts import ArtifactStore
from shared.config import ROOT
from shared.errors import Conflict, NotFound
from shared.mongo import _Guarded, isoformat, object_id, utcnow

log = logging.getLogger(__name__)

BACKUPS, RESTORES, MAINTENANCE = "backups", "restores", "maintenance"
BUCKET = "backups"
RUNNING, SUCCEEDED, FAILED = "running", "succeeded", "failed"

BACKUPS_TOTAL = Counter("ml_backups_total", "Backups finished, by outcome", ["outcome"])
BACKUP_SECONDS = Histogram("ml_backup_duration_seconds", "Duration of a backup",
                           buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600))
BACKUP_BYTES = Gauge("ml_backup_size_bytes", "Size of the last successful backup archive")
WINDOW_SECONDS = Histogram("ml_backup_maintenance_window_seconds",
                           "How long writes were held for a backup's snapshot",
                           buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60))
RESTORES_TOTAL = Counter("ml_restores_total", "Restores finished, by outcome", ["outcome"])
RESTORE_SECONDS = Histogram("ml_restore_duration_seconds", "Duration of a restore",
                            buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600))

#: Collections whose count the API shows as a backup's summary.
SUMMARY = {"models": "models", "deployments": "deployments", "executions": "executions",
           "users": "users", "files": "artifacts.files"}


def _iso(value: Any) -> Any:
    return isoformat(value) if isinstance(value, datetime) else value


def backup_to_api(doc: dict[str, Any]) -> dict[str, Any]:
    counts = doc.get("counts") or {}
    return {
        "id": str(doc["_id"]),
        "status": doc["status"],
        "trigger": doc.get("trigger", "manual"),
        "created_at": _iso(doc.get("created_at")),
        "finished_at": _iso(doc.get("finished_at")),
        "duration_s": doc.get("duration_s"),
        "window_s": doc.get("window_s"),
        "created_by": doc.get("created_by"),
        "size": doc.get("size"),
        "sha256": doc.get("sha256"),
        "filename": doc.get("filename"),
        "format_version": doc.get("format_version"),
        "counts": counts,
        "summary": {key: counts.get(name, 0) for key, name in SUMMARY.items()}
        if counts else None,
        "error": doc.get("error"),
    }


def restore_to_api(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(doc["_id"]),
        "status": doc["status"],
        "phase": doc.get("phase"),
        "source": doc.get("source") or {},
        "created_at": _iso(doc.get("created_at")),
        "finished_at": _iso(doc.get("finished_at")),
        "duration_s": doc.get("duration_s"),
        "created_by": doc.get("created_by"),
        "progress": doc.get("progress") or {"done": 0, "total": 0},
        "written": doc.get("written"),
        "backup_created_at": doc.get("backup_created_at"),
        "error": doc.get("error"),
    }


class WorkerFailed(Exception):
    """The backup worker refused the archive or failed; ``message`` says why."""

    def __init__(self, message: str, refused: bool = False, details: dict | None = None):
        super().__init__(message)
        self.message = message
        self.refused = refused
        self.details = details or {}


class BackupJobs(DependencyProvider):
    """Records, archives and jobs of backups and restores (see the module docstring)."""

    def setup(self) -> None:
        config = self.container.config
        self.config = config
        self.repo: AdminRepository = next(
            dep for dep in self.container.dependencies if isinstance(dep, AdminRepository))
        self.hold_s = float(config.get("BACKUP_SNAPSHOT_HOLD_S") or 0)
        self.grace_s = float(config.get("BACKUP_MAINTENANCE_GRACE_S") or 0.5)
        self.window_max_s = float(config.get("BACKUP_WINDOW_MAX_S") or 60)
        self.restore_window_max_s = float(config.get("RESTORE_WINDOW_MAX_S") or 1800)
        self.stale_s = float(config.get("BACKUP_STALE_S") or 6 * 3600)
        self.poll_s = float(config.get("BACKUP_SCHEDULE_POLL_S") or 30)
        self.workdir = config.get("BACKUP_WORK_DIR") or None
        self._dispatch = None

    def start(self) -> None:
        db = self.repo.db
        db[BACKUPS].create_index([("created_at", -1)])
        db[BACKUPS].create_index([("status", 1), ("created_at", -1)])
        db[BACKUPS].create_index([("slot", 1)], unique=True, sparse=True)
        db[RESTORES].create_index([("created_at", -1)])
        self.container.spawn_managed_thread(self._schedule_loop)

    def get_dependency(self, worker_ctx):
        # Entrypoints see it through the guard: a database outage is a 503, not a 500.
        return _Guarded(self)

    @property
    def db(self):
        return self.repo.db

    def store(self) -> ArtifactStore:
        return ArtifactStore(self.db, bucket=BUCKET)

    # -- events -------------------------------------------------------------------

    def dispatch(self, event_type: str, payload: dict[str, Any],
                 ctx: dict[str, Any] | None = None) -> None:
        """Dispatch as the admin service, carrying the request's context (its audit entry
        gains the event) one level below the request's own event."""
        ctx = ctx or {}
        headers = {"nameko.call_id_stack": [ctx.get("call_id") or "admin.backups.job",
                                            f"admin.backups.{uuid.uuid4().hex}"]}
        for key in ("request_id", "request_uid", "username", "client"):
            if ctx.get(key):
                headers[f"nameko.{key}"] = ctx[key]
        dispatch = event_dispatcher({"AMQP_URI": self.config["AMQP_URI"]}, headers=headers)
        try:
            dispatch("admin", event_type, payload)
        except Exception:
            log.exception("could not dispatch %s", event_type)

    # -- maintenance window ---------------------------------------------------------

    def maintenance_windows(self) -> list[dict[str, Any]]:
        now = utcnow()
        return [{"id": d["_id"], "kind": d.get("kind"), "until": _iso(d["until"]),
                 "pause": bool(d.get("pause"))}
                for d in self.db[MAINTENANCE].find({"until": {"$gt": now}})]

    def _open_window(self, window_id: str, kind: str, seconds: float, pause: bool) -> float:
        until = utcnow() + timedelta(seconds=seconds)
        self.db[MAINTENANCE].replace_one(
            {"_id": window_id}, {"_id": window_id, "kind": kind, "until": until,
                                 "pause": pause}, upsert=True)
        self.dispatch(events.MAINTENANCE_STARTED, {"id": window_id, "kind": kind,
                                                   "until": _iso(until), "pause": pause})
        log.info("maintenance %s opened (%s, pause=%s): mutating requests get 503",
                 window_id, kind, pause)
        eventlet.sleep(self.grace_s)  # every gateway and service has the broadcast
        return time.monotonic()

    def _close_window(self, window_id: str) -> None:
        try:
            self.db[MAINTENANCE].delete_one({"_id": window_id})
        except Exception:
            log.exception("could not clear maintenance %s (it ends by itself)", window_id)
        self.dispatch(events.MAINTENANCE_ENDED, {"id": window_id, "ended": True})
        log.info("maintenance %s closed", window_id)

    # -- records ----------------------------------------------------------------------

    def _busy(self) -> None:
        """Conflict while a backup or a restore runs (one at a time); a record left
        ``running`` by a replica that died long ago is marked failed first."""
        cutoff = utcnow() - timedelta(seconds=self.stale_s)
        for collection in (BACKUPS, RESTORES):
            self.db[collection].update_many(
                {"status": RUNNING, "created_at": {"$lt": cutoff}},
                {"$set": {"status": FAILED, "finished_at": utcnow(),
                          "error": "interrupted: the admin service stopped during it"}})
        if self.db[RESTORES].find_one({"status": RUNNING}):
            raise Conflict("a restore is running: try again when it has finished",
                           {"status": RUNNING})
        if self.db[BACKUPS].find_one({"status": RUNNING}):
            raise Conflict("a backup is running: try again when it has finished",
                           {"status": RUNNING})

    def new_backup(self, username: str | None, trigger: str = "manual",
                   slot: str | None = None) -> dict[str, Any] | None:
        """A ``running`` record, or None when this scheduled slot was taken already."""
        self._busy()
        doc = {"_id": ObjectId(), "status": RUNNING, "trigger": trigger,
               "created_at": utcnow(), "created_by": username}
        if slot is not None:
            doc["slot"] = slot
        try:
            self.db[BACKUPS].insert_one(doc)
        except DuplicateKeyError:
            return None
        return doc

    def list_backups(self, page: int, per_page: int) -> dict[str, Any]:
        total = self.db[BACKUPS].count_documents({})
        cursor = (self.db[BACKUPS].find({}).sort([("created_at", -1), ("_id", -1)])
                  .skip((page - 1) * per_page).limit(per_page))
        return {"items": [backup_to_api(d) for d in cursor], "total": total, "page": page,
                "per_page": per_page}

    def backup_doc(self, backup_id: str) -> dict[str, Any]:
        doc = self.db[BACKUPS].find_one({"_id": object_id(backup_id, "backup")})
        if doc is None:
            raise NotFound(f"backup {backup_id!r} not found", {"id": backup_id})
        return doc

    def new_restore(self, username: str | None, source: dict[str, Any]) -> dict[str, Any]:
        self._busy()
        doc = {"_id": ObjectId(), "status": RUNNING, "phase": "verifying", "source": source,
               "created_at": utcnow(), "created_by": username}
        self.db[RESTORES].insert_one(doc)
        return doc

    def restore_doc(self, restore_id: str) -> dict[str, Any]:
        doc = self.db[RESTORES].find_one({"_id": object_id(restore_id, "restore")})
        if doc is None:
            raise NotFound(f"restore {restore_id!r} not found", {"id": restore_id})
        return doc

    def list_restores(self, page: int, per_page: int) -> dict[str, Any]:
        total = self.db[RESTORES].count_documents({})
        cursor = (self.db[RESTORES].find({}).sort([("created_at", -1), ("_id", -1)])
                  .skip((page - 1) * per_page).limit(per_page))
        return {"items": [restore_to_api(d) for d in cursor], "total": total, "page": page,
                "per_page": per_page}

    def _set(self, collection: str, doc_id: ObjectId, changes: dict[str, Any]) -> dict:
        return self.db[collection].find_one_and_update(
            {"_id": doc_id}, {"$set": changes}, return_document=ReturnDocument.AFTER)

    # -- the worker -------------------------------------------------------------------

    def _worker(self, args: list[str], on_event=None) -> dict[str, Any]:
        """Run the backup worker; returns its last ``done``/``verified`` line. Raises
        WorkerFailed with the reason it gave (or the end of its stderr)."""
        env = {**os.environ, "MONGO_URI": self.config["MONGO_URI"],
               "MONGO_DB": self.config["MONGO_DB"], "PYTHONUNBUFFERED": "1"}
        with tempfile.TemporaryFile(dir=self.workdir) as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "services.admin.backup_worker", *args], cwd=str(ROOT),
                env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr)
            final: dict[str, Any] = {}
            failure: dict[str, Any] | None = None
            for raw in process.stdout:
                try:
                    line = json.loads(raw)
                except ValueError:
                    continue
                kind = line.get("event")
                if kind in ("refused", "error"):
                    failure = line
                elif kind in ("done", "verified"):
                    final = line
                elif on_event is not None:
                    on_event(line)
            code = process.wait()
            stderr.seek(0)
            tail = stderr.read()[-4000:].decode(errors="replace").strip()
        if tail:
            (log.warning if code else log.debug)("backup worker %s: %s", args[0], tail)
        if code != 0 or not final:
            if failure is not None:
                raise WorkerFailed(failure.get("message") or "failed",
                                   refused=failure.get("event") == "refused",
                                   details=failure.get("details"))
            last = tail.splitlines()[-1] if tail else f"exit code {code}"
            raise WorkerFailed(f"the backup worker failed: {last[:300]}")
        return final

    # -- backup -------------------------------------------------------------------------

    def spawn_backup(self, doc: dict[str, Any], ctx: dict[str, Any]) -> None:
        self.container.spawn_managed_thread(lambda: self._safely(self._run_backup, doc, ctx))

    def _run_backup(self, doc: dict[str, Any], ctx: dict[str, Any]) -> None:
        backup_id = str(doc["_id"])
        started = time.monotonic()
        window_id = f"backup:{backup_id}"
        window = {"opened": None, "closed": None}
        path = None

        def on_event(line: dict[str, Any]) -> None:
            if line.get("event") == "snapshot_done" and window["closed"] is None:
                self._close_window(window_id)
                window["closed"] = time.monotonic()

        try:
            fd, path = tempfile.mkstemp(prefix="ml-backup-", suffix=".tar.gz", dir=self.workdir)
            os.close(fd)
            window["opened"] = self._open_window(
                window_id, "backup", self.window_max_s + self.hold_s, pause=False)
            args = ["dump", "--out", path, "--backup-id", backup_id]
            if self.hold_s:
                args += ["--hold", str(self.hold_s)]
            final = self._worker(args, on_event)
            if window["closed"] is None:
                self._close_window(window_id)
                window["closed"] = time.monotonic()
            manifest = final["manifest"]
            stamp = manifest["created_at"].replace(":", "").replace("-", "")[:15]
            filename = f"backup-{stamp}-{backup_id}.tar.gz"
            with open(path, "rb") as handle:
                ref = self.store().put(handle, filename, "application/gzip",
                                       metadata={"backup_id": backup_id})
            if ref.sha256 != final["sha256"] or ref.size != final["size"]:
                self.store().delete(ref.id)
                raise WorkerFailed("the archive changed while it was stored")
            duration = round(time.monotonic() - started, 3)
            counts = {name: entry["count"] for name, entry in manifest["collections"].items()}
            updated = self._set(BACKUPS, doc["_id"], {
                "status": SUCCEEDED, "finished_at": utcnow(), "duration_s": duration,
                "window_s": round(window["closed"] - window["opened"], 3),
                "size": ref.size, "sha256": ref.sha256, "artifact_id": ref.id,
                "filename": filename, "counts": counts, "artifacts": manifest["artifacts"],
                "format_version": manifest["format_version"],
                "manifest_created_at": manifest["created_at"]})
            BACKUPS_TOTAL.labels(SUCCEEDED).inc()
            BACKUP_SECONDS.observe(duration)
            BACKUP_BYTES.set(ref.size)
            WINDOW_SECONDS.observe(window["closed"] - window["opened"])
            log.info("backup %s succeeded: %d bytes, %d collections, %.1f s (writes held "
                     "%.2f s)", backup_id, ref.size, len(counts), duration,
                     window["closed"] - window["opened"])
            self._retention()
            self.dispatch(events.BACKUP_SUCCEEDED, {"backup": backup_to_api(updated)}, ctx)
        except Exception as exc:
            reason = exc.message if isinstance(exc, WorkerFailed) else \
                backup_archive.public_reason(exc)
            log.exception("backup %s failed: %s", backup_id, reason)
            if window["opened"] is not None and window["closed"] is None:
                self._close_window(window_id)
            duration = round(time.monotonic() - started, 3)
            updated = self._set(BACKUPS, doc["_id"], {
                "status": FAILED, "finished_at": utcnow(), "duration_s": duration,
                "error": reason})
            BACKUPS_TOTAL.labels(FAILED).inc()
            BACKUP_SECONDS.observe(duration)
            if updated is not None:
                self.dispatch(events.BACKUP_FAILED, {"backup": backup_to_api(updated)}, ctx)
        finally:
            if path is not None:
                try:
                    os.unlink(path)
                except OSError:
                    pass

    def _retention(self) -> None:
        """Keep the newest ``backup_retention_count`` successful backups; delete older
        ones (archive and record) and failed records older than the oldest kept."""
        keep = int(self.settings().get("backup_retention_count") or 7)
        kept = list(self.db[BACKUPS].find({"status": SUCCEEDED})
                    .sort([("created_at", -1), ("_id", -1)]))
        for old in kept[keep:]:
            self.store().delete(old.get("artifact_id"))
            self.db[BACKUPS].delete_one({"_id": old["_id"]})
            log.info("backup %s deleted (retention: keep %d)", old["_id"], keep)
        if len(kept) >= keep:
            oldest = kept[keep - 1]["created_at"]
            self.db[BACKUPS].delete_many({"status": FAILED, "created_at": {"$lt": oldest}})

    def settings(self) -> dict[str, Any]:
        from shared.settings import defaults

        stored, _ = self.repo.get_settings()
        return {**defaults(), **(stored or {})}

    # -- schedule -----------------------------------------------------------------------

    def _schedule_loop(self) -> None:
        while True:
            eventlet.sleep(self.poll_s)
            try:
                self.scheduled_backup(utcnow())
            except Conflict:
                pass  # a backup or restore is running: the slot is tried at the next poll
            except Exception:
                log.exception("scheduled backup check failed")

    def scheduled_backup(self, now: datetime) -> dict[str, Any] | None:
        """Every ``backup_interval_hours`` (0 = off) one backup per slot, whatever the
        number of replicas (unique ``slot``)."""
        hours = float(self.settings().get("backup_interval_hours") or 0)
        if hours <= 0:
            return None
        period = hours * 3600
        slot = f"{hours:g}h:{int(now.timestamp() // period)}"
        if self.db[BACKUPS].find_one({"slot": slot}, {"_id": 1}):
            return None
        doc = self.new_backup("system", trigger="schedule", slot=slot)
        if doc is None:
            return None
        log.info("scheduled backup %s (slot %s)", doc["_id"], slot)
        self.spawn_backup(doc, {})
        return doc

    # -- restore ------------------------------------------------------------------------

    def spawn_restore(self, doc: dict[str, Any], ctx: dict[str, Any]) -> None:
        self.container.spawn_managed_thread(lambda: self._safely(self._run_restore, doc, ctx))

    @staticmethod
    def _safely(job, doc: dict[str, Any], ctx: dict[str, Any]) -> None:
        """A job never takes the service down (a managed thread that raises kills its
        container): what escapes its own handling (the database gone while recording
        the outcome) is logged; the record is then marked failed by ``_busy`` later."""
        try:
            job(doc, ctx)
        except Exception:
            log.exception("%s %s: could not record its outcome", job.__name__, doc.get("_id"))

    def _fetch(self, source: dict[str, Any], path: str) -> None:
        artifact_id = source.get("artifact_id")
        if source.get("backup_id"):
            backup = self.backup_doc(source["backup_id"])
            artifact_id = backup.get("artifact_id")
        if not artifact_id:
            raise WorkerFailed("the backup has no archive")
        self.store().download_to(artifact_id, path)

    def _run_restore(self, doc: dict[str, Any], ctx: dict[str, Any]) -> None:
        restore_id = str(doc["_id"])
        started = time.monotonic()
        window_id = f"restore:{restore_id}"
        opened = False
        source = doc.get("source") or {}
        path = None
        written = False
        try:
            fd, path = tempfile.mkstemp(prefix="ml-restore-", suffix=".tar.gz",
                                        dir=self.workdir)
            os.close(fd)
            self._fetch(source, path)
            manifest = self._worker(["verify", "--archive", path])["manifest"]
            self._set(RESTORES, doc["_id"], {
                "phase": "pausing", "backup_created_at": manifest.get("created_at"),
                "progress": {"done": 0, "total": len(manifest["collections"])}})
            _, settings_version = self.repo.get_settings()
            self._open_window(window_id, "restore", self.restore_window_max_s, pause=True)
            opened = True
            self._set(RESTORES, doc["_id"], {"phase": "restoring"})
            written = True

            def on_event(line: dict[str, Any]) -> None:
                if line.get("event") == "progress":
                    self._set(RESTORES, doc["_id"], {"progress": {
                        "done": line.get("done"), "total": line.get("total"),
                        "collection": line.get("collection")}})

            final = self._worker(["apply", "--archive", path], on_event)
            self._set(RESTORES, doc["_id"], {"phase": "resuming"})
            self._resync(settings_version, restore_id)
            self._close_window(window_id)
            opened = False
            duration = round(time.monotonic() - started, 3)
            updated = self._set(RESTORES, doc["_id"], {
                "status": SUCCEEDED, "phase": "done", "finished_at": utcnow(),
                "duration_s": duration, "written": final.get("written")})
            RESTORES_TOTAL.labels(SUCCEEDED).inc()
            RESTORE_SECONDS.observe(duration)
            log.info("restore %s succeeded in %.1f s from the backup of %s", restore_id,
                     duration, manifest.get("created_at"))
            self.dispatch(events.RESTORE_SUCCEEDED, {"restore": restore_to_api(updated)}, ctx)
        except Exception as exc:
            reason = exc.message if isinstance(exc, WorkerFailed) else \
                backup_archive.public_reason(exc)
            if written:
                reason += " (the data may be partly restored: restore a backup again)"
                try:
                    self._resync(None, restore_id)
                except Exception:
                    log.exception("resync after a failed restore failed")
            else:
                reason += " (nothing was changed)"
            log.exception("restore %s failed: %s", restore_id, reason)
            if opened:
                self._close_window(window_id)
            duration = round(time.monotonic() - started, 3)
            updated = self._set(RESTORES, doc["_id"], {
                "status": FAILED, "phase": "done", "finished_at": utcnow(),
                "duration_s": duration, "error": reason})
            RESTORES_TOTAL.labels(FAILED).inc()
            RESTORE_SECONDS.observe(duration)
            if updated is not None:
                self.dispatch(events.RESTORE_FAILED, {"restore": restore_to_api(updated)}, ctx)
        finally:
            if path is not None:
                try:
                    os.unlink(path)
                except OSError:
                    pass
            if source.get("artifact_id"):  # an uploaded archive is not kept
                try:
                    self.store().delete(source["artifact_id"])
                except Exception:
                    log.exception("could not delete the uploaded archive %s",
                                  source["artifact_id"])

    def _resync(self, settings_version: int | None, restore_id: str) -> None:
        """After the data is back: the restored settings under a version above any served
        so far (every service takes them), then ``data_restored`` (caches resync)."""
        from shared.settings import defaults

        stored, restored_version = self.repo.get_settings()
        values = {**defaults(), **(stored or {})}
        version = self.repo.save_settings(values, max(settings_version or 0,
                                                      restored_version) + 1, "restore")
        self.dispatch(events.SETTINGS_CHANGED, {"settings": values, "changed": [],
                                                "version": version, "previous": {}})
        self.dispatch(events.DATA_RESTORED, {"restore_id": restore_id})
