"""System logs (« Journaux système », guide 8.2): the records every service ships
(``shared.logship``) stored in ``system_logs`` by the admin service, which owns them.

* ``normalize`` turns a shipped batch into documents (each with ``expire_at``: the TTL
  index removes it then; retention = the setting ``log_retention_days`` when set, else
  ``SYSLOG_RETENTION_DAYS``, 14 days).
* ``LogQuery`` / ``mongo_filter`` are the filters of ``GET /admin/logs``: service,
  level (that level and above), q (text, case-insensitive), request_id, from, to, and
  ``after`` (the live follow's cursor: only records stored after that one).
* ``SystemLogStore`` is the repository part (mixed into ``AdminRepository``).
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from marshmallow import RAISE, Schema, fields, validate
from pymongo.errors import BulkWriteError

from shared.errors import ValidationError
from shared.mongo import isoformat

SYSTEM_LOGS = "system_logs"
DEFAULT_RETENTION_DAYS = 14
LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
MAX_BATCH = 1000
MAX_MESSAGE_CHARS = 8000

INDEXES = {
    SYSTEM_LOGS: [
        ([("expire_at", 1)], {"expireAfterSeconds": 0}),
        ([("at", -1), ("_id", -1)], {}),
        ([("service", 1), ("at", -1)], {}),
        ([("request_id", 1), ("at", -1)], {}),
        ([("levelno", 1), ("at", -1)], {}),
    ],
}


def _text(value: Any, limit: int) -> str | None:
    if value is None:
        return None
    return str(value)[:limit]


def normalize(body: Any, now: datetime, retention_days: int) -> list[dict[str, Any]]:
    """The documents of one shipped batch ``{"records": [...]}``; a malformed record
    is left out (a sender never makes the store fail)."""
    records = body.get("records") if isinstance(body, dict) else None
    if not isinstance(records, list):
        return []
    keep = timedelta(days=max(1, int(retention_days or DEFAULT_RETENTION_DAYS)))
    docs = []
    for record in records[:MAX_BATCH]:
        if not isinstance(record, dict):
            continue
        try:
            at = datetime.fromtimestamp(float(record["at"]), UTC)
        except (KeyError, TypeError, ValueError, OverflowError, OSError):
            continue
        level = str(record.get("level") or "INFO").upper()[:16]
        try:
            levelno = int(record.get("levelno") or LEVELS.get(level, 20))
        except (TypeError, ValueError):
            levelno = LEVELS.get(level, 20)
        message = _text(record.get("message"), MAX_MESSAGE_CHARS) or ""
        docs.append({
            "_id": ObjectId(),
            "at": at,
            "service": _text(record.get("service"), 64) or "unknown",
            "level": level,
            "levelno": levelno,
            "logger": _text(record.get("logger"), 200),
            "message": message,
            "request_id": _text(record.get("request_id"), 200) or None,
            "host": _text(record.get("host"), 200),
            "pid": record.get("pid") if isinstance(record.get("pid"), int) else None,
            "stored_at": now,
            "expire_at": max(at, now - keep) + keep,
        })
    return docs


def retention_days(settings: dict[str, Any], default: int = DEFAULT_RETENTION_DAYS) -> int:
    try:
        days = int(settings.get("log_retention_days") or 0)
    except (TypeError, ValueError):
        days = 0
    return days if days > 0 else default


class LogQuery(Schema):
    class Meta:
        unknown = RAISE

    service = fields.String(validate=validate.Length(min=1, max=64))
    level = fields.String(validate=validate.OneOf(
        [*LEVELS, *(name.lower() for name in LEVELS)],
        error="must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL"))
    q = fields.String(validate=validate.Length(min=1, max=200))
    request_id = fields.String(validate=validate.Length(min=1, max=200))
    from_ = fields.AwareDateTime(data_key="from")
    to = fields.AwareDateTime()
    after = fields.String(validate=validate.Length(min=1, max=64))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


def mongo_filter(query: dict[str, Any]) -> dict[str, Any]:
    """The MongoDB filter of a loaded ``LogQuery``. Raises ValidationError (``after``
    that is not a cursor of this API, ``from`` after ``to``)."""
    out: dict[str, Any] = {}
    if query.get("service"):
        out["service"] = query["service"]
    if query.get("level"):
        out["levelno"] = {"$gte": LEVELS[query["level"].upper()]}
    if query.get("q"):
        # No text index in SecantusDB: a case-insensitive regex of the literal words.
        out["message"] = {"$regex": re.escape(query["q"]), "$options": "i"}
    if query.get("request_id"):
        out["request_id"] = query["request_id"]
    period: dict[str, Any] = {}
    if query.get("from_"):
        period["$gte"] = query["from_"]
    if query.get("to"):
        period["$lt"] = query["to"]
    if period.get("$gte") and period.get("$lt") and period["$gte"] >= period["$lt"]:
        raise ValidationError("from must be before to", {"from": ["must be before to"]})
    if period:
        out["at"] = period
    if query.get("after"):
        try:
            out["_id"] = {"$gt": ObjectId(query["after"])}
        except (InvalidId, TypeError):
            raise ValidationError("after: not a cursor of this list",
                                  {"after": ["must be the cursor of a previous answer"]}) from None
    return out


def log_to_api(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(doc["_id"]),
        "at": isoformat(doc["at"]),
        "service": doc.get("service"),
        "level": doc.get("level"),
        "message": doc.get("message"),
        "request_id": doc.get("request_id"),
        "logger": doc.get("logger"),
        "host": doc.get("host"),
        "pid": doc.get("pid"),
    }


class SystemLogStore:
    """The ``system_logs`` verbs of the admin repository (``self.db`` is its database)."""

    db: Any

    def store_logs(self, docs: list[dict[str, Any]]) -> int:
        """Insert a batch; safe to repeat (the ids are the documents' own: a retried
        insert after an outage skips the ones already in)."""
        if not docs:
            return 0
        try:
            return len(self.db[SYSTEM_LOGS].insert_many(docs, ordered=False).inserted_ids)
        except BulkWriteError as exc:
            duplicates = [e for e in exc.details.get("writeErrors", []) if e.get("code") == 11000]
            if len(duplicates) != len(exc.details.get("writeErrors", [])):
                raise
            return exc.details.get("nInserted", 0)

    def logs_page(self, query: dict[str, Any]) -> dict[str, Any]:
        """Newest first. With ``after``: the (at most ``per_page``) records stored next
        after that cursor, so a follower that polls again gets the rest, none skipped.
        ``cursor`` is what to send as ``after`` next time."""
        where = mongo_filter(query)
        page, per_page = query["page"], query["per_page"]
        collection = self.db[SYSTEM_LOGS]
        if query.get("after"):
            docs = list(collection.find(where).sort([("_id", 1)]).limit(per_page))
            cursor = str(docs[-1]["_id"]) if docs else query["after"]
            docs.sort(key=lambda d: (d["at"], d["_id"]), reverse=True)
            return {"items": [log_to_api(d) for d in docs], "total": len(docs), "page": 1,
                    "per_page": per_page, "cursor": cursor}
        total = collection.count_documents(where)
        docs = list(collection.find(where).sort([("at", -1), ("_id", -1)])
                    .skip((page - 1) * per_page).limit(per_page))
        newest = collection.find_one(where, sort=[("_id", -1)], projection={"_id": 1})
        return {"items": [log_to_api(d) for d in docs], "total": total, "page": page,
                "per_page": per_page, "cursor": str(newest["_id"]) if newest else None}


def lost(count: int, why: str) -> None:
    logging.getLogger(__name__).warning("system logs: %d record(s) not stored: %s", count, why)
