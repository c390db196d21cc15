"""The admin service's repository: ``settings``, ``audit_log`` (+ ``audit_objects``, the
last state seen of each object, to summarise the next change), ``integrations``,
``webhook_deliveries`` and ``system_logs`` (services/admin/syslogs.py). ObjectIds and
datetimes are converted here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from services.admin.syslogs import INDEXES as SYSLOG_INDEXES
from services.admin.syslogs import SystemLogStore
from shared.errors import NotFound
from shared.mongo import Repository, isoformat, object_id, utcnow

SETTINGS, AUDIT, AUDIT_OBJECTS = "settings", "audit_log", "audit_objects"
INTEGRATIONS, DELIVERIES = "integrations", "webhook_deliveries"
SETTINGS_ID = "global"
EVENTS_KEPT = 50


def _iso(value: Any) -> Any:
    return isoformat(value) if isinstance(value, datetime) else value


def audit_to_api(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(doc["_id"]),
        "at": _iso(doc["at"]),
        "user": doc.get("user"),
        "action": doc.get("action"),
        "object_type": doc.get("object_type"),
        "object_id": doc.get("object_id"),
        "summary": doc.get("summary"),
        "request_id": doc.get("request_id"),
        "client": doc.get("client"),
        "events": [{**e, "at": _iso(e.get("at"))} for e in doc.get("events") or []],
    }


def integration_to_api(doc: dict[str, Any]) -> dict[str, Any]:
    out = {k: _iso(v) for k, v in doc.items() if k not in ("_id", "secret")}
    out["id"] = str(doc["_id"])
    return out


def delivery_to_api(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(doc["_id"]),
        "integration_id": doc["integration_id"],
        "webhook_id": doc["webhook_id"],
        "event_type": doc["event_type"],
        "status": doc["status"],
        "attempt_count": doc.get("attempt_count", 0),
        "created_at": _iso(doc.get("created_at")),
        "next_attempt_at": _iso(doc.get("next_attempt_at")),
        "delivered_at": _iso(doc.get("delivered_at")),
        "attempts": [{**a, "at": _iso(a.get("at"))} for a in doc.get("attempts") or []],
    }


class AdminRepository(SystemLogStore, Repository):
    """Domain verbs over the admin's collections (no raw collection leaves); the system
    logs' verbs come from ``SystemLogStore``."""

    indexes = {
        AUDIT: [
            ([("key", 1)], {"unique": True}),
            ([("at", -1)], {}),
            ([("user", 1), ("at", -1)], {}),
            ([("object_type", 1), ("at", -1)], {}),
            ([("object_ids", 1), ("at", -1)], {}),
            ([("request_id", 1), ("at", -1)], {}),
        ],
        AUDIT_OBJECTS: [([("object_type", 1), ("object_id", 1)], {"unique": True})],
        INTEGRATIONS: [([("active", 1), ("events", 1)], {}), ([("created_at", -1)], {})],
        DELIVERIES: [
            ([("source_key", 1), ("integration_id", 1)], {"unique": True}),
            ([("status", 1), ("next_attempt_at", 1)], {}),
            ([("integration_id", 1), ("created_at", -1)], {}),
        ],
        **SYSLOG_INDEXES,
    }

    # -- settings ---------------------------------------------------------------------

    def get_settings(self) -> tuple[dict[str, Any] | None, int]:
        doc = self.db[SETTINGS].find_one({"_id": SETTINGS_ID})
        if doc is None:
            return None, 0
        return doc["values"], int(doc.get("version", 0))

    def save_settings(self, values: dict[str, Any], version: int, username: str | None) -> int:
        """Store a new version; returns it. Concurrent writers: the last one wins, each
        with a version greater than the one it read."""
        new_version = version + 1
        self.db[SETTINGS].update_one(
            {"_id": SETTINGS_ID},
            {"$set": {"values": values, "version": new_version, "updated_at": utcnow(),
                      "updated_by": username}},
            upsert=True,
        )
        return new_version

    # -- audit trail ------------------------------------------------------------------

    def last_state(self, object_type: str, object_id: str) -> dict[str, Any] | None:
        doc = self.db[AUDIT_OBJECTS].find_one({"object_type": object_type,
                                               "object_id": object_id})
        return doc.get("state") if doc else None

    def remember_state(self, object_type: str, object_id: str, state: dict | None) -> None:
        query = {"object_type": object_type, "object_id": object_id}
        if state is None:
            self.db[AUDIT_OBJECTS].delete_one(query)
        else:
            self.db[AUDIT_OBJECTS].update_one(query, {"$set": {"state": state}}, upsert=True)

    def record(self, entry: dict[str, Any], event: dict[str, Any]) -> bool:
        """One audit entry per ``entry["key"]`` (one request): the first event makes it,
        later ones are appended; the most direct event (smallest ``depth``) gives the
        action, object and summary. A redelivered event (same ``event["id"]``) changes
        nothing. Returns True when a new entry was made."""
        doc = {**entry, "events": [event], "object_ids": [entry.get("object_id")]}
        try:
            self.db[AUDIT].insert_one(doc)
            return True
        except DuplicateKeyError:
            pass
        key = entry["key"]
        self.db[AUDIT].update_one(
            {"key": key, "events.id": {"$ne": event["id"]}},
            {"$push": {"events": {"$each": [event], "$slice": EVENTS_KEPT}},
             "$addToSet": {"object_ids": entry.get("object_id")}},
        )
        primary = {k: entry[k] for k in ("action", "object_type", "object_id", "summary",
                                         "depth")}
        self.db[AUDIT].update_one({"key": key, "depth": {"$gt": entry["depth"]}},
                                  {"$set": primary})
        for field in ("user", "client"):
            if entry.get(field):
                self.db[AUDIT].update_one({"key": key, field: None},
                                          {"$set": {field: entry[field]}})
        return False

    def audit_page(self, filters: dict[str, Any], page: int, per_page: int) -> dict[str, Any]:
        query: dict[str, Any] = {}
        if filters.get("user"):
            query["user"] = filters["user"]
        if filters.get("object_type"):
            query["object_type"] = filters["object_type"]
        if filters.get("request_id"):
            query["request_id"] = filters["request_id"]
        if filters.get("object_id"):
            query["object_ids"] = filters["object_id"]
        period = {}
        if filters.get("from"):
            period["$gte"] = filters["from"]
        if filters.get("to"):
            period["$lt"] = filters["to"]
        if period:
            query["at"] = period
        total = self.db[AUDIT].count_documents(query)
        cursor = (self.db[AUDIT].find(query).sort([("at", -1), ("_id", -1)])
                  .skip((page - 1) * per_page).limit(per_page))
        return {"items": [audit_to_api(d) for d in cursor], "total": total, "page": page,
                "per_page": per_page}

    # -- integrations -----------------------------------------------------------------

    def _integration(self, integration_id: str) -> dict[str, Any]:
        doc = self.db[INTEGRATIONS].find_one({"_id": object_id(integration_id, "integration")})
        if doc is None:
            raise NotFound(f"integration {integration_id!r} not found", {"id": integration_id})
        return doc

    def get_integration(self, integration_id: str) -> dict[str, Any]:
        return integration_to_api(self._integration(integration_id))

    def integration_secret(self, integration_id: str) -> str:
        return self._integration(integration_id)["secret"]

    def insert_integration(self, doc: dict[str, Any]) -> dict[str, Any]:
        doc["_id"] = ObjectId()
        self.db[INTEGRATIONS].insert_one(doc)
        return integration_to_api(doc)

    def update_integration(self, integration_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        doc = self.db[INTEGRATIONS].find_one_and_update(
            {"_id": object_id(integration_id, "integration")}, {"$set": changes},
            return_document=ReturnDocument.AFTER)
        if doc is None:
            raise NotFound(f"integration {integration_id!r} not found", {"id": integration_id})
        return integration_to_api(doc)

    def delete_integration(self, integration_id: str) -> dict[str, Any]:
        doc = self.db[INTEGRATIONS].find_one_and_delete(
            {"_id": object_id(integration_id, "integration")})
        if doc is None:
            raise NotFound(f"integration {integration_id!r} not found", {"id": integration_id})
        # Pending deliveries of a deleted integration are dropped; the log goes with it.
        self.db[DELIVERIES].delete_many({"integration_id": integration_id})
        return integration_to_api(doc)

    def list_integrations(self, page: int, per_page: int) -> dict[str, Any]:
        total = self.db[INTEGRATIONS].count_documents({})
        cursor = (self.db[INTEGRATIONS].find({}).sort([("created_at", -1)])
                  .skip((page - 1) * per_page).limit(per_page))
        return {"items": [integration_to_api(d) for d in cursor], "total": total, "page": page,
                "per_page": per_page}

    def subscribers(self, event_type: str) -> list[dict[str, Any]]:
        """Active integrations subscribed to ``event_type`` (with their secret)."""
        return list(self.db[INTEGRATIONS].find({"active": True, "events": event_type}))

    # -- deliveries -------------------------------------------------------------------

    def enqueue(self, doc: dict[str, Any]) -> dict[str, Any] | None:
        """A pending delivery; None when this event was already queued for it."""
        doc["_id"] = ObjectId()
        try:
            self.db[DELIVERIES].insert_one(doc)
        except DuplicateKeyError:
            return None
        return doc

    def claim_due(self, now: datetime, lease_until: datetime) -> dict[str, Any] | None:
        """Take one due delivery (pending, or sending with an expired lease)."""
        for query in ({"status": "pending", "next_attempt_at": {"$lte": now}},
                      {"status": "sending", "lease_until": {"$lte": now}}):
            doc = self.db[DELIVERIES].find_one_and_update(
                query, {"$set": {"status": "sending", "lease_until": lease_until}},
                sort=[("next_attempt_at", 1)], return_document=ReturnDocument.AFTER)
            if doc is not None:
                return doc
        return None

    def finish_attempt(self, delivery_id: ObjectId, attempt: dict[str, Any],
                       changes: dict[str, Any]) -> None:
        self.db[DELIVERIES].update_one(
            {"_id": delivery_id},
            {"$push": {"attempts": attempt}, "$set": changes, "$inc": {"attempt_count": 1}},
        )

    def deliveries(self, integration_id: str, page: int, per_page: int) -> dict[str, Any]:
        self._integration(integration_id)
        query = {"integration_id": integration_id}
        total = self.db[DELIVERIES].count_documents(query)
        cursor = (self.db[DELIVERIES].find(query).sort([("created_at", -1), ("_id", -1)])
                  .skip((page - 1) * per_page).limit(per_page))
        return {"items": [delivery_to_api(d) for d in cursor], "total": total, "page": page,
                "per_page": per_page}
