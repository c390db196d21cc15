"""GET /executions filters of the reports (contract C5): department, region, from, to."""

from datetime import UTC, datetime

import pytest

from services.runner import domain
from shared.errors import ValidationError
from shared.mongo import export_page


def test_department_region_and_period_become_indexed_conditions():
    filters, _, _, _ = domain.list_query({
        "department": "Finance", "region": "Asie", "from": "2026-03-01T00:00:00Z",
        "to": "2026-03-02T00:00:00+01:00"})
    assert filters["department"] == "Finance" and filters["region"] == "Asie"
    assert filters["created_at"] == {
        "$gte": datetime(2026, 3, 1, tzinfo=UTC),
        "$lt": datetime(2026, 3, 1, 23, tzinfo=UTC)}


def test_a_naive_time_is_utc_and_one_bound_is_enough():
    filters, _, _, _ = domain.list_query({"from": "2026-03-01T10:00:00"})
    assert filters["created_at"] == {"$gte": datetime(2026, 3, 1, 10, tzinfo=UTC)}


@pytest.mark.parametrize("query, field", [
    ({"from": "yesterday"}, "from"),
    ({"to": "2026-13-01"}, "to"),
    ({"from": "2026-03-02T00:00:00Z", "to": "2026-03-01T00:00:00Z"}, "to"),
])
def test_a_bad_period_names_the_parameter(query, field):
    with pytest.raises(ValidationError) as caught:
        domain.list_query(query)
    assert field in caught.value.details


def test_export_pages_are_keyset_pages():
    query, limit = export_page(None, 5000)
    assert query == {} and limit == 2000
    query, _ = export_page("65f000000000000000000000", 10)
    assert str(query["_id"]["$gt"]) == "65f000000000000000000000"
    with pytest.raises(ValidationError) as caught:
        export_page("not-an-id", 10)
    assert "after" in caught.value.details


def test_an_export_cursor_round_trips_and_a_bad_one_is_named():
    from bson import ObjectId

    cursor = {"t": datetime(2026, 3, 1, 10, tzinfo=UTC), "id": ObjectId(), "w": 900.0}
    assert domain.parse_export_cursor(domain.export_cursor(cursor)) == cursor
    assert domain.export_cursor(None) is None
    with pytest.raises(ValidationError) as caught:
        domain.parse_export_cursor("nonsense")
    assert "after" in caught.value.details
