"""DependencyProviders of the runner: its repository and its runtime.

``ExecutionRepository`` owns the ``executions`` and ``execution_logs``
collections; every state change is one conditional write, so two replicas
(or a replica and the sweep) can never both move the same execution.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

import pymongo
from eventlet.semaphore import Semaphore
from nameko.extensions import DependencyProvider
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from services.runner import domain
from services.runner.domain import FINAL, QUEUED, RUNNING
from services.runner.sandbox import Predictor, PredictorCache
from shared.errors import NotFound
from shared.mongo import Repository, object_id, utcnow

EXECUTIONS, LOGS = "executions", "execution_logs"


class ExecutionRepository(Repository):
    """Executions, their log lines (numbered) and their result artifacts."""

    indexes = {
        EXECUTIONS: [
            ([("created_at", -1)], {}),
            ([("deployment_id", 1), ("created_at", -1)], {}),
            ([("model_id", 1), ("created_at", -1)], {}),
            ([("status", 1), ("created_at", -1)], {}),
            ([("trigger", 1), ("created_at", -1)], {}),
            ([("rerun_of", 1), ("created_at", -1)], {}),
            ([("status", 1), ("lease_expires_at", 1)], {}),
            # The scheduler's redelivered request never creates a second execution.
            ([("idempotency_key", 1)], {"unique": True, "sparse": True}),
        ],
        LOGS: [([("execution_id", 1), ("n", 1)], {"unique": True})],
    }

    # -- create / read -----------------------------------------------------------

    def insert(self, doc: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Insert; with an ``idempotency_key`` already used, the existing one (False)."""
        try:
            self.db[EXECUTIONS].insert_one(doc)
            return doc, True
        except DuplicateKeyError:
            existing = self.db[EXECUTIONS].find_one({"idempotency_key": doc["idempotency_key"]})
            if existing is None:
                raise
            return existing, False

    def get(self, execution_id: str) -> dict[str, Any]:
        doc = self.db[EXECUTIONS].find_one({"_id": object_id(execution_id, "execution")})
        if doc is None:
            raise NotFound(f"execution {execution_id!r} not found", {"id": execution_id})
        return doc

    def find(self, execution_id: str) -> dict[str, Any] | None:
        try:
            return self.get(execution_id)
        except NotFound:
            return None

    def by_key(self, key: str) -> dict[str, Any] | None:
        return self.db[EXECUTIONS].find_one({"idempotency_key": key})

    def list(self, filters: dict, sort: list, page: int, per_page: int) -> tuple[list, int]:
        cursor = (self.db[EXECUTIONS].find(filters).sort(sort)
                  .skip((page - 1) * per_page).limit(per_page))
        return list(cursor), self.db[EXECUTIONS].count_documents(filters)

    def count(self, filters: dict) -> int:
        return self.db[EXECUTIONS].count_documents(filters)

    def mark_published(self, oid) -> None:
        self.db[EXECUTIONS].update_one({"_id": oid}, {"$set": {"published": True}})

    def unpublished(self, older_than: datetime) -> list[dict[str, Any]]:
        return list(self.db[EXECUTIONS].find(
            {"status": QUEUED, "published": False, "created_at": {"$lt": older_than}}).limit(100))

    # -- state changes (each one conditional) ---------------------------------------

    def _update(self, query: dict, update: dict) -> dict[str, Any] | None:
        return self.db[EXECUTIONS].find_one_and_update(query, update,
                                                       return_document=ReturnDocument.AFTER)

    def claim(self, oid, runner_id: str, lease_s: float) -> dict[str, Any] | None:
        """queued → running for ``runner_id`` (attempt 1)."""
        now = utcnow()
        return self._update(
            {"_id": oid, "status": QUEUED, "cancel_requested": {"$ne": True}},
            {"$set": {"status": RUNNING, "runner_id": runner_id, "started_at": now,
                      "lease_expires_at": now + timedelta(seconds=lease_s), "attempt": 1}})

    def take_over(self, doc: dict[str, Any], runner_id: str, lease_s: float):
        """A running execution whose runner is lost → this runner, next attempt."""
        now = utcnow()
        return self._update(
            {"_id": doc["_id"], "status": RUNNING, "runner_id": doc.get("runner_id"),
             "lease_expires_at": doc.get("lease_expires_at")},
            {"$set": {"runner_id": runner_id, "started_at": now,
                      "lease_expires_at": now + timedelta(seconds=lease_s),
                      "attempt": int(doc.get("attempt") or 1) + 1}})

    def renew(self, oid, runner_id: str, lease_s: float) -> dict[str, Any] | None:
        """Extend the lease; None when this runner no longer owns the execution."""
        return self._update(
            {"_id": oid, "status": RUNNING, "runner_id": runner_id},
            {"$set": {"lease_expires_at": utcnow() + timedelta(seconds=lease_s)}})

    def watch(self, oid) -> dict[str, Any] | None:
        return self.db[EXECUTIONS].find_one(
            {"_id": oid}, {"status": 1, "runner_id": 1, "cancel_requested": 1})

    def finish(self, oid, runner_id: str | None, status: str, fields: dict[str, Any],
               expect: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """running (owned by ``runner_id``) → a final status; None if no longer ours."""
        query: dict[str, Any] = {"_id": oid, "status": RUNNING}
        if runner_id is not None:
            query["runner_id"] = runner_id
        query.update(expect or {})
        return self._update(query, {"$set": {"status": status, "finished_at": utcnow(),
                                             **fields}})

    def release(self, oid, runner_id: str) -> dict[str, Any] | None:
        """A stopping replica gives a running execution back to the queue."""
        return self._update(
            {"_id": oid, "status": RUNNING, "runner_id": runner_id},
            {"$set": {"status": QUEUED, "runner_id": None, "lease_expires_at": None},
             "$inc": {"attempt": -1}})

    def cancel_queued(self, oid) -> dict[str, Any] | None:
        return self._update(
            {"_id": oid, "status": QUEUED},
            {"$set": {"status": domain.CANCELLED, "cancel_requested": True,
                      "finished_at": utcnow(), "error": "cancelled before it started"}})

    def request_cancel(self, oid) -> dict[str, Any] | None:
        return self._update({"_id": oid, "status": RUNNING},
                            {"$set": {"cancel_requested": True}})

    def lost(self, expired_before: datetime) -> list[dict[str, Any]]:
        return list(self.db[EXECUTIONS].find(
            {"status": RUNNING, "lease_expires_at": {"$lt": expired_before}}).limit(100))

    def set_input_rows(self, oid, rows: int) -> None:
        self.db[EXECUTIONS].update_one({"_id": oid, "input.rows": None},
                                       {"$set": {"input.rows": rows}})

    # -- logs -------------------------------------------------------------------------

    def last_log_number(self, execution_id: str) -> int:
        last = self.db[LOGS].find_one({"execution_id": execution_id}, sort=[("n", -1)])
        return int(last["n"]) if last else 0

    def add_log(self, execution_id: str, n: int, level: str, message: str) -> None:
        self.db[LOGS].insert_one({"execution_id": execution_id, "n": n, "ts": utcnow(),
                                  "level": level, "message": message[:4000]})

    def logs(self, execution_id: str, after: int, limit: int) -> list[dict[str, Any]]:
        return list(self.db[LOGS].find({"execution_id": execution_id, "n": {"$gt": after}})
                    .sort([("n", 1)]).limit(limit))


def is_final(doc: dict[str, Any]) -> bool:
    return doc.get("status") in FINAL


class Runtime(DependencyProvider):
    """This replica's identity, limits, scratch space and warm predictors."""

    def setup(self) -> None:
        config = self.container.config
        self.runner_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.memory_mb = int(config.get("RUNNER_MEMORY_MB") or 2048)
        self.lease_s = float(config.get("RUNNER_LEASE_S") or 15)
        self.grace_s = float(config.get("RUNNER_KILL_GRACE_S") or 5)
        self.default_timeout_s = float(config.get("RUNNER_DEFAULT_TIMEOUT_S") or 3600)
        self.lost_after_s = float(config.get("RUNNER_LOST_AFTER_S") or 60)
        self.inspect_max_bytes = int(float(config.get("RUNNER_INSPECT_MAX_MB") or 20) * 2**20)
        self.predict_timeout_s = float(config.get("RUNNER_PREDICT_TIMEOUT_S") or 30)
        self.max_log_lines = int(config.get("RUNNER_MAX_LOG_LINES") or 5000)
        self.scratch = tempfile.mkdtemp(prefix="runner-")
        self.models_dir = os.path.join(self.scratch, "models")
        os.makedirs(self.models_dir, exist_ok=True)
        self.cache = PredictorCache(int(config.get("RUNNER_PREDICT_CACHE") or 4))
        self.running: set[str] = set()
        # Never more children than slots, even when a reconnect redelivers messages
        # this replica is still working on.
        from services.runner.queue import slots

        self.slots = Semaphore(slots(config))
        # Online prediction: deployments and models looked up over RPC are kept a few
        # seconds (and dropped at once on their change events, broadcast to every replica).
        self.lookup_ttl_s = float(config.get("RUNNER_PREDICT_LOOKUP_TTL_S") or 5)
        self._lookups: dict[tuple[str, str], tuple[float, Any]] = {}

    def ping(self) -> bool:
        """Health: this replica consumes the execution queue (used by /health)."""
        from services.runner.queue import ExecutionConsumer

        consumers = [e for e in self.container.entrypoints if isinstance(e, ExecutionConsumer)]
        if consumers and not all(c.connected for c in consumers):
            raise RuntimeError("not connected to the execution queue")
        return True

    def stop(self) -> None:
        self.cache.close()
        shutil.rmtree(self.scratch, ignore_errors=True)

    kill = stop

    def get_dependency(self, worker_ctx):
        return RuntimeView(self, worker_ctx)

    def lookup(self, kind: str, key: str, fetch) -> Any:
        """``fetch()``, remembered for ``RUNNER_PREDICT_LOOKUP_TTL_S`` seconds."""
        now = time.monotonic()
        hit = self._lookups.get((kind, key))
        if hit is not None and hit[0] > now:
            return hit[1]
        value = fetch()
        if self.lookup_ttl_s > 0:
            if len(self._lookups) > 10_000:
                self._lookups.clear()
            self._lookups[(kind, key)] = (now + self.lookup_ttl_s, value)
        return value

    def forget(self, kind: str, key: str | None) -> None:
        if key:
            self._lookups.pop((kind, str(key)), None)

    def workdir(self) -> str:
        return tempfile.mkdtemp(prefix="exec-", dir=self.scratch)

    def predictor(self, artifacts, file: dict[str, Any]) -> Predictor:
        """The warm predictor of the model file, started (and downloaded) on first use."""

        def load() -> Predictor:
            path = os.path.join(self.models_dir, f"{file['sha256']}.{file['format']}")
            if not os.path.exists(path):
                partial = f"{path}.{uuid.uuid4().hex[:6]}.part"
                artifacts.download_to(file["artifact_id"], partial)
                os.replace(partial, path)
            return Predictor(path, file["format"], self.memory_mb)

        return self.cache.get(file["sha256"], load)


class RuntimeView:
    """The runtime seen by one worker: adds whether its entrypoint is stopping."""

    def __init__(self, runtime: Runtime, worker_ctx):
        self._runtime = runtime
        self._entrypoint = worker_ctx.entrypoint

    def __getattr__(self, name: str) -> Any:
        return getattr(self._runtime, name)

    def stopping(self) -> bool:
        return bool(getattr(self._entrypoint, "stopping", False))




def write_spec(path: str, spec: dict[str, Any]) -> None:
    with open(path, "w") as f:
        json.dump(spec, f)


SORT_DESC = pymongo.DESCENDING
