"""A sort order kept sorted by bisection equals the same entries sorted from scratch."""

import random
from datetime import UTC, datetime, timedelta

import pytest

from shared.listindex import sort_value
from shared.listorder import Order

SORTS = [
    (("created_at", -1), ("_id", -1)),
    (("name", 1), ("_id", 1)),
    (("department", 1), ("created_at", -1), ("_id", -1)),  # mixed directions
    (("duration_s", -1), ("name", 1), ("_id", 1)),
]


def _entry(rng, n):
    return {"_id": n, "name": rng.choice(["a", "b", "c", None, "é"]),
            "department": rng.choice(["Finance", "RH", None]),
            "created_at": datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=rng.randint(0, 50)),
            "duration_s": rng.choice([None, 1, 2.5, 3, 7])}


@pytest.mark.parametrize("sort", SORTS)
def test_changes_applied_in_place_give_the_order_sorted_from_scratch(sort):
    rng = random.Random(7)
    entries = {n: _entry(rng, n) for n in range(300)}
    order = first = Order.build(sort, entries.values(), 1, sort_value)
    before = list(first.entries)
    changes = []
    for step in range(200):
        doc_id = rng.randrange(320)
        old = entries.get(doc_id)
        new = None if rng.random() < 0.2 else _entry(rng, doc_id)
        if old is None and new is None:
            continue
        changes.append((old, new))
        if new is None:
            del entries[doc_id]
        else:
            entries[doc_id] = new
        if step % 50 == 49:
            order = order.changed(changes, step)
            changes = []
    order = order.changed(changes, 999)
    fresh = Order.build(sort, entries.values(), 999, sort_value)
    assert [e["_id"] for e in order.entries] == [e["_id"] for e in fresh.entries]
    assert order.keys == fresh.keys
    assert order.position == fresh.position
    assert first.entries == before  # the order other lists were reading is left as it was


def test_an_entry_the_order_never_held_is_reported():
    order = Order.build(SORTS[0], [], 1, sort_value)
    with pytest.raises(LookupError):
        order.changed([({"_id": 1, "created_at": None}, None)], 2)
