"""What a scheduler replica keeps in memory: the active schedules and when each fires next.

The ``schedules`` collection is the truth (definitions from the deployer's events, and
``next_run_at`` as a checkpoint); each replica loads it once, then applies the
documents whose ``changed_at`` moved (one indexed query per tick). Between changes, the
tick advances ``next_run_at`` here, after each claim, won or lost: a claim lost to a
duplicate key means another replica handles that slot, so nobody re-reads the state to
learn it. A heap of ``(fire time, id)`` gives the due ones without a scan.
"""

from __future__ import annotations

import heapq
import itertools
from datetime import datetime, timedelta
from typing import Any

# The fields of a ``schedules`` document the tick needs.
FIELDS = ("_id", "schedule", "timezone", "misfire_policy", "max_concurrent", "jitter_s",
          "jitter", "next_run_at", "changed_at")


def checkpoint_due(state: dict[str, Any], next_run_at: datetime | None, every_s: float) -> bool:
    """Whether the stored ``next_run_at`` (``checkpoint``) is to move to ``next_run_at``:
    once it lags by ``every_s`` or more. A lagging one costs a replica that loads it
    duplicate-key claims for the slots in between, nothing else (the claims of the
    last ``SCHEDULER_CLAIMS_KEPT_S`` are there)."""
    stored = state.get("checkpoint")
    if stored is None or next_run_at is None:
        return True
    return (next_run_at - stored).total_seconds() >= every_s


def fire_time(state: dict[str, Any]) -> datetime:
    """When the state's next slot fires: ``next_run_at`` + its jitter offset."""
    return state["next_run_at"] + timedelta(seconds=float(state.get("jitter") or 0))


class Timetable:
    """The active schedule states of this replica, by id, and a heap of their fire times.

    Each state has at most one current heap entry (``_current``: id → its number);
    entries left behind by a change are dropped when reached.
    """

    def __init__(self) -> None:
        self.states: dict[str, dict[str, Any]] = {}
        self.applied: dict[str, datetime | None] = {}  # id → changed_at of what was applied
        self.watermark: datetime | None = None  # newest changed_at seen
        self.loaded = False
        self._heap: list[tuple[datetime, int, str]] = []
        self._current: dict[str, int] = {}
        self._numbers = itertools.count()

    def load(self, docs: list[dict[str, Any]]) -> None:
        """Replace everything with these documents (startup, a restore)."""
        self.states.clear()
        self.applied.clear()
        self._heap.clear()
        self._current.clear()
        self.watermark = None
        for doc in docs:
            self.apply(doc)
        self.loaded = True

    def apply(self, doc: dict[str, Any]) -> bool:
        """Take a ``schedules`` document as it is now; False when it was applied already.

        Its ``next_run_at`` replaces the one in memory even when behind it (a checkpoint
        not written yet): the slots in between are claimed already, so claiming them
        again is a duplicate key, a no-op.
        """
        dep_id = doc["_id"]
        changed = doc.get("changed_at")
        if changed is not None and (self.watermark is None or changed > self.watermark):
            self.watermark = changed
        if dep_id in self.applied and self.applied[dep_id] == changed:
            return False
        self.applied[dep_id] = changed
        if not doc.get("active") or doc.get("next_run_at") is None or not doc.get("schedule"):
            self.states.pop(dep_id, None)
            self._current.pop(dep_id, None)
            return True
        state = {key: doc.get(key) for key in FIELDS}
        state["checkpoint"] = doc.get("next_run_at")  # what is stored
        self.states[dep_id] = state
        self._push(state)
        return True

    def _push(self, state: dict[str, Any]) -> None:
        number = next(self._numbers)
        self._current[state["_id"]] = number
        heapq.heappush(self._heap, (fire_time(state), number, state["_id"]))

    def due(self, horizon: datetime, limit: int) -> list[dict[str, Any]]:
        """Take out up to ``limit`` states that fire at or before ``horizon``, soonest
        first. Each is out until ``advance`` puts it back (with its next slot, or the
        same one when its claim failed)."""
        out: list[dict[str, Any]] = []
        while self._heap and len(out) < limit and self._heap[0][0] <= horizon:
            _, number, dep_id = heapq.heappop(self._heap)
            if self._current.get(dep_id) == number:
                del self._current[dep_id]
                out.append(self.states[dep_id])
        return out

    def advance(self, state: dict[str, Any], next_run_at: datetime | None) -> None:
        """The state taken out by ``due`` now waits for ``next_run_at`` (None: no more
        slots, forgotten until its document changes)."""
        current = self.states.get(state["_id"])
        if current is not state:
            return  # replaced by a change meanwhile: that one is in the heap already
        if next_run_at is None:
            self.states.pop(state["_id"], None)
            return
        state["next_run_at"] = next_run_at
        self._push(state)
