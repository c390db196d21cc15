"""An in-process list index: the few fields a list filters and sorts on, for every
document of one collection, so that a page of a list is decided in memory and only
the page's documents are read (``_id`` lookups), and its total costs nothing.

SecantusDB's index walks fetch every document they pass (a sorted page at 10,000
models read 10,000 documents, a count as many); a real MongoDB is faster but the
shape is the same: ``count_documents`` of a broad filter reads every match. The
owning service keeps this index exact across its replicas with a change log in
its own database:

* each write takes the next number of ``counters.<name>`` and inserts a row
  ``{seq, doc_id, at}`` in ``<name>_changes`` (:meth:`ListIndex.record`);
* each list reads that counter (one ``_id`` lookup); when another replica wrote,
  it reads the change rows after its own number (a range of the unique ``seq``
  index) and the changed documents (``_id`` lookups), then answers;
* a hole in the numbers (a writer between its two steps) is waited for a moment,
  then the index reloads the whole collection — in the background, the lists
  answering from the database meanwhile, as they do while the first load runs.

Queries the index cannot answer exactly (an operator it does not know) are
answered by the database, so it only ever changes speed, never results.
"""

from __future__ import annotations

import bisect
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pymongo
from bson import ObjectId

from shared.listorder import Order

log = logging.getLogger(__name__)

#: How long a hole in the change numbers is waited for before a full reload.
GAP_GRACE_S = 5.0
#: Change rows older than this expire (a replica further behind reloads).
CHANGES_TTL = timedelta(days=1)
COUNTERS = "counters"
#: Changes kept for updating cached orders in place; an order further behind is re-sorted.
JOURNAL_MAX = 4096


class Unsupported(Exception):
    """A filter the index does not evaluate: the database answers instead."""


# -- Mongo's comparison order, for the values lists sort on ---------------------------

_RANK = {type(None): 0, int: 1, float: 1, str: 2, ObjectId: 3, bool: 4, datetime: 5}


def sort_value(value: Any) -> tuple[int, Any]:
    """BSON order of a scalar: null < numbers < strings < ObjectId < bool < dates."""
    rank = _RANK.get(type(value))
    if rank is None:
        raise Unsupported(f"cannot order a {type(value).__name__}")
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return rank, value


def _all(tests: list[Callable[[dict[str, Any]], bool]]) -> Callable[[dict[str, Any]], bool]:
    if len(tests) == 1:
        return tests[0]

    def every(doc: dict[str, Any]) -> bool:
        for test in tests:
            if not test(doc):
                return False
        return True
    return every


def _any(tests: list[Callable[[dict[str, Any]], bool]]) -> Callable[[dict[str, Any]], bool]:
    def some(doc: dict[str, Any]) -> bool:
        for test in tests:
            if test(doc):
                return True
        return False
    return some


def _matcher(filter_: dict[str, Any]) -> Callable[[dict[str, Any]], bool]:
    """A predicate for the subset of Mongo filters the lists build; else Unsupported."""
    tests: list[Callable[[dict[str, Any]], bool]] = []
    for key, condition in filter_.items():
        if key == "$or":
            tests.append(_any([_matcher(branch) for branch in condition]))
        elif key.startswith("$"):
            raise Unsupported(key)
        elif isinstance(condition, dict):
            tests.append(_operator(key, condition))
        else:
            tests.append(lambda doc, k=key, v=condition: _equals(doc.get(k), v))
    return _all(tests) if tests else (lambda doc: True)


def _equals(stored: Any, wanted: Any) -> bool:
    if isinstance(stored, list):
        return wanted in stored or stored == wanted
    return stored == wanted


def _operator(key: str, condition: dict[str, Any]) -> Callable[[dict[str, Any]], bool]:
    if set(condition) == {"$all"}:
        wanted = set(condition["$all"])
        return lambda doc: bool(wanted) and wanted <= set(doc.get(key) or ())
    if ("$regex" in condition and set(condition) <= {"$regex", "$options"}
            and set(condition.get("$options") or "") <= {"i"}):
        flags = re.IGNORECASE if "i" in (condition.get("$options") or "") else 0
        search = re.compile(condition["$regex"], flags).search

        def matches(doc: dict[str, Any]) -> bool:
            value = doc.get(key)
            return isinstance(value, str) and search(value) is not None
        return matches
    if set(condition) == {"$in"}:
        wanted_in = list(condition["$in"])
        return lambda doc: any(_equals(doc.get(key), v) for v in wanted_in)
    if condition and set(condition) <= set(_RANGES):
        bounds = [(_RANGES[op], sort_value(bound)) for op, bound in condition.items()]

        def in_range(doc: dict[str, Any]) -> bool:
            value = doc.get(key)
            if isinstance(value, list):
                raise Unsupported(f"{key}: a range over an array")
            ranked = sort_value(value)
            # Mongo compares within one type bracket only: a date never matches a number.
            return all(ranked[0] == bound[0] and test(ranked[1], bound[1])
                       for test, bound in bounds)
        return in_range
    raise Unsupported(f"{key}: {sorted(condition)}")


_RANGES: dict[str, Callable[[Any, Any], bool]] = {
    "$gt": lambda a, b: a > b, "$gte": lambda a, b: a >= b,
    "$lt": lambda a, b: a < b, "$lte": lambda a, b: a <= b,
}


def _slice(keys: list[tuple], condition: dict[str, Any], direction: int) -> tuple[int, int]:
    """The ``[lo, hi)`` of the order whose first-field values meet the range
    ``condition``; ``keys`` are those values ascending. Mongo compares within one type
    bracket only, so the slice never leaves the bounds' bracket."""
    bounds = [(op, sort_value(value)) for op, value in condition.items()]
    ranks = {bound[0] for _op, bound in bounds}
    if len(ranks) != 1:
        return 0, 0
    (rank,) = ranks
    a, b = bisect.bisect_left(keys, (rank,)), bisect.bisect_left(keys, (rank + 1,))
    for op, bound in bounds:
        if op == "$gte":
            a = max(a, bisect.bisect_left(keys, bound))
        elif op == "$gt":
            a = max(a, bisect.bisect_right(keys, bound))
        elif op == "$lt":
            b = min(b, bisect.bisect_left(keys, bound))
        else:  # $lte
            b = min(b, bisect.bisect_right(keys, bound))
    b = max(a, b)
    if direction < 0:
        return len(keys) - b, len(keys) - a
    return a, b


_SPECIAL = set(".^$*+?{}[]|()")


def _is_literal(pattern: str) -> bool:
    """A regex of literal characters only (``re.escape``'s output): no class, no dot."""
    escaped = False
    for char in pattern:
        if escaped:
            if char.isalnum() or char == "\x00":  # \d, \w, \b...: not a literal
                return False
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in _SPECIAL or char == "\x00":
            return False
    return not escaped


def _scalars(value: Any) -> list[Any]:
    """The values a document is found under for an equality on its field."""
    values = value if isinstance(value, list) else [value]
    return [v for v in values if isinstance(v, str | int | float | bool) or v is None]


class ListIndex:
    """The list fields of one collection's documents; see the module docstring."""

    def __init__(self, name: str, fields: Iterable[str], *, exact: Iterable[str] = (),
                 search: Iterable[str] = (), gap_grace_s: float = GAP_GRACE_S):
        """``fields``: what lists filter and sort on; ``exact``: those of them filtered by
        equality (or ``$all``), kept as value → ids postings so a filter reads no entry
        that does not match; ``search``: the fields a text search looks in with one
        pattern (``{"$or": [{f: {"$regex": p}} for f in search]}``), joined per entry so
        a literal pattern is one regex search per entry."""
        self.name = name
        self.search = tuple(search)
        self.fields = tuple(dict.fromkeys(("_id", *fields, *exact, *self.search)))
        self.exact = tuple(exact)
        self._texts: dict[Any, str] = {}
        self._postings: dict[str, dict[Any, set]] = {}
        self.gap_grace_s = gap_grace_s
        self._entries: dict[Any, dict[str, Any]] | None = None  # None: not loaded
        self._seq = 0
        self._gap_since: float | None = None
        self._lock = threading.Lock()
        self._loading = False
        self._version = 0  # bumped by every change of the entries
        #: sort spec -> that order at some version: the default view, and the other orders
        #: users pick, are sorted once, then kept sorted by applying the journal's changes.
        self._orders: dict[tuple, Order] = {}
        #: (version after the change, old entry, new entry) since ``_journal_from``.
        self._journal: list[tuple[int, dict | None, dict | None]] = []
        self._journal_from = 0

    # -- the change log ---------------------------------------------------------------

    def ensure_indexes(self, db: Any) -> None:
        changes = db[f"{self.name}_changes"]
        changes.create_index([("seq", 1)], unique=True)
        changes.create_index([("at", 1)], expireAfterSeconds=int(CHANGES_TTL.total_seconds()))

    def record(self, db: Any, doc_id: Any) -> None:
        """After a write of ``doc_id`` (created, changed or deleted): log it. Every
        replica (this one too) applies it before its next list answers."""
        counter = None
        for _ in range(3):
            counter = db[COUNTERS].find_one_and_update(
                {"_id": self.name}, {"$inc": {"seq": 1}}, upsert=True,
                return_document=pymongo.ReturnDocument.AFTER)
            if counter is not None:
                break
            # The embedded database may answer nothing (its first upsert, a conflict):
            # take another number (a hole in the log reloads the index, a shared number
            # would lose a change).
        if counter is None:
            raise RuntimeError(f"no change number for {self.name}")
        db[f"{self.name}_changes"].insert_one(
            {"seq": counter["seq"], "doc_id": doc_id, "at": datetime.now(UTC)})

    # -- loading and catching up --------------------------------------------------------

    @property
    def loaded(self) -> bool:
        return self._entries is not None

    @property
    def size(self) -> int:
        return len(self._entries or ())

    def load(self, db: Any) -> None:
        """Read every document's list fields (at start, after a hole or a restore)."""
        started = time.monotonic()
        counter = db[COUNTERS].find_one({"_id": self.name}) or {}
        seq = int(counter.get("seq") or 0)
        projection = {field: 1 for field in self.fields}
        entries: dict[Any, dict[str, Any]] = {}
        for n, doc in enumerate(db[self.name].find({}, projection, batch_size=1000), 1):
            entries[doc["_id"]] = doc
            if n % 1000 == 0:
                time.sleep(0)  # green under eventlet: the service keeps answering meanwhile
        postings: dict[str, dict[Any, set]] = {field: {} for field in self.exact}
        texts: dict[Any, str] = {}
        for entry in entries.values():
            self._post(postings, entry, add=True)
            texts[entry["_id"]] = self._text(entry)
        with self._lock:
            self._entries, self._seq, self._gap_since = entries, seq, None
            self._postings, self._texts = postings, texts
            self._version += 1
            self._journal, self._journal_from = [], self._version
        log.info("list index %s: %d documents loaded in %.2f s", self.name, len(entries),
                 time.monotonic() - started)
        self._catch_up(db)  # the writes made while it loaded

    def load_in_background(self, db: Any, spawn: Callable[[Callable[[], None]], Any]) -> None:
        with self._lock:
            if self._loading:
                return
            self._loading = True
            self._entries = None  # lists answer from the database until it is loaded

        def run() -> None:
            try:
                self.load(db)
            except Exception:  # noqa: BLE001 - lists keep answering from the database
                log.exception("list index %s: loading failed", self.name)
            finally:
                self._loading = False

        spawn(run)

    def _apply_docs(self, db: Any, doc_ids: list[Any]) -> None:
        if self._entries is None or not doc_ids:
            return
        projection = {field: 1 for field in self.fields}
        found = {doc["_id"]: doc for doc in db[self.name].find({"_id": {"$in": doc_ids}},
                                                                projection)}
        with self._lock:
            if self._entries is None:
                return
            for doc_id in doc_ids:
                old, new = self._entries.get(doc_id), found.get(doc_id)
                if old == new:
                    continue
                if old is not None:
                    self._post(self._postings, old, add=False)
                    del self._entries[doc_id]
                    self._texts.pop(doc_id, None)
                if new is not None:
                    self._post(self._postings, new, add=True)
                    self._entries[doc_id] = new
                    self._texts[doc_id] = self._text(new)
                self._version += 1
                self._journal.append((self._version, old, new))
            if len(self._journal) > JOURNAL_MAX:
                dropped = len(self._journal) - JOURNAL_MAX // 2
                self._journal_from = self._journal[dropped - 1][0]
                del self._journal[:dropped]

    def _post(self, postings: dict[str, dict[Any, set]], entry: dict[str, Any],
              add: bool) -> None:
        for field in self.exact:
            for value in _scalars(entry.get(field)):
                ids = postings[field].setdefault(value, set())
                if add:
                    ids.add(entry["_id"])
                else:
                    ids.discard(entry["_id"])

    def _text(self, entry: dict[str, Any]) -> str:
        return "\x00".join(v if isinstance(v, str) else "" for v in
                           (entry.get(field) for field in self.search))

    def _text_search(self, condition: Any) -> Callable[[Any], bool] | None:
        """A test on the joined text for ``$or`` of one literal pattern over the search
        fields (exact: a literal cannot match across the NUL that joins them)."""
        if not self.search or not isinstance(condition, list) or len(condition) != len(
                self.search):
            return None
        specs = []
        for field, branch in zip(self.search, condition, strict=True):
            if not isinstance(branch, dict) or list(branch) != [field]:
                return None
            specs.append(branch[field])
        first = specs[0]
        if (not isinstance(first, dict) or any(spec != first for spec in specs)
                or set(first) - {"$regex", "$options"} or "$regex" not in first
                or set(first.get("$options") or "") - {"i"}
                or not _is_literal(first["$regex"])):
            return None
        flags = re.IGNORECASE if "i" in (first.get("$options") or "") else 0
        search = re.compile(first["$regex"], flags).search
        texts = self._texts
        return lambda doc_id: search(texts.get(doc_id, "")) is not None

    def _select(self, filter_: dict[str, Any]) -> tuple[set | None, dict[str, Any]]:
        """The ids the exact conditions allow (None: all) and the conditions left."""
        chosen: set | None = None
        rest: dict[str, Any] = {}
        for key, condition in filter_.items():
            if key in self.exact and isinstance(condition, str | int | float | bool):
                ids = self._postings[key].get(condition, set())
            elif (key in self.exact and isinstance(condition, dict)
                  and set(condition) == {"$all"} and condition["$all"]
                  and all(isinstance(v, str) for v in condition["$all"])):
                sets = [self._postings[key].get(v, set()) for v in condition["$all"]]
                ids = set.intersection(*sets)
            elif (key in self.exact and isinstance(condition, dict)
                  and set(condition) == {"$in"}
                  and all(isinstance(v, str) for v in condition["$in"])):
                ids = set().union(*(self._postings[key].get(v, set())
                                    for v in condition["$in"]))
            else:
                rest[key] = condition
                continue
            chosen = set(ids) if chosen is None else chosen & ids
        return chosen, rest

    def _catch_up(self, db: Any) -> bool:
        """Apply the other replicas' writes; False when the index cannot answer now."""
        if self._entries is None:
            return False
        counter = db[COUNTERS].find_one({"_id": self.name}) or {}
        latest = int(counter.get("seq") or 0)
        if latest == self._seq:
            return True
        if latest < self._seq:  # the database was replaced (a restore): start again
            return False
        rows = list(db[f"{self.name}_changes"].find(
            {"seq": {"$gt": self._seq, "$lte": latest}}, {"seq": 1, "doc_id": 1}))
        self._apply_docs(db, list({row["doc_id"] for row in rows}))
        numbers = sorted(row["seq"] for row in rows)
        seq = self._seq
        for number in numbers:
            if number != seq + 1:
                break
            seq = number
        with self._lock:
            self._seq = seq
            if seq == latest:
                self._gap_since = None
                return True
            self._gap_since = self._gap_since or time.monotonic()
            return time.monotonic() - self._gap_since < self.gap_grace_s

    # -- answering a list -----------------------------------------------------------------

    def page(self, db: Any, filter_: dict[str, Any], sort: list[tuple[str, int]],
             skip: int, limit: int, spawn: Callable[[Callable[[], None]], Any]
             ) -> tuple[list[Any], int] | None:
        """``(the page's ids in order, total)``, or None: ask the database instead."""
        if not self._catch_up(db):
            if self._entries is not None or not self._loading:
                self.load_in_background(db, spawn)
            return None
        try:
            order = self._ordered(tuple(sort))
            ordered, keys = order.entries, order.keys
            block, lo, hi = ordered, 0, len(ordered)
            first, direction = sort[0]
            period = filter_.get(first)
            if isinstance(period, dict) and period and set(period) <= set(_RANGES):
                # A range on the field the list is sorted by (a period, newest first):
                # the matching entries are one slice of the order, found by bisection.
                lo, hi = _slice(keys, period, direction)
                block = ordered[lo:hi]
                filter_ = {key: value for key, value in filter_.items() if key != first}
            if not filter_:
                return [entry["_id"] for entry in block[skip:skip + limit]], len(block)
            with self._lock:
                chosen, rest = self._select(filter_)
                if chosen is None:
                    rows = block
                elif len(chosen) * 8 < len(block):  # few matches: order them by place
                    places = sorted(p for p in map(order.position.__getitem__, chosen)
                                    if lo <= p < hi)
                    rows = [ordered[p] for p in places]
                else:
                    rows = [entry for entry in block if entry["_id"] in chosen]
            text = self._text_search(rest.get("$or"))
            if text is not None:
                rest = {k: v for k, v in rest.items() if k != "$or"}
                rows = [entry for entry in rows if text(entry["_id"])]
            if rest:
                matches = _matcher(rest)
                rows = [entry for entry in rows if matches(entry)]
        except (Unsupported, TypeError, re.error) as exc:
            log.debug("list index %s: %s: answered by the database", self.name, exc)
            return None
        return [entry["_id"] for entry in rows[skip:skip + limit]], len(rows)

    def _ordered(self, sort: tuple[tuple[str, int], ...]) -> Order:
        """Every entry in ``sort`` order (see ``shared.listorder``), current."""
        for field, _direction in sort:
            if field not in self.fields:
                raise Unsupported(f"sort by {field}")
        with self._lock:
            version, cached = self._version, self._orders.get(sort)
            if cached is not None and cached.version == version:
                return cached
            changes = None
            if cached is not None and cached.version >= self._journal_from:
                start = bisect.bisect_right(self._journal, cached.version,
                                            key=lambda change: change[0])
                changes = [(old, new) for _v, old, new in self._journal[start:]]
            if changes is None or len(changes) > max(64, len(cached.entries) // 50):
                changes, entries = None, list(self._entries.values())
        if changes is not None:
            try:
                order = cached.changed(changes, version)
            except LookupError:  # not the entries it was built from: sort them again
                log.warning("list index %s: order %s re-sorted", self.name, sort)
                with self._lock:
                    version, entries = self._version, list(self._entries.values())
                order = Order.build(sort, entries, version, sort_value)
        else:
            order = Order.build(sort, entries, version, sort_value)
        with self._lock:
            if len(self._orders) >= 16 and sort not in self._orders:
                self._orders.clear()
            self._orders[sort] = order
        return order

    def values(self, db: Any, fields: Iterable[str]) -> dict[str, list[str]] | None:
        """The distinct non-empty values of ``fields``, sorted (the list's filters), with
        every replica's writes applied first; None: ask the database."""
        if not self._catch_up(db):
            return None
        with self._lock:
            if self._entries is None:
                return None
            entries = list(self._entries.values())
        return {field: sorted({str(entry[field]) for entry in entries
                               if entry.get(field) not in (None, "")})
                for field in fields}
