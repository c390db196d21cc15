"""MongoDB access for the nameko services.

``Repository`` is the base of each service's repository DependencyProvider:
it opens one client in ``setup()``, closes it in ``stop()``, creates the
service's indexes once, and hands workers the repository object itself
(domain verbs only, never a raw collection to callers) behind a guard that
turns the driver's connection errors (``DB_UNAVAILABLE``) into the shared
``ServiceUnavailable`` (503 ``service_unavailable``). ``retry_db`` rides out a
short outage for writes that must not be lost (the runner's).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import pymongo
from bson import ObjectId
from bson.errors import InvalidId
from nameko.extensions import DependencyProvider

from shared.artifacts import ArtifactStore
from shared.errors import NotFound, ServiceUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")


#: How long an operation waits for the database before it is "unavailable" (ms). Short,
#: so an API read during an outage answers 503 quickly instead of 500 after 5 s.
DEFAULT_SELECTION_TIMEOUT_MS = 2000

#: pymongo's "the database cannot be reached" errors: AutoReconnect and its subclasses
#: (ServerSelectionTimeoutError, NetworkTimeout, NotPrimaryError), WaitQueueTimeoutError...
DB_UNAVAILABLE: tuple[type[BaseException], ...] = (pymongo.errors.ConnectionFailure,)


def connect(uri: str, selection_timeout_ms: float | None = None) -> pymongo.MongoClient:
    timeout = int(selection_timeout_ms or DEFAULT_SELECTION_TIMEOUT_MS)
    return pymongo.MongoClient(
        uri, serverSelectionTimeoutMS=timeout, connectTimeoutMS=max(timeout, 1000),
        tz_aware=True, uuidRepresentation="standard",
    )


def database_unavailable() -> ServiceUnavailable:
    """The one 503 for "the backing store is down" (never the driver's own words)."""
    return ServiceUnavailable("the database is not reachable right now: try again in a moment",
                              {"service": "database"})


def is_database_down(exc: BaseException) -> bool:
    """A driver connection error, or the ServiceUnavailable the guard made of one."""
    return isinstance(exc, DB_UNAVAILABLE) or (
        isinstance(exc, ServiceUnavailable) and exc.details.get("service") == "database")


def as_platform_error(exc: BaseException) -> BaseException:
    """``exc`` as the platform sees it: a database connection error → ServiceUnavailable."""
    return database_unavailable() if isinstance(exc, DB_UNAVAILABLE) else exc


def retry_db(operation: Callable[[], T], budget_s: float, what: str = "database write") -> T:
    """``operation()``, tried again with a growing pause (0.1 s → 2 s) while the database
    is unreachable, for at most ``budget_s`` seconds; then its error is raised.

    Only for operations that are safe to repeat (conditional updates, inserts with a
    unique key whose duplicate the caller treats as done).
    """
    deadline = time.monotonic() + max(0.0, budget_s)
    pause = 0.1
    attempt = 0
    while True:
        try:
            return operation()
        except (*DB_UNAVAILABLE, ServiceUnavailable) as exc:
            if not is_database_down(exc):
                raise
            attempt += 1
            if time.monotonic() + pause > deadline:
                raise
            if attempt == 1:
                log.warning("%s: database unreachable (%s); retrying for up to %.0f s",
                            what, exc.__class__.__name__, budget_s)
            time.sleep(pause)  # green under eventlet
            pause = min(pause * 2, 2.0)


class _Guarded:
    """A repository (or artifact store) whose database connection errors surface as
    ``ServiceUnavailable`` — the one place where that mapping happens for services."""

    __slots__ = ("_target",)

    def __init__(self, target: Any):
        object.__setattr__(self, "_target", target)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if isinstance(value, ArtifactStore):
            return _Guarded(value)
        if not callable(value) or name.startswith("__"):
            return value

        @functools.wraps(value)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return value(*args, **kwargs)
            except DB_UNAVAILABLE as exc:
                log.warning("database unreachable in %s: %r", name, exc)
                raise database_unavailable() from None

        return guarded

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._target, name, value)


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
        self.client = connect(config["MONGO_URI"], config.get("MONGO_SELECTION_TIMEOUT_MS"))
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
        # Workers see the repository through the guard: a database outage is a 503.
        return _Guarded(self)

    def ping(self) -> bool:
        self.client.admin.command("ping")
        return True
