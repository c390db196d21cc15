"""The deployer's repository (collection ``deployments``) and the caller identity.

ObjectIds and datetimes are converted here, at the boundary: what leaves is
the API's deployment dict (``id`` string, ISO 8601 UTC timestamps).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import eventlet
from bson import ObjectId
from pymongo import ReturnDocument

from shared.errors import NotFound
from shared.listindex import ListIndex
from shared.mongo import Repository, isoformat, object_id

COLLECTION = "deployments"
HISTORY_KEPT = 500


def _iso_or_value(value: Any) -> Any:
    return isoformat(value) if isinstance(value, datetime) else value


def to_api(doc: dict[str, Any], history: bool = True) -> dict[str, Any]:
    """The deployment dict that leaves the service."""
    out = {k: v for k, v in doc.items() if k not in ("_id",)}
    out["id"] = str(doc["_id"])
    for key in ("memory_mb", "timeout_s"):  # deployments saved before resources existed
        out.setdefault(key, None)
    for key in ("created_at", "updated_at", "next_run_at"):
        out[key] = _iso_or_value(doc.get(key))
    if out.get("input"):
        out["input"] = {k: _iso_or_value(v) for k, v in out["input"].items()}
    if out.get("last_execution"):
        last = out["last_execution"]
        out["last_execution"] = {
            "id": last.get("id"),
            "status": last.get("status"),
            "time": _iso_or_value(last.get("time")),
        }
    if history:
        out["history"] = [
            {k: _iso_or_value(v) for k, v in h.items()} for h in doc.get("history") or []
        ]
    else:
        out.pop("history", None)
    return out


class Deployments(Repository):
    """Domain verbs over the ``deployments`` collection."""

    indexes = {
        COLLECTION: [
            ([("name", 1)], {}),
            ([("model_id", 1), ("status", 1)], {}),
            ([("status", 1), ("next_run_at", 1)], {}),
            ([("department", 1)], {}),
            ([("region", 1)], {}),
            ([("created_at", -1)], {}),
            ([("updated_at", -1)], {}),
        ]
    }

    #: What the list filters, sorts and searches on (services.deployer.domain).
    LIST_FIELDS = ("name", "description", "created_at", "updated_at", "status", "next_run_at",
                   "department", "region", "model_id")
    LIST_EXACT = ("department", "region", "status", "model_id")

    def setup(self) -> None:
        super().setup()
        self.list_index = ListIndex(COLLECTION, self.LIST_FIELDS, exact=self.LIST_EXACT,
                                    search=("name", "description"))
        self.list_index.ensure_indexes(self.db)

    def start(self) -> None:
        self.list_index.load_in_background(self.db, eventlet.spawn_n)

    @property
    def col(self):
        return self.db[COLLECTION]

    def _changed(self, oid: Any) -> None:
        """A write of a listed field: every replica's list index learns it."""
        self.list_index.record(self.db, oid)

    def reload_list_index(self) -> int:
        """After the collection was written from outside the deployer (a restore)."""
        self.list_index.load_in_background(self.db, lambda load: load())
        return self.list_index.size

    def _get_doc(self, deployment_id: str) -> dict[str, Any]:
        doc = self.col.find_one({"_id": object_id(deployment_id, "deployment")})
        if doc is None:
            raise NotFound(f"deployment {deployment_id!r} not found", {"id": deployment_id})
        return doc

    def get_raw(self, deployment_id: str) -> dict[str, Any]:
        """The stored document (datetimes as datetimes), for domain decisions."""
        doc = self._get_doc(deployment_id)
        doc["id"] = str(doc["_id"])
        return doc

    def get(self, deployment_id: str) -> dict[str, Any]:
        return to_api(self._get_doc(deployment_id))

    def insert(self, doc: dict[str, Any]) -> dict[str, Any]:
        result = self.col.insert_one(doc)
        doc["_id"] = result.inserted_id
        self._changed(doc["_id"])
        return to_api(doc)

    def update(
        self,
        deployment_id: str,
        changes: dict[str, Any],
        history: list[dict[str, Any]] | None = None,
        expect: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Set ``changes`` and append ``history``; None when ``expect`` did not match."""
        update: dict[str, Any] = {"$set": changes}
        if history:
            # Bounded: a deployment edited for years keeps its last HISTORY_KEPT changes.
            update["$push"] = {"history": {"$each": history, "$slice": -HISTORY_KEPT}}
        query = {"_id": object_id(deployment_id, "deployment"), **(expect or {})}
        doc = self.col.find_one_and_update(query, update, return_document=ReturnDocument.AFTER)
        if doc is None:
            if expect:
                return None
            raise NotFound(f"deployment {deployment_id!r} not found", {"id": deployment_id})
        self._changed(doc["_id"])
        return to_api(doc)

    def delete(self, deployment_id: str) -> dict[str, Any]:
        doc = self.col.find_one_and_delete({"_id": object_id(deployment_id, "deployment")})
        if doc is None:
            raise NotFound(f"deployment {deployment_id!r} not found", {"id": deployment_id})
        self._changed(doc["_id"])
        return to_api(doc)

    def set_input(
        self, deployment_id: str, input_: dict[str, Any], now: datetime
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Store the new input; returns ``(deployment, previous input or None)``."""
        before = self.col.find_one_and_update(
            {"_id": object_id(deployment_id, "deployment")},
            {"$set": {"input": input_, "updated_at": now}},
            return_document=ReturnDocument.BEFORE,
        )
        if before is None:
            raise NotFound(f"deployment {deployment_id!r} not found", {"id": deployment_id})
        self._changed(before["_id"])
        return self.get(deployment_id), before.get("input")

    def search(
        self, query: dict[str, Any], sort: list[tuple[str, int]], page: int, per_page: int
    ) -> dict[str, Any]:
        """``{items, total, page, per_page}``; ``q`` is an escaped case-insensitive regex."""
        mongo: dict[str, Any] = {}
        for key in ("department", "region", "status", "model_id"):
            if query.get(key):
                mongo[key] = query[key]
        if query.get("q"):
            pattern = {"$regex": re.escape(query["q"]), "$options": "i"}
            mongo["$or"] = [{"name": pattern}, {"description": pattern}]
        order = sort + [("_id", -1)]
        skip = (page - 1) * per_page
        found = self.list_index.page(self.db, mongo, order, skip, per_page, eventlet.spawn_n)
        if found is not None:  # the list index decided the page: read only its documents
            ids, total = found
            docs = {d["_id"]: d for d in self.col.find({"_id": {"$in": ids}}, {"history": 0})}
            items = [docs[i] for i in ids if i in docs]
        else:
            total = self.col.count_documents(mongo)
            items = list(self.col.find(mongo, {"history": 0}).sort(order).skip(skip)
                         .limit(per_page))
        return {
            "items": [to_api(d, history=False) for d in items],
            "total": total,
            "page": page,
            "per_page": per_page,
        }

    def export(self, after: str | None, limit: int) -> list[dict[str, Any]]:
        """Deployments in ``_id`` order from ``after`` (exclusive): keyset pages."""
        from shared.mongo import export_page

        query, limit = export_page(after, limit)
        return [to_api(d, history=False) for d in
                self.col.find(query, {"history": 0}).sort([("_id", 1)]).limit(limit)]

    def active_for_model(self, model_id: str) -> list[dict[str, Any]]:
        return [
            to_api(d, history=False)
            for d in self.col.find({"model_id": model_id, "status": "active"}, {"history": 0})
        ]

    def for_model(self, model_id: str) -> list[dict[str, Any]]:
        return [
            to_api(d, history=False) for d in self.col.find({"model_id": model_id}, {"history": 0})
        ]

    def active_schedules(self) -> list[dict[str, Any]]:
        return [
            to_api(d, history=False)
            for d in self.col.find({"status": "active", "schedule": {"$ne": None}}, {"history": 0})
        ]

    def sync_model(self, model_id: str, fields: dict[str, Any], now: datetime) -> list[str]:
        """Copy the model's fields into its deployments that differ; their ids."""
        differs = [{key: {"$ne": value}} for key, value in fields.items()]
        ids = [
            str(d["_id"]) for d in self.col.find({"model_id": model_id, "$or": differs}, {"_id": 1})
        ]
        if ids:
            self.col.update_many({"model_id": model_id}, {"$set": {**fields, "updated_at": now}})
            for changed in ids:
                self._changed(ObjectId(changed))
        return ids

    def set_next_run_at(self, deployment_id: str, next_run_at: datetime) -> bool:
        """Move the shown ``next_run_at`` forward only (events may come out of order)."""
        try:
            oid = object_id(deployment_id, "deployment")
        except NotFound:
            return False
        result = self.col.update_one(
            {
                "_id": oid,
                "status": "active",
                # null/missing or older. Not an $or: the embedded database scans the whole
                # collection for one, even next to an _id (~10 ms per scheduled fire at
                # 1,000 deployments, against ~1 ms for this).
                "next_run_at": {"$not": {"$gte": next_run_at}},
            },
            {"$set": {"next_run_at": next_run_at}},
        )
        if result.modified_count == 1:
            self._changed(oid)
        return result.modified_count == 1

    def set_last_execution(self, deployment_id: str, summary: dict[str, Any]) -> bool:
        """Keep ``last_execution`` on the newest execution; never step a status back."""
        try:
            oid = object_id(deployment_id, "deployment")
        except NotFound:
            return False
        newer = [
            {"last_execution": None},
            {"last_execution.created_at": {"$lt": summary["created_at"]}},
            {"last_execution.id": summary["id"], "last_execution.rank": {"$lte": summary["rank"]}},
        ]
        result = self.col.update_one(
            {"_id": oid, "$or": newer}, {"$set": {"last_execution": summary}}
        )
        return result.modified_count == 1


