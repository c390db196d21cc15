"""The scheduler's repository (``schedules``, ``schedule_runs``) and its config timer."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta
from typing import Any

from nameko.timer import Timer
from pymongo import ASCENDING, UpdateOne
from pymongo.errors import DuplicateKeyError

from services.scheduler import domain
from shared.mongo import Repository

SCHEDULES = "schedules"
RUNS = "schedule_runs"
TERMINAL = ("succeeded", "failed", "cancelled", "timed_out")

# (state as seen by the due query, its plan, the pending entries its claim pushes)
Claim = tuple[dict[str, Any], domain.TickPlan, list[dict[str, Any]]]


def _claim_update(
    plan: domain.TickPlan, now: datetime, pending: list[dict[str, Any]], token: str
) -> dict[str, Any]:
    """The update of one claim: advance, record skips, push the pending entries."""
    skips = [{"slot": slot, "reason": reason, "at": now} for slot, reason in plan.skipped]
    update: dict[str, Any] = {
        "$set": {
            "next_run_at": plan.next_run_at,
            "due_at": plan.due_at,
            "last_slot": plan.last_slot,
            "claim_token": token,
        }
    }
    push: dict[str, Any] = {}
    if plan.fire:
        update["$set"]["last_fired_at"] = now
        update["$inc"] = {"fired": len(plan.fire)}
    if skips:
        push["skips"] = {"$each": skips, "$slice": -domain.SKIPS_KEPT}
    if pending:
        push["pending"] = {"$each": pending}
    if push:
        update["$push"] = push
    return update


class ConfigTimer(Timer):
    """``@timer`` whose interval comes from the container config (``key``), not the code."""

    def __init__(self, key: str, default: float, eager: bool = False, **kwargs):
        self.key, self.default = key, default
        super().__init__(interval=default, eager=eager, **kwargs)

    def setup(self) -> None:
        self.interval = float(self.container.config.get(self.key, self.default) or self.default)


config_timer = ConfigTimer.decorator


class ScheduleStore(Repository):
    """Schedule state and the queued/running executions of scheduled deployments."""

    indexes = {
        SCHEDULES: [
            ([("active", ASCENDING), ("due_at", ASCENDING)], {}),
            # Every tick of every replica looks for stale pending entries (multikey).
            ([("pending.claimed_at", ASCENDING)], {}),
        ],
        RUNS: [
            ([("deployment_id", ASCENDING), ("terminal", ASCENDING)], {}),
            # The running counts of a whole due batch at once (``running_counts``).
            ([("terminal", ASCENDING), ("updated_at", ASCENDING)], {}),
        ],
    }

    resynced = False  # set once a resync from the deployer succeeded
    replica = "unset"  # who claims: recorded in pending entries (``claimed_by``)
    descending = False  # order of the due ties this replica walks (see ``due``)
    last_claimed_at: datetime | None = None  # claims of one replica never share one

    def setup(self) -> None:
        super().setup()
        # Two containers may share a process (tests): the uuid tells them apart.
        suffix = uuid.uuid4().hex[:8]
        self.replica = f"{socket.gethostname()}/{os.getpid()}/{suffix}"
        # Half the replicas walk the due list from the other end: two of them reading
        # it at once then split it rather than race for the same states.
        self.descending = int(suffix, 16) % 2 == 1

    @property
    def schedules(self):
        return self.db[SCHEDULES]

    @property
    def runs(self):
        return self.db[RUNS]

    # -- state from the deployer -----------------------------------------------

    def get(self, deployment_id: str) -> dict[str, Any] | None:
        return self.schedules.find_one({"_id": str(deployment_id)})

    def apply_deployment(self, deployment: dict[str, Any], now: datetime) -> bool:
        """Upsert the state of ``deployment``; False when the event is older than the state."""
        dep_id = str(deployment["id"])
        existing = self.get(dep_id)
        changes = domain.state_changes(deployment, existing, now)
        source = changes["source_updated_at"]
        query: dict[str, Any] = {"_id": dep_id}
        if source is not None:
            # updated_at is ISO 8601 UTC with Z: string order is time order. "Not newer"
            # (also matches null/missing) rather than an $or: this database scans the
            # whole collection for an $or, even next to an _id (~10 ms at 1,000 states).
            query["source_updated_at"] = {"$not": {"$gt": source}}
        try:
            result = self.schedules.update_one(
                query, {"$set": changes, "$setOnInsert": {"skips": []}}, upsert=True
            )
        except DuplicateKeyError:
            return False  # a newer version of the deployment is already applied
        return result.matched_count == 1 or result.upserted_id is not None

    def remove(self, deployment_id: str) -> None:
        self.schedules.delete_one({"_id": str(deployment_id)})

    def deactivate_missing(self, active_ids: set[str], synced_before: datetime) -> int:
        """Resync: states still active but absent from the deployer's list (and not
        touched by an event since the resync began) stop."""
        result = self.schedules.update_many(
            {
                "active": True,
                "_id": {"$nin": sorted(active_ids)},
                "synced_at": {"$lt": synced_before},
            },
            {"$set": {"active": False, "next_run_at": None, "due_at": None}},
        )
        return result.modified_count

    def count_active(self) -> int:
        return self.schedules.count_documents({"active": True})

    # -- ticking ---------------------------------------------------------------

    def due(
        self, now: datetime, limit: int = 500, descending: bool = False
    ) -> list[dict[str, Any]]:
        """Up to ``limit`` active states whose fire time has come (index ``active,
        due_at``), oldest due first; ties (every deployment due at the same minute)
        in ``_id`` order, ascending or ``descending``: two replicas reading the same
        due list at once start from opposite ends and split it instead of colliding."""
        order = -1 if descending else ASCENDING
        return list(
            self.schedules.find({"active": True, "due_at": {"$lte": now}})
            .sort([("due_at", ASCENDING), ("_id", order)])
            .limit(limit)
        )

    def claim(self, claims: list[Claim], now: datetime) -> set[str]:
        """THE conditional writes, in one ``bulk_write``: for each (state seen, plan,
        pending entries), advance ``next_run_at`` from the value seen and record the
        slots about to be fired as ``pending`` (``domain.pending_entries``) in the
        same write. Returns the ids whose write matched (claimed by us).

        Only one replica's write matches ``{_id, next_run_at: <seen>}``, so a slot
        is claimed once however many schedulers tick; as the pending entries go in
        the same write, a claimed slot is never lost by a replica dying before its
        dispatch: it stays pending until settled and is re-sent otherwise.
        ``bulk_write`` only counts the matches, so every write also stamps
        ``claim_token`` (fresh per call): when fewer than all matched (another
        replica won some), one find on it tells which ones are ours.
        """
        if not claims:
            return set()
        token = uuid.uuid4().hex
        ops = [
            UpdateOne(
                {"_id": state["_id"], "active": True, "next_run_at": state["next_run_at"]},
                _claim_update(plan, now, pending, token),
            )
            for state, plan, pending in claims
        ]
        ids = [state["_id"] for state, _, _ in claims]
        result = self.schedules.bulk_write(ops, ordered=False)
        if result.matched_count == len(ops):
            return set(ids)
        if result.matched_count == 0:
            return set()
        won = self.schedules.find({"_id": {"$in": ids}, "claim_token": token}, {"_id": 1})
        return {doc["_id"] for doc in won}

    def settle_claimed(
        self, claimed_at: datetime, claimed_by: str, unsent: list[str] | None = None
    ) -> None:
        """One write for a whole claim: its dispatch is confirmed, so the pending
        entries it pushed (``claimed_at`` + ``claimed_by``, index
        ``pending.claimed_at``) go, except the ``unsent`` keys (re-sent later)."""
        entry: dict[str, Any] = {"claimed_at": claimed_at, "claimed_by": claimed_by}
        if unsent:
            entry["idempotency_key"] = {"$nin": list(unsent)}
        self.schedules.update_many(
            {"pending.claimed_at": claimed_at}, {"$pull": {"pending": entry}}
        )

    def settle(self, deployment_id: str, keys: list[str]) -> None:
        """The dispatch of these slots is confirmed: they are no longer pending."""
        if keys:
            self.schedules.update_one(
                {"_id": deployment_id},
                {"$pull": {"pending": {"idempotency_key": {"$in": list(keys)}}}},
            )

    def stale_pending(self, cutoff: datetime, limit: int = 500) -> list[dict[str, Any]]:
        """States with a pending entry claimed at or before ``cutoff`` (index
        ``pending.claimed_at``), whether or not still active: a claimed slot was due
        when claimed, its delivery is owed."""
        return list(
            self.schedules.find({"pending.claimed_at": {"$lte": cutoff}}, {"pending": 1}).limit(
                limit
            )
        )

    def claim_redispatch(self, deployment_id: str, entry: dict[str, Any], now: datetime) -> bool:
        """Claim the re-dispatch of a stale pending entry: a conditional write on the
        ``claimed_at`` seen, so one replica re-sends it, not all of them. The entry
        gets a fresh ``claimed_at``: if this dispatch is lost too, it is re-sent again
        after ``SCHEDULER_REDISPATCH_S``."""
        result = self.schedules.update_one(
            {
                "_id": deployment_id,
                "pending": {
                    "$elemMatch": {
                        "idempotency_key": entry["idempotency_key"],
                        "claimed_at": entry["claimed_at"],
                    }
                },
            },
            {
                "$set": {"pending.$.claimed_at": now, "pending.$.claimed_by": self.replica},
                "$inc": {"pending.$.redispatches": 1},
            },
        )
        return result.modified_count == 1

    # -- executions (max_concurrent) ---------------------------------------------

    def record_execution(
        self, execution_id: str, deployment_id: str, status: str, now: datetime
    ) -> None:
        """Idempotent, order-proof: a terminal status is never overwritten."""
        terminal = status in TERMINAL
        try:
            self.runs.update_one(
                {"_id": execution_id, "terminal": {"$ne": True}},
                {
                    "$set": {
                        "deployment_id": deployment_id,
                        "status": status,
                        "terminal": terminal,
                        "updated_at": now,
                    }
                },
                upsert=True,
            )
        except DuplicateKeyError:
            pass  # already terminal: a late "queued"/"started" changes nothing

    def running_counts(
        self, deployment_ids: list[str], now: datetime, ttl_s: float
    ) -> dict[str, int]:
        """Queued or running executions per deployment heard of within ``ttl_s`` (a
        lost terminal event must not block a deployment forever), for all the given
        deployments in one query; absent = 0."""
        if not deployment_ids:
            return {}
        # All the live ones (index ``terminal, updated_at``: as many as executions queued
        # or running), counted here: an ``$in`` of hundreds of ids costs this database
        # seconds, and its aggregation is no faster than this.
        wanted = set(deployment_ids)
        counts: dict[str, int] = {}
        live = self.runs.find(
            {"terminal": False, "updated_at": {"$gt": now - timedelta(seconds=ttl_s)}},
            {"_id": 0, "deployment_id": 1},
        )
        for run in live:
            dep_id = run.get("deployment_id")
            if dep_id in wanted:
                counts[dep_id] = counts.get(dep_id, 0) + 1
        return counts
