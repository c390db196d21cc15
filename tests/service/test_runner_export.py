"""``export_executions`` against the real embedded database: every execution exactly
once, in (created_at, id) order, through dense bursts (many in one millisecond),
sparse gaps of months, and pages that end inside a burst."""

from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId

from services.runner import domain
from services.runner.dependencies import EXECUTIONS, ExecutionRepository

pytestmark = pytest.mark.service


def test_the_export_returns_every_execution_once_in_order(mongo_db):
    repo = ExecutionRepository()
    repo.db = mongo_db
    base = datetime(2025, 1, 1, tzinfo=UTC)
    moments = ([base] * 250  # a burst: 250 in the same instant
               + [base + timedelta(seconds=s) for s in range(0, 900, 3)]
               + [base + timedelta(days=200, minutes=m) for m in range(120)]
               + [datetime.now(UTC) - timedelta(seconds=2)])
    docs = [{"_id": ObjectId(), "status": "succeeded", "created_at": m} for m in moments]
    mongo_db[EXECUTIONS].insert_many(docs)
    seen, cursor, calls = [], None, 0
    while True:
        page, cursor = repo.export(domain.parse_export_cursor(domain.export_cursor(cursor)),
                                   97)
        seen += page
        calls += 1
        assert len(page) <= 97
        if cursor is None:
            break
        assert calls < 100
    expected = sorted(docs, key=lambda d: (d["created_at"], d["_id"]))
    assert [d["_id"] for d in seen] == [d["_id"] for d in expected]
