"""The claims a replica won, in memory until their fire time, grouped by batch.

A tick claims the slots that fire within ``SCHEDULER_CLAIM_AHEAD_S``; they wait here,
soonest first, and are sent when their time comes. A batch is done when each of its
claims was sent (or dropped because the batch failed): then it is settled (or left to
be taken over, when a send failed) and its states checkpointed.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class Batch:
    """One claim's worth of won slots: what is left to send and what to checkpoint."""

    id: str
    waiting: int = 0  # claims still to send
    failed: bool = False  # a send failed: the rest is left to the take-over
    # deployment id → [state, plan, skips] of the plans won: their checkpoint
    plans: dict[str, list[Any]] = field(default_factory=dict)


class Outbox:
    def __init__(self) -> None:
        self._heap: list[tuple[datetime, int, dict[str, Any], Batch]] = []
        self._order = itertools.count()

    def add(self, batch: Batch, claims: list[dict[str, Any]]) -> None:
        batch.waiting += len(claims)
        for claim in claims:
            heapq.heappush(self._heap, (claim["fire_at"], next(self._order), claim, batch))

    def take(self, until: datetime) -> list[tuple[dict[str, Any], Batch]]:
        """The claims that fire at or before ``until``, soonest first, taken out."""
        out = []
        while self._heap and self._heap[0][0] <= until:
            _, _, claim, batch = heapq.heappop(self._heap)
            out.append((claim, batch))
        return out

    def __len__(self) -> int:
        return len(self._heap)
