"""The reporting read model: the service's own collections (``rpt_*``).

* ``rpt_models`` / ``rpt_deployments`` / ``rpt_executions``: a slim copy of each
  object, written by one conditional upsert that returns the previous state, so
  the figures move by exactly ``contributions(new) - contributions(old)`` once,
  however often an event is delivered, and an older event never overwrites a
  newer state (models and deployments: ``updated_at``; executions: status rank).
  Deletions leave a tombstone so that a late update cannot bring an object back.
* ``rpt_counters``, ``rpt_buckets`` (hour and day, by department and region),
  ``rpt_model_days``, ``rpt_department_days`` (per day and region, every department's
  figures in one document): the pre-aggregated figures (``$inc`` upserts). Every read of
  the dashboard and reports is an indexed read of a bounded number of these.
* ``rpt_activity`` (newest first, trimmed), ``rpt_meta`` (the rebuild's state).
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import eventlet
from eventlet.semaphore import Semaphore
from pymongo import ASCENDING, DESCENDING, ReplaceOne, ReturnDocument, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.reporting import domain
from shared.mongo import Repository, utcnow

log = logging.getLogger(__name__)

MODELS, DEPLOYMENTS, EXECUTIONS = "rpt_models", "rpt_deployments", "rpt_executions"
COUNTERS, BUCKETS, MODEL_DAYS = "rpt_counters", "rpt_buckets", "rpt_model_days"
DEPARTMENT_DAYS = "rpt_department_days"
ACTIVITY, META = "rpt_activity", "rpt_meta"
COLLECTIONS = {"counters": COUNTERS, "buckets": BUCKETS, "model_days": MODEL_DAYS,
               "department_days": DEPARTMENT_DAYS}
ACTIVITY_KEPT = 200
WRITE_BATCH = 1000
DUPLICATE_KEY = 11000


def insert_replacing(collection: Any, docs: list[dict[str, Any]]) -> None:
    """Insert ``docs``; one whose ``_id`` is there already (an event's upsert between the
    rebuild's delete and its insert, a retried batch) is replaced by the rebuild's."""
    try:
        collection.insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors") or []
        if not errors or any(error.get("code") != DUPLICATE_KEY for error in errors):
            raise
        collection.bulk_write([ReplaceOne({"_id": docs[error["index"]]["_id"]},
                                          docs[error["index"]], upsert=True)
                               for error in errors], ordered=False)


class ReadModel(Repository):
    indexes = {
        MODELS: [([("deleted", 1), ("name", 1), ("version_key", -1)], {}),
                 ([("sort_key", 1)], {}),
                 ([("department", 1), ("name", 1)], {}),
                 ([("region", 1), ("name", 1)], {})],
        DEPLOYMENTS: [([("deleted", 1), ("name", 1)], {}),
                      ([("department", 1), ("name", 1)], {}),
                      ([("region", 1), ("name", 1)], {}),
                      ([("last_run_at", 1)], {})],
        COUNTERS: [([("group", 1)], {})],
        BUCKETS: [([("grain", 1), ("start", 1)], {}),
                  ([("department", 1), ("region", 1), ("grain", 1), ("start", 1)], {})],
        MODEL_DAYS: [([("model_id", 1), ("day", 1)], {})],
        DEPARTMENT_DAYS: [([("region", 1), ("start", 1)], {})],
        ACTIVITY: [([("at", -1)], {})],
    }

    def setup(self) -> None:
        super().setup()
        # This container: who owns a rebuild it runs, and whether it asked for one at start.
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.start_requested = False
        self._locks: dict[str, Semaphore] = {}
        self.ticks = 0

    # -- objects (conditional upserts) ---------------------------------------------

    def lock(self, object_id: str) -> Semaphore:
        """One event at a time per object in this replica (events of one execution come
        in bursts: queued, started, succeeded): the read model and the analytics row are
        written in the order the states were applied."""
        lock = self._locks.get(object_id)
        if lock is None:
            if len(self._locks) > 10_000:
                self._locks = {k: v for k, v in self._locks.items() if v.locked()}
            lock = self._locks[object_id] = Semaphore(1)
        return lock

    def _swap(self, collection: str, object_id: str, guard: dict[str, Any],
              fields: dict[str, Any]) -> tuple[bool, dict[str, Any] | None]:
        """Upsert ``fields`` if ``guard`` holds: ``(applied, previous document)``."""
        query = {"_id": object_id, **guard}
        try:
            before = self.db[collection].find_one_and_update(
                query, {"$set": fields}, upsert=True, return_document=ReturnDocument.BEFORE)
        except DuplicateKeyError:
            # There is a document the guard refuses (a newer state, a tombstone), or
            # another replica inserted it just now: decide again without inserting.
            before = self.db[collection].find_one_and_update(
                query, {"$set": fields}, return_document=ReturnDocument.BEFORE)
            if before is None:
                return False, None
        return True, before

    @staticmethod
    def _live(doc: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if doc is None or doc.get("deleted") else doc

    def put_model(self, model: dict[str, Any]) -> tuple[bool, dict | None, dict]:
        slim = domain.slim_model(model)
        applied, before = self._swap(
            MODELS, slim["id"],
            {"deleted": {"$ne": True}, "updated_at": {"$not": {"$gt": slim["updated_at"]}}},
            {**slim, "deleted": False})
        return applied, self._live(before), slim

    def put_deployment(self, deployment: dict[str, Any]) -> tuple[bool, dict | None, dict]:
        slim = domain.slim_deployment(deployment)
        applied, before = self._swap(
            DEPLOYMENTS, slim["id"],
            {"deleted": {"$ne": True}, "updated_at": {"$not": {"$gt": slim["updated_at"]}}},
            {**slim, "deleted": False})
        return applied, self._live(before), slim

    def put_execution(self, execution: dict[str, Any]) -> tuple[bool, dict | None, dict]:
        slim = domain.slim_execution(execution)
        rank = domain.execution_rank(execution)
        applied, before = self._swap(EXECUTIONS, slim["id"], {"rank": {"$not": {"$gt": rank}}},
                                     {**slim, "rank": rank})
        return applied, before, slim

    def remove(self, collection: str, object_id: str) -> tuple[bool, dict | None]:
        """Tombstone; ``(applied, previous live state)``."""
        applied, before = self._swap(collection, str(object_id), {"deleted": {"$ne": True}},
                                     {"deleted": True, "deleted_at": utcnow()})
        return applied, self._live(before)

    def set_next_run(self, deployment_id: str, next_run_at: str) -> None:
        self.db[DEPLOYMENTS].update_one({"_id": str(deployment_id), "deleted": False},
                                        {"$set": {"next_run_at": next_run_at}})

    def set_last_run(self, execution: dict[str, Any]) -> None:
        """The deployment's newest run (by created_at) and its current status."""
        deployment_id, created = execution.get("deployment_id"), execution.get("created_at")
        if not deployment_id or not created:
            return
        doc = self.db[DEPLOYMENTS].find_one({"_id": str(deployment_id)}, {"last_run": 1})
        if doc is None:
            return
        last = doc.get("last_run") or {}
        if last.get("id") != execution["id"] and (last.get("created_at") or "") > created:
            return
        run = {"id": execution["id"], "status": execution.get("status"), "created_at": created,
               "at": execution.get("finished_at") or execution.get("started_at") or created}
        self.db[DEPLOYMENTS].update_one(
            {"_id": str(deployment_id), "last_run.id": last.get("id")},
            {"$set": {"last_run": run, "last_run_at": domain.parse_time(created)}})

    # -- figures ----------------------------------------------------------------------

    def apply(self, contributions: Iterable[domain.Contribution]) -> None:
        for collection, key, fields, incs in contributions:
            self.db[COLLECTIONS[collection]].update_one(
                {"_id": key}, {"$inc": incs, "$setOnInsert": fields}, upsert=True)

    def add_activity(self, entry: dict[str, Any] | None) -> None:
        if entry is None:
            return
        try:
            self.db[ACTIVITY].insert_one(entry)
        except DuplicateKeyError:
            pass  # the same event, delivered again

    def trim_activity(self) -> None:
        cutoff = list(self.db[ACTIVITY].find({}, {"at": 1}).sort([("at", DESCENDING)])
                      .skip(ACTIVITY_KEPT).limit(1))
        if cutoff:
            self.db[ACTIVITY].delete_many({"at": {"$lte": cutoff[0]["at"]}})

    # -- rebuild ------------------------------------------------------------------------

    def meta(self) -> dict[str, Any]:
        return self.db[META].find_one({"_id": "rebuild"}) or {"_id": "rebuild", "state": "never"}

    def rebuilding(self) -> bool:
        return self.meta().get("state") == "running"

    def request_rebuild(self, by: str | None) -> dict[str, Any]:
        """Ask for a rebuild (picked up by the next tick of a replica)."""
        self.db[META].update_one(
            {"_id": "rebuild"},
            {"$set": {"requested": True, "requested_at": utcnow(), "requested_by": by}},
            upsert=True)
        return self.meta()

    def claim_rebuild(self, owner: str, stale_before: datetime) -> bool:
        """One replica takes the requested rebuild (or one whose owner vanished)."""
        queries = ({"_id": "rebuild", "requested": True, "state": {"$ne": "running"}},
                   {"_id": "rebuild", "state": "running", "heartbeat": {"$lt": stale_before}})
        for query in queries:
            claimed = self.db[META].find_one_and_update(
                query, {"$set": {"state": "running", "owner": owner, "requested": False,
                                 "started_at": utcnow(), "heartbeat": utcnow()}})
            if claimed is not None:
                return True
        return False

    def heartbeat(self, owner: str) -> None:
        self.db[META].update_one({"_id": "rebuild", "owner": owner},
                                 {"$set": {"heartbeat": utcnow()}})

    def finish_rebuild(self, owner: str, state: str, counts: dict[str, int],
                       error: str | None = None) -> None:
        self.db[META].update_one(
            {"_id": "rebuild", "owner": owner},
            {"$set": {"state": state, "finished_at": utcnow(), "counts": counts,
                      "error": error}})

    def replace_all(self, objects: dict[str, list[dict[str, Any]]],
                    figures: list[domain.Contribution], owner: str) -> None:
        """Every object and figure of a rebuild, in place of what was there."""
        targets = {MODELS: objects["model"], DEPLOYMENTS: objects["deployment"],
                   EXECUTIONS: objects["execution"]}
        per_collection: dict[str, list[dict[str, Any]]] = {name: [] for name in
                                                           COLLECTIONS.values()}
        for collection, key, fields, incs in figures:
            doc: dict[str, Any] = {"_id": key, **fields}
            for name, value in incs.items():
                head, _, tail = name.partition(".")
                if tail:
                    doc.setdefault(head, {})[tail] = value
                else:
                    doc[name] = value
            per_collection[COLLECTIONS[collection]].append(doc)
        targets.update(per_collection)
        for name, docs in targets.items():
            self.db[name].delete_many({})
            for start in range(0, len(docs), WRITE_BATCH):
                insert_replacing(self.db[name], docs[start:start + WRITE_BATCH])
                self.heartbeat(owner)
                eventlet.sleep(0)

    def seed_activity(self, entries: list[dict[str, Any]]) -> None:
        """After a rebuild: the creations, when the activity log is empty."""
        if self.db[ACTIVITY].find_one({}) is not None or not entries:
            return
        entries = sorted(entries, key=lambda e: e["at"], reverse=True)[:ACTIVITY_KEPT]
        self.db[ACTIVITY].bulk_write([UpdateOne({"_id": e["_id"]}, {"$setOnInsert": e},
                                                upsert=True) for e in entries], ordered=False)

    # -- reads --------------------------------------------------------------------------

    def counters(self, group: str, where: dict[str, Any] | None = None) -> list[dict]:
        return list(self.db[COUNTERS].find({"group": group, **(where or {})}))

    def counter_groups(self, groups: Iterable[str]) -> dict[str, list[dict]]:
        """Several groups' counters in one read."""
        found: dict[str, list[dict]] = {group: [] for group in groups}
        for counter in self.db[COUNTERS].find({"group": {"$in": list(found)}}):
            found[counter["group"]].append(counter)
        return found

    def status_buckets(self, grain: str, start: datetime, end: datetime) -> list[dict]:
        """Every department's and region's buckets of a period, counts by status only."""
        return list(self.db[BUCKETS].find(domain.bucket_match(grain, start, end, {}),
                                          {"status": 1}))

    def buckets(self, grain: str, start: datetime, end: datetime,
                where: dict[str, str]) -> list[dict]:
        match = domain.bucket_match(grain, start, end, where)
        return list(self.db[BUCKETS].find(match,
                                          {"hist": 1, "status": 1, "rows": 1, "compute_s": 1,
                                           "start": 1, "department": 1, "timed": 1}))

    def department_days(self, start: datetime, end: datetime, region: str | None
                        ) -> list[dict]:
        return list(self.db[DEPARTMENT_DAYS].find(
            {"region": region or domain.ALL, "start": {"$gte": start, "$lt": end}}))

    def activity(self, limit: int) -> list[dict]:
        return list(self.db[ACTIVITY].find({}).sort([("at", DESCENDING)]).limit(limit))

    # The unfiltered model-performance report pages through a directory of every tenth
    # sort key (one small document, refreshed within a tick of a model change): each
    # page is then a bounded range of the sort_key index, never a sort of every model.

    def mark_models_changed(self) -> None:
        self.db[META].update_one({"_id": "model_pages"}, {"$set": {"dirty": True}},
                                 upsert=True)

    def refresh_model_directory(self, force: bool = False) -> None:
        if not force and self.db[META].find_one_and_update(
                {"_id": "model_pages", "dirty": True}, {"$set": {"dirty": False}}) is None:
            return
        keys = sorted(d["sort_key"] for d in self.db[MODELS].find(
            {"deleted": False}, {"sort_key": 1}) if d.get("sort_key") is not None)
        self.db[META].update_one(
            {"_id": "model_pages"},
            {"$set": {"keys": keys[::domain.DIRECTORY_STEP], "total": len(keys)}}, upsert=True)

    def _directory_page(self, page: int, per_page: int) -> tuple[list[dict], int] | None:
        directory = self.db[META].find_one({"_id": "model_pages"}) or {}
        if "keys" not in directory:
            return None
        total = int(directory.get("total") or 0)
        span = domain.directory_slice(directory["keys"], total, page, per_page)
        if span is None:
            return [], total
        low, high, offset = span
        bound = {"$gte": low, **({"$lt": high} if high is not None else {})}
        docs = sorted(self.db[MODELS].find({"sort_key": bound, "deleted": False}),
                      key=lambda d: d["sort_key"])
        return docs[offset:offset + per_page], total

    def model_page(self, where: dict[str, Any], page: int, per_page: int
                   ) -> tuple[list[dict], int]:
        if not where:
            found = self._directory_page(page, per_page)
            if found is not None:
                return found
        query = {"deleted": False, **where}
        cursor = (self.db[MODELS].find(query)
                  .sort([("name", ASCENDING), ("version_key", DESCENDING)])
                  .skip((page - 1) * per_page).limit(per_page))
        return list(cursor), self.db[MODELS].count_documents(query)

    def model_stats(self, model_ids: list[str], start: datetime | None,
                    end: datetime | None) -> dict[str, list[dict]]:
        if start is None:  # all time: one document per model, by its key
            query: dict[str, Any] = {"_id": {"$in": [f"{m}|all" for m in model_ids]}}
        else:
            query = {"model_id": {"$in": model_ids}, "day": {"$gte": start, "$lt": end}}
        out: dict[str, list[dict]] = {}
        for doc in self.db[MODEL_DAYS].find(query):
            out.setdefault(doc["model_id"], []).append(doc)
        return out

    def deployment_page(self, where: dict[str, Any], page: int, per_page: int
                        ) -> tuple[list[dict], int]:
        query = {"deleted": False, **where}
        cursor = (self.db[DEPLOYMENTS].find(query).sort([("name", ASCENDING), ("_id", 1)])
                  .skip((page - 1) * per_page).limit(per_page))
        return list(cursor), self.db[DEPLOYMENTS].count_documents(query)

    def objects(self, collection: str) -> list[dict]:
        """Every live object of a collection (tests and checks only)."""
        return list(self.db[collection].find({"deleted": {"$ne": True}}))
