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

import eventlet
import pymongo
from eventlet.semaphore import Semaphore
from nameko.extensions import DependencyProvider
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from services.runner import domain
from services.runner.domain import FINAL, QUEUED, RUNNING
from services.runner.predictors import Predictor, PredictorCache, PredictorPool
from services.runner.sandbox import run_env
from shared.errors import NotFound
from shared.listindex import ListIndex
from shared.modelfile.forkserver import Forkserver
from shared.mongo import Repository, object_id, retry_db, utcnow

EXECUTIONS, LOGS = "executions", "execution_logs"


class ExecutionRepository(Repository):
    """Executions, their log lines (numbered) and their result artifacts.

    The writes of a run in progress (claim, lease, cancel watch, log lines, final state)
    ride out a database outage of up to ``RUNNER_DB_RETRY_S`` seconds (``retry_db``);
    a write repeated after a lost reply is recognised as already done. API reads are
    not retried: they answer 503 at once.
    """

    retry_s = 60.0
    #: What the Exécutions list filters and sorts on (services.runner.domain.list_query).
    LIST_FIELDS = ("deployment_id", "model_id", "created_by", "department", "region",
                   "rerun_of", "status", "trigger", *domain.SORT_FIELDS)
    LIST_EXACT = ("deployment_id", "model_id", "created_by", "department", "region",
                  "rerun_of", "status", "trigger")

    def setup(self) -> None:
        super().setup()
        self.retry_s = float(self.container.config.get("RUNNER_DB_RETRY_S") or 60)
        self.list_index = ListIndex(EXECUTIONS, self.LIST_FIELDS, exact=self.LIST_EXACT)
        self.list_index.ensure_indexes(self.db)

    def start(self) -> None:
        self.list_index.load_in_background(self.db, eventlet.spawn_n)

    def _changed(self, oid) -> None:
        """A write of a listed field (a new execution, a state change, a purge): every
        replica's list index learns it (retried through an outage, as the write was)."""
        self._retried(lambda: self.list_index.record(self.db, oid), "list change")

    def reload_list_index(self) -> int:
        """After ``executions`` was written from outside the runner (a restore)."""
        self.list_index.load_in_background(self.db, lambda load: load())
        return self.list_index.size

    def _retried(self, operation, what: str):
        return retry_db(operation, self.retry_s, what)

    def _mine(self, oid, runner_id: str, status: str) -> dict[str, Any] | None:
        """After a retried write that matched nothing: the state it may already have made."""
        doc = self._retried(lambda: self.db[EXECUTIONS].find_one({"_id": oid}), "execution read")
        if doc is not None and doc.get("status") == status and doc.get("runner_id") == runner_id:
            return doc
        return None

    indexes = {
        EXECUTIONS: [
            ([("created_at", -1)], {}),
            ([("deployment_id", 1), ("created_at", -1)], {}),
            ([("model_id", 1), ("created_at", -1)], {}),
            ([("status", 1), ("created_at", -1)], {}),
            ([("trigger", 1), ("created_at", -1)], {}),
            # GET /executions?department=&region= (the reports' figures, checkable).
            ([("department", 1), ("created_at", -1)], {}),
            ([("region", 1), ("created_at", -1)], {}),
            ([("rerun_of", 1), ("created_at", -1)], {}),
            ([("status", 1), ("lease_expires_at", 1)], {}),
            ([("result.artifact_id", 1), ("finished_at", 1)], {}),
            # The scheduler's redelivered request never creates a second execution.
            ([("idempotency_key", 1)], {"unique": True, "sparse": True}),
        ],
        LOGS: [([("execution_id", 1), ("n", 1)], {"unique": True}), ([("ts", 1)], {})],
    }

    # -- create / read -----------------------------------------------------------

    def insert(self, doc: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Insert; with an ``idempotency_key`` already used, the existing one (False)."""
        try:
            self.db[EXECUTIONS].insert_one(doc)
            self._changed(doc["_id"])
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
        """The execution or None (retried through an outage: used by runs in progress)."""
        try:
            return self._retried(lambda: self.get(execution_id), "execution read")
        except NotFound:
            return None

    def by_key(self, key: str) -> dict[str, Any] | None:
        return self.db[EXECUTIONS].find_one({"idempotency_key": key})

    def list(self, filters: dict, sort: list, page: int, per_page: int) -> tuple[list, int]:
        """A page and its total: decided by the list index, then only the page's
        documents are read; the database answers while the index is not ready."""
        skip = (page - 1) * per_page
        found = self.list_index.page(self.db, filters, sort, skip, per_page, eventlet.spawn_n)
        if found is not None:
            ids, total = found
            docs = {d["_id"]: d for d in self.db[EXECUTIONS].find({"_id": {"$in": ids}})}
            return [docs[i] for i in ids if i in docs], total
        cursor = (self.db[EXECUTIONS].find(filters).sort(sort).skip(skip).limit(per_page))
        return list(cursor), self.db[EXECUTIONS].count_documents(filters)

    def export(self, cursor: dict[str, Any] | None, limit: int
               ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """Every execution in (created_at, _id) order, ``limit`` at a time, for the
        reporting rebuild. ``cursor`` is what the previous call returned (None: start).

        Each query is a *bounded* range of the created_at index (a window that doubles
        while sparse and shrinks when full): the embedded database answers those in
        milliseconds, while an open-ended range or sort costs a scan of everything
        matched (seconds per page at 100,000 executions, see TRAPS.md).
        """
        col = self.db[EXECUTIONS]
        if cursor is None:
            first = list(col.find({}, {"created_at": 1}).sort([("created_at", 1)]).limit(1))
            if not first:
                return [], None
            cursor = {"t": first[0]["created_at"], "id": None, "w": 3600.0}
        start, last_id, window = cursor["t"], cursor["id"], float(cursor["w"])
        horizon = utcnow() + timedelta(seconds=1)
        out: list[dict[str, Any]] = []
        projection = {"parameters": 0, "model_file": 0}
        order = lambda d: (d["created_at"], d["_id"])  # noqa: E731 (ties: by id, here)
        if last_id is not None:  # inside the executions of one instant: finish them first
            ties = [d for d in sorted(col.find({"created_at": start}, projection), key=order)
                    if d["_id"] > last_id]
            out += ties[:limit]
            if len(ties) > limit:
                return out, {"t": start, "id": out[-1]["_id"], "w": window}
            start, last_id = start + timedelta(milliseconds=1), None
        while len(out) < limit and start <= horizon:
            end = start + timedelta(seconds=window)
            wanted = limit - len(out)
            docs = sorted(col.find({"created_at": {"$gte": start, "$lt": end}}, projection)
                          .sort([("created_at", 1)]).limit(wanted + 1), key=order)
            if len(docs) > wanted:  # the window holds more: stop inside it, narrow it
                cut = docs[wanted]["created_at"]
                head = [d for d in docs if d["created_at"] < cut]
                if head:
                    return out + head, {"t": cut, "id": None, "w": max(window / 4, 1.0)}
                # Only executions of one instant: page through that instant by id.
                ties = sorted(col.find({"created_at": cut}, projection), key=order)
                out += ties[:wanted]
                if len(ties) > wanted:
                    return out, {"t": cut, "id": out[-1]["_id"], "w": window}
                return out, {"t": cut + timedelta(milliseconds=1), "id": None, "w": window}
            out += docs
            start = end
            window = min(window * 2, 366 * 86400.0) if len(docs) < wanted / 2 else window
        if start > horizon:
            return out, None
        return out, {"t": start, "id": None, "w": window}

    def count(self, filters: dict) -> int:
        return self.db[EXECUTIONS].count_documents(filters)

    def mark_published(self, oid) -> None:
        self.db[EXECUTIONS].update_one({"_id": oid}, {"$set": {"published": True}})

    def unpublished(self, older_than: datetime) -> list[dict[str, Any]]:
        return list(self.db[EXECUTIONS].find(
            {"status": QUEUED, "published": False, "created_at": {"$lt": older_than}}).limit(100))

    # -- state changes (each one conditional) ---------------------------------------

    def _update(self, query: dict, update: dict, retry: bool = True) -> dict[str, Any] | None:
        def write():
            return self.db[EXECUTIONS].find_one_and_update(
                query, update, return_document=ReturnDocument.AFTER)

        doc = self._retried(write, "execution state write") if retry else write()
        if doc is not None and set(update.get("$set") or ()) & set(self.LIST_FIELDS):
            self._changed(doc["_id"])  # not a lease renewal: a state the lists show
        return doc

    def claim(self, oid, runner_id: str, lease_s: float) -> dict[str, Any] | None:
        """queued → running for ``runner_id`` (attempt 1)."""
        now = utcnow()
        return self._update(
            {"_id": oid, "status": QUEUED, "cancel_requested": {"$ne": True}},
            {"$set": {"status": RUNNING, "runner_id": runner_id, "started_at": now,
                      "lease_expires_at": now + timedelta(seconds=lease_s), "attempt": 1}},
        ) or self._mine(oid, runner_id, RUNNING)

    def take_over(self, doc: dict[str, Any], runner_id: str, lease_s: float):
        """A running execution whose runner is lost → this runner, next attempt."""
        now = utcnow()
        return self._update(
            {"_id": doc["_id"], "status": RUNNING, "runner_id": doc.get("runner_id"),
             "lease_expires_at": doc.get("lease_expires_at")},
            {"$set": {"runner_id": runner_id, "started_at": now,
                      "lease_expires_at": now + timedelta(seconds=lease_s),
                      "attempt": int(doc.get("attempt") or 1) + 1}},
        ) or self._mine(doc["_id"], runner_id, RUNNING)

    def renew(self, oid, runner_id: str, lease_s: float) -> dict[str, Any] | None:
        """Extend the lease; None when this runner no longer owns the execution."""
        return self._update(
            {"_id": oid, "status": RUNNING, "runner_id": runner_id},
            {"$set": {"lease_expires_at": utcnow() + timedelta(seconds=lease_s)}})

    def watch(self, oid) -> dict[str, Any] | None:
        return self._retried(lambda: self.db[EXECUTIONS].find_one(
            {"_id": oid}, {"status": 1, "runner_id": 1, "cancel_requested": 1}), "cancel watch")

    def finish(self, oid, runner_id: str | None, status: str, fields: dict[str, Any],
               expect: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """running (owned by ``runner_id``) → a final status; None if no longer ours."""
        query: dict[str, Any] = {"_id": oid, "status": RUNNING}
        if runner_id is not None:
            query["runner_id"] = runner_id
        query.update(expect or {})
        final = self._update(query, {"$set": {"status": status, "finished_at": utcnow(),
                                              **fields}})
        if final is None and runner_id is not None:
            # Written by an attempt whose reply the outage swallowed?
            final = self._mine(oid, runner_id, status)
        return final

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
                      "finished_at": utcnow(), "error": "cancelled before it started"}},
            retry=False)  # an API call: 503 at once during an outage

    def request_cancel(self, oid) -> dict[str, Any] | None:
        return self._update({"_id": oid, "status": RUNNING},
                            {"$set": {"cancel_requested": True}}, retry=False)

    def lost(self, expired_before: datetime) -> list[dict[str, Any]]:
        return list(self.db[EXECUTIONS].find(
            {"status": RUNNING, "lease_expires_at": {"$lt": expired_before}}).limit(100))

    def set_input_rows(self, oid, rows: int) -> None:
        self._retried(lambda: self.db[EXECUTIONS].update_one(
            {"_id": oid, "input.rows": None}, {"$set": {"input.rows": rows}}), "input rows")

    def set_resources(self, oid, allocated: dict[str, Any]) -> None:
        """What the run really starts with (capped by today's ceilings)."""
        self._retried(lambda: self.db[EXECUTIONS].update_one(
            {"_id": oid}, {"$set": {"resources": allocated}}), "resources")

    # -- logs -------------------------------------------------------------------------

    def last_log_number(self, execution_id: str) -> int:
        last = self._retried(lambda: self.db[LOGS].find_one(
            {"execution_id": execution_id}, sort=[("n", -1)]), "log read")
        return int(last["n"]) if last else 0

    def add_log(self, execution_id: str, n: int, level: str, message: str) -> None:
        line = {"execution_id": execution_id, "n": n, "ts": utcnow(), "level": level,
                "message": message[:4000]}

        def insert() -> None:
            try:
                self.db[LOGS].insert_one(dict(line))
            except DuplicateKeyError:  # the attempt before the outage was written
                pass

        self._retried(insert, "log line")

    def logs(self, execution_id: str, after: int, limit: int) -> list[dict[str, Any]]:
        return list(self.db[LOGS].find({"execution_id": execution_id, "n": {"$gt": after}})
                    .sort([("n", 1)]).limit(limit))

    # -- retention (services/runner/retention.py) ----------------------------------

    def purge_executions(self, before: datetime, limit: int) -> int:
        """Delete up to ``limit`` finished executions created before ``before``, with
        their log lines and result artifacts; how many went."""
        docs = list(self.db[EXECUTIONS].find(
            {"status": {"$in": list(FINAL)}, "created_at": {"$lt": before}},
            {"_id": 1, "result": 1}).limit(limit))
        for doc in docs:
            self.artifacts.delete((doc.get("result") or {}).get("artifact_id"))
            self.db[LOGS].delete_many({"execution_id": str(doc["_id"])})
            self.db[EXECUTIONS].delete_one({"_id": doc["_id"]})
            self._changed(doc["_id"])
        return len(docs)

    def purge_logs(self, before: datetime) -> int:
        """Delete the log lines written before ``before``."""
        return self.db[LOGS].delete_many({"ts": {"$lt": before}}).deleted_count

    def purge_results(self, before: datetime, limit: int, now: datetime) -> int:
        """Delete the result artifacts of executions finished before ``before``; the
        execution stays, its ``result.purged_at`` says when the file went."""
        docs = list(self.db[EXECUTIONS].find(
            {"result.artifact_id": {"$ne": None}, "finished_at": {"$lt": before}},
            {"_id": 1, "result": 1}).limit(limit))
        for doc in docs:
            self.artifacts.delete(doc["result"].get("artifact_id"))
            self.db[EXECUTIONS].update_one(
                {"_id": doc["_id"]},
                {"$set": {"result.artifact_id": None, "result.purged_at": now}})
        return len(docs)


def is_final(doc: dict[str, Any]) -> bool:
    return doc.get("status") in FINAL


def run_zygote(config: dict[str, Any]) -> Forkserver | None:
    """The runner's zygote (``services.runner.zygote``), unless ``RUNNER_ZYGOTE=0``.
    It gets the environment a cold run child gets (``MALLOC_ARENA_MAX`` must be set
    before the first allocation, so at the zygote's start)."""
    if str(config.get("RUNNER_ZYGOTE", "1")).strip().lower() in ("0", "false", "no"):
        return None
    return Forkserver(run_env(), module="services.runner.zygote", name="runner")


class Runtime(DependencyProvider):
    """This replica's identity, limits, scratch space and warm predictors."""

    def setup(self) -> None:
        config = self.container.config
        self.runner_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.memory_mb = int(config.get("RUNNER_MEMORY_MB") or 2048)
        self.lease_s = float(config.get("RUNNER_LEASE_S") or 15)
        self.grace_s = float(config.get("RUNNER_KILL_GRACE_S") or 5)
        self.lost_after_s = float(config.get("RUNNER_LOST_AFTER_S") or 60)
        self.purge_interval_s = float(config.get("RUNNER_PURGE_INTERVAL_S", 3600))
        self._next_purge = 0.0
        self.inspect_max_bytes = int(float(config.get("RUNNER_INSPECT_MAX_MB") or 20) * 2**20)
        self.predict_timeout_s = float(config.get("RUNNER_PREDICT_TIMEOUT_S") or 30)
        self.max_log_lines = int(config.get("RUNNER_MAX_LOG_LINES") or 5000)
        self.scratch = tempfile.mkdtemp(prefix="runner-")
        self.models_dir = os.path.join(self.scratch, "models")
        os.makedirs(self.models_dir, exist_ok=True)
        self.cache = PredictorCache(int(config.get("RUNNER_PREDICT_CACHE") or 4))
        self.predict_processes = int(config.get("RUNNER_PREDICT_PROCESSES") or 2)
        # The warm parent of the run children (None: every run starts a cold child).
        self.zygote = run_zygote(config)
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

    def start(self) -> None:
        if self.zygote is not None:  # importing takes seconds: runs start cold meanwhile
            eventlet.spawn_n(self.zygote.warm)

    def stop(self) -> None:
        self.cache.close()
        if self.zygote is not None:
            self.zygote.close()
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

    def forget_all(self) -> None:
        """Drop every remembered lookup (after a restore)."""
        self._lookups.clear()

    def forget(self, kind: str, key: str | None) -> None:
        if key:
            self._lookups.pop((kind, str(key)), None)

    def purge_due(self) -> bool:
        """Whether this replica's retention purge should run now (every
        ``RUNNER_PURGE_INTERVAL_S``, the first one soon after start)."""
        now = time.monotonic()
        if now < self._next_purge:
            return False
        self._next_purge = now + self.purge_interval_s
        return True

    def workdir(self) -> str:
        return tempfile.mkdtemp(prefix="exec-", dir=self.scratch)

    @staticmethod
    def predictor_key(file: dict[str, Any], memory_mb: int) -> str:
        return f"{file['sha256']}:{int(memory_mb)}"

    def predictor(self, artifacts, file: dict[str, Any], memory_mb: int | None = None
                  ) -> PredictorPool:
        """The warm processes of the model file under ``memory_mb`` (the deployment's,
        default ``RUNNER_MEMORY_MB``): up to ``RUNNER_PREDICT_PROCESSES`` of them, the
        first started (and the file downloaded) on first use."""
        memory_mb = int(memory_mb or self.memory_mb)
        path = os.path.join(self.models_dir, f"{file['sha256']}.{file['format']}")

        def start() -> Predictor:
            return Predictor(path, file["format"], memory_mb)

        def load() -> PredictorPool:
            if not os.path.exists(path):
                partial = f"{path}.{uuid.uuid4().hex[:6]}.part"
                artifacts.download_to(file["artifact_id"], partial)
                os.replace(partial, path)
            return PredictorPool(start, self.predict_processes)

        return self.cache.get(self.predictor_key(file, memory_mb), load)


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
