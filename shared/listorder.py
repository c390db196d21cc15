"""One sort order of a list index's entries, kept sorted as entries change.

A list asks for its order (the default view, a sort a user picked) after every change
of the entries. Sorting 100,000 entries again costs a few hundred milliseconds on the
service's event loop; a change of a few entries is instead applied to the previous
order by bisection (a copy of the list, a removal and an insertion per changed entry:
a few milliseconds), so a busy service that writes all the time still answers its
lists quickly.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from itertools import count
from operator import itemgetter
from typing import Any

SortSpec = tuple[tuple[str, int], ...]


class _Descending:
    """A sort key compared the other way round (a descending field of a mixed sort)."""

    __slots__ = ("key",)

    def __init__(self, key: Any):
        self.key = key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Descending) and self.key == other.key

    def __lt__(self, other: _Descending) -> bool:
        return other.key < self.key


class Order:
    """Entries in ``sort`` order; ``keys``: the first sort field's values ascending."""

    def __init__(self, sort: SortSpec, entries: list[dict[str, Any]], keys: list[tuple],
                 version: int, sort_value: Callable[[Any], tuple]):
        self.sort, self.entries, self.keys, self.version = sort, entries, keys, version
        self._sort_value = sort_value
        self._position: dict[Any, int] | None = None

    @classmethod
    def build(cls, sort: SortSpec, entries: Iterable[dict[str, Any]], version: int,
              sort_value: Callable[[Any], tuple]) -> Order:
        """Sort every entry (stable passes, last field first)."""
        ordered = list(entries)
        for field, direction in reversed(sort):
            ordered.sort(key=lambda entry, f=field: sort_value(entry.get(f)),
                         reverse=direction < 0)
        first, direction = sort[0]
        keys = [sort_value(entry.get(first)) for entry in ordered]
        if direction < 0:
            keys.reverse()
        return cls(sort, ordered, keys, version, sort_value)

    @property
    def position(self) -> dict[Any, int]:
        """Each id's place in the order (built when first asked for)."""
        if self._position is None:
            self._position = dict(zip(map(itemgetter("_id"), self.entries), count()))
        return self._position

    def _key(self, entry: dict[str, Any]) -> tuple:
        """The entry's place as one key, ascending along the order."""
        return tuple(self._sort_value(entry.get(field)) if direction > 0
                     else _Descending(self._sort_value(entry.get(field)))
                     for field, direction in self.sort)

    def changed(self, changes: Iterable[tuple[dict | None, dict | None]],
                version: int) -> Order:
        """A new order: each ``(old, new)`` entry pair applied in turn (``None``: the
        entry did not exist / no longer exists). This order is left as it was, for the
        lists that are reading it."""
        entries, keys = list(self.entries), list(self.keys)
        first = self.sort[0][0]
        for old, new in changes:
            if old is not None:
                self._remove(entries, keys, old, first)
            if new is not None:
                bisect.insort(entries, new, key=self._key)
                bisect.insort(keys, self._sort_value(new.get(first)))
        return Order(self.sort, entries, keys, version, self._sort_value)

    def _remove(self, entries: list[dict], keys: list[tuple], old: dict, first: str) -> None:
        place = bisect.bisect_left(entries, self._key(old), key=self._key)
        while place < len(entries) and entries[place]["_id"] != old["_id"]:
            place += 1  # equal keys (a sort that does not end with _id)
        if place == len(entries):
            raise LookupError(f"{old['_id']!r} is not in the order")
        del entries[place]
        del keys[bisect.bisect_left(keys, self._sort_value(old.get(first)))]
