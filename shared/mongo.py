"""MongoDB access for the nameko services.

``Repository`` is the base of each service's repository DependencyProvider:
it opens one client in ``setup()``, closes it in ``stop()``, creates the
service's indexes once, and hands workers the repository object itself
(domain verbs only, never a raw collection to callers).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pymongo
from bson import ObjectId
from bson.errors import InvalidId
from nameko.extensions import DependencyProvider

from shared.artifacts import ArtifactStore
from shared.errors import NotFound


def connect(uri: str) -> pymongo.MongoClient:
    return pymongo.MongoClient(
        uri, serverSelectionTimeoutMS=5000, tz_aware=True, uuidRepresentation="standard"
    )


def utcnow() -> datetime:
    return datetime.now(UTC)


def isoformat(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with ``Z``, as API.md asks."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def object_id(value: Any, what: str = "document") -> ObjectId:
    """Parse an id from the outside; a malformed one is simply not found."""
    try:
        return ObjectId(str(value))
    except (InvalidId, TypeError):
        raise NotFound(f"{what} {value!r} not found", {"id": value}) from None


EXPORT_MAX = 2000


def export_page(after: Any, limit: Any) -> tuple[dict[str, Any], int]:
    """The query and limit of one keyset page over ``_id`` (``export_*`` RPCs): the
    documents after ``after`` (exclusive), at most ``limit`` (≤ 2,000)."""
    from shared.errors import validation_error

    try:
        limit = min(max(int(limit or 1000), 1), EXPORT_MAX)
    except (TypeError, ValueError):
        raise validation_error("limit", "must be a whole number") from None
    if not after:
        return {}, limit
    try:
        return {"_id": {"$gt": ObjectId(str(after))}}, limit
    except (InvalidId, TypeError):
        raise validation_error("after", "must be an id from the previous page") from None


class Repository(DependencyProvider):
    """Base for a service's repository. Subclasses set ``indexes`` and add verbs.

    ``indexes``: ``{collection: [(keys, options), ...]}``.
    """

    indexes: dict[str, list[tuple[list[tuple[str, int]], dict[str, Any]]]] = {}

    def setup(self) -> None:
        config = self.container.config
        self.client = connect(config["MONGO_URI"])
        self.db = self.client[config["MONGO_DB"]]
        self.artifacts = ArtifactStore(self.db)
        self.ensure_indexes()

    def ensure_indexes(self) -> None:
        for collection, specs in self.indexes.items():
            for keys, options in specs:
                self.db[collection].create_index(keys, **options)

    def stop(self) -> None:
        self.client.close()

    def kill(self) -> None:
        self.client.close()

    def get_dependency(self, worker_ctx):
        return self

    def ping(self) -> bool:
        self.client.admin.command("ping")
        return True
