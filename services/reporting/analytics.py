"""The analytics copy that Superset reads (contract C4): three SQL tables, one row per
model, deployment and execution, kept by the reporting service.

SQLAlchemy Core, so the same code writes the default SQLite file
(``ANALYTICS_DB_URL=sqlite:///${VAR_DIR}/analytics/analytics.db``) and PostgreSQL
(docker-compose). Every write is one short statement (an upsert or a delete by
primary key) run through ``eventlet.tpool`` so the database driver never blocks
the service's eventlet hub; a rebuild replaces the three tables in one transaction
(readers see the old rows until it commits).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from eventlet import tpool
from nameko.extensions import DependencyProvider

from shared.config import analytics_db_url

log = logging.getLogger(__name__)

metadata = sa.MetaData()

MODELS = sa.Table(
    "models", metadata,
    sa.Column("id", sa.Text, primary_key=True),
    *(sa.Column(name, sa.Text) for name in ("name", "version", "type", "framework",
                                              "department", "region", "status",
                                              "created_by")),
    sa.Column("created_at", sa.DateTime), sa.Column("updated_at", sa.DateTime),
)
DEPLOYMENTS = sa.Table(
    "deployments", metadata,
    sa.Column("id", sa.Text, primary_key=True),
    *(sa.Column(name, sa.Text) for name in ("name", "model_id", "model_name", "status",
                                              "department", "region", "schedule",
                                              "timezone")),
    sa.Column("created_at", sa.DateTime), sa.Column("next_run_at", sa.DateTime),
)
EXECUTIONS = sa.Table(
    "executions", metadata,
    sa.Column("id", sa.Text, primary_key=True),
    *(sa.Column(name, sa.Text) for name in ("status", "trigger", "model_id", "model_name",
                                              "model_version", "deployment_id", "department",
                                              "region", "created_by")),
    sa.Column("created_at", sa.DateTime), sa.Column("started_at", sa.DateTime),
    sa.Column("finished_at", sa.DateTime), sa.Column("duration_s", sa.Float),
    sa.Column("rows", sa.Integer),
    sa.Index("ix_executions_created_at", "created_at"),
)
TABLES = {"model": MODELS, "deployment": DEPLOYMENTS, "execution": EXECUTIONS}


def _time(value: Any) -> datetime | None:
    """UTC, naive (SQL ``DATETIME`` has no zone; every timestamp here is UTC)."""
    if value in (None, ""):
        return None
    if not isinstance(value, datetime):
        try:
            value = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def row_of(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    """The row of one model / deployment / execution dict (as the services return them)."""
    table = TABLES[kind]
    row: dict[str, Any] = {}
    for column in table.columns:
        name = column.name
        if kind == "deployment" and name == "model_name":
            value = (obj.get("model") or {}).get("name") or obj.get("model_name")
        elif kind == "execution" and name == "rows":
            value = (obj.get("result") or {}).get("rows")
            if value is None:
                value = obj.get("rows")
        else:
            value = obj.get(name)
        if isinstance(column.type, sa.DateTime):
            value = _time(value)
        elif isinstance(column.type, sa.Float):
            value = float(value) if isinstance(value, int | float) else None
        elif isinstance(column.type, sa.Integer):
            value = int(value) if isinstance(value, int | float) else None
        elif value is not None:
            value = str(value)
        row[name] = value
    return row


class AnalyticsStore:
    """The three tables on one SQLAlchemy engine."""

    def __init__(self, url: str):
        if url.startswith("sqlite:///"):
            os.makedirs(os.path.dirname(os.path.abspath(url[len("sqlite:///"):])),
                        exist_ok=True)
        self.url = url
        self.engine = sa.create_engine(url, pool_pre_ping=True)
        if self.engine.dialect.name == "sqlite":
            @sa.event.listens_for(self.engine, "connect")
            def _wal(dbapi_connection, _record):  # readers (Superset) never block writers
                dbapi_connection.execute("PRAGMA journal_mode=WAL")
                dbapi_connection.execute("PRAGMA busy_timeout=5000")
        metadata.create_all(self.engine)

    def _upsert_statement(self, table: sa.Table, rows: list[dict[str, Any]]):
        dialect = self.engine.dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        elif dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:  # pragma: no cover - the two databases this ships with
            raise RuntimeError(f"analytics database {dialect} is not supported")
        statement = insert(table).values(rows)
        updates = {c.name: statement.excluded[c.name] for c in table.columns if c.name != "id"}
        return statement.on_conflict_do_update(index_elements=["id"], set_=updates)

    def _upsert(self, kind: str, obj: dict[str, Any]) -> None:
        table = TABLES[kind]
        with self.engine.begin() as connection:
            connection.execute(self._upsert_statement(table, [row_of(kind, obj)]))

    def _delete(self, kind: str, object_id: str) -> None:
        table = TABLES[kind]
        with self.engine.begin() as connection:
            connection.execute(table.delete().where(table.c.id == str(object_id)))

    def _replace(self, everything: dict[str, Iterable[dict[str, Any]]]) -> None:
        with self.engine.begin() as connection:
            for kind, table in TABLES.items():
                connection.execute(table.delete())
                rows = [row_of(kind, obj) for obj in everything.get(kind, ())]
                for start in range(0, len(rows), 2000):
                    connection.execute(table.insert(), rows[start:start + 2000])

    # Off the hub: the drivers are blocking C code.
    def upsert(self, kind: str, obj: dict[str, Any]) -> None:
        tpool.execute(self._upsert, kind, obj)

    def delete(self, kind: str, object_id: str) -> None:
        tpool.execute(self._delete, kind, object_id)

    def replace(self, everything: dict[str, Iterable[dict[str, Any]]]) -> None:
        tpool.execute(self._replace, everything)

    def rows(self, kind: str) -> list[dict[str, Any]]:
        """Every row of one table (tests and checks)."""
        table = TABLES[kind]
        with self.engine.connect() as connection:
            return [dict(r._mapping) for r in connection.execute(sa.select(table))]

    def ping(self) -> bool:
        with self.engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        return True

    def close(self) -> None:
        self.engine.dispose()


class Analytics(DependencyProvider):
    """The analytics copy for the workers (``ANALYTICS_DB_URL``)."""

    def setup(self) -> None:
        config = self.container.config
        # The one rule Superset's side reads too (shared.config.analytics_db_url).
        url = config.get("ANALYTICS_DB_URL") or analytics_db_url()
        self.store = AnalyticsStore(url)

    def stop(self) -> None:
        self.store.close()

    kill = stop

    def ping(self) -> bool:
        return tpool.execute(self.store.ping)

    def get_dependency(self, worker_ctx) -> AnalyticsStore:
        return self.store
