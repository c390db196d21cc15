"""The scheduler's repository (``schedules``, ``schedule_claims``, ``schedule_batches``,
``schedule_runs``) and its config timer."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta
from typing import Any

from nameko.timer import Timer
from pymongo import ASCENDING, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.scheduler import domain
from services.scheduler.outbox import Outbox
from services.scheduler.timetable import Timetable
from shared.mongo import Repository

SCHEDULES = "schedules"
RUNS = "schedule_runs"
CLAIMS = "schedule_claims"
BATCHES = "schedule_batches"
TERMINAL = ("succeeded", "failed", "cancelled", "timed_out")
DUPLICATE_KEY = 11000


class ConfigTimer(Timer):
    """``@timer`` whose interval comes from the container config (``key``), not the code."""

    def __init__(self, key: str, default: float, eager: bool = False, **kwargs):
        self.key, self.default = key, default
        super().__init__(interval=default, eager=eager, **kwargs)

    def setup(self) -> None:
        self.interval = float(self.container.config.get(self.key, self.default) or self.default)


config_timer = ConfigTimer.decorator


class ScheduleStore(Repository):
    """Schedule state, the claims of slots, and the queued/running executions of
    scheduled deployments. Holds this replica's ``timetable`` (its in-memory view of
    the states) and ``outbox`` (claims won, waiting for their fire time)."""

    indexes = {
        SCHEDULES: [([("changed_at", ASCENDING)], {}), ([("active", ASCENDING)], {})],
        RUNS: [
            ([("deployment_id", ASCENDING), ("terminal", ASCENDING)], {}),
            # The running counts of a whole due batch at once (``running_counts``).
            ([("terminal", ASCENDING), ("updated_at", ASCENDING)], {}),
        ],
        # The unique _id (the slot's idempotency key) is the claim; these serve the
        # take-over of a batch (its claims) and the pruning of old claims.
        CLAIMS: [([("batch", ASCENDING)], {}), ([("fire_at", ASCENDING)], {})],
        BATCHES: [
            # Every tick of every replica looks for batches whose lease ran out.
            ([("settled", ASCENDING), ("lease_until", ASCENDING)], {}),
            ([("fire_at", ASCENDING)], {}),
        ],
    }

    resynced = False  # set once a resync from the deployer succeeded
    replica = "unset"  # who claims: recorded in its batches (``claimed_by``)
    descending = False  # order in which this replica inserts its claims (see ``claim``)

    def setup(self) -> None:
        super().setup()
        # Two containers may share a process (tests): the uuid tells them apart.
        suffix = uuid.uuid4().hex[:8]
        self.replica = f"{socket.gethostname()}/{os.getpid()}/{suffix}"
        # Half the replicas insert a due list from the other end: two of them claiming
        # it at once then split it rather than race for the same slots.
        self.descending = int(suffix, 16) % 2 == 1
        self.timetable = Timetable()
        self.outbox = Outbox()
        self.pruned_at: datetime | None = None

    @property
    def schedules(self):
        return self.db[SCHEDULES]

    @property
    def runs(self):
        return self.db[RUNS]

    @property
    def claims(self):
        return self.db[CLAIMS]

    @property
    def batches(self):
        return self.db[BATCHES]

    # -- state from the deployer -----------------------------------------------

    def get(self, deployment_id: str) -> dict[str, Any] | None:
        return self.schedules.find_one({"_id": str(deployment_id)})

    def apply_deployment(self, deployment: dict[str, Any], now: datetime) -> bool:
        """Upsert the state of ``deployment``; False when the event is older than the state."""
        dep_id = str(deployment["id"])
        existing = self.get(dep_id)
        changes = domain.state_changes(deployment, existing, now)
        if domain.changed(changes, existing):
            changes.update(changed_at=now, deleted=False)
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

    def remove(self, deployment_id: str, now: datetime) -> None:
        """A tombstone rather than a delete: every replica's timetable learns it from
        ``changed_at``; the resync drops old tombstones."""
        self.schedules.update_one(
            {"_id": str(deployment_id)},
            {"$set": {"active": False, "deleted": True, "next_run_at": None,
                      "changed_at": now}},
        )

    def deactivate_missing(self, active_ids: set[str], synced_before: datetime) -> int:
        """Resync: states still active but absent from the deployer's list (and not
        touched by an event since the resync began) stop; tombstones older than the
        resync's previous run go."""
        result = self.schedules.update_many(
            {
                "active": True,
                "_id": {"$nin": sorted(active_ids)},
                "synced_at": {"$lt": synced_before},
            },
            {"$set": {"active": False, "next_run_at": None, "changed_at": synced_before}},
        )
        return result.modified_count

    def drop_tombstones(self, before: datetime) -> None:
        self.schedules.delete_many({"deleted": True, "changed_at": {"$lt": before}})

    def count_active(self) -> int:
        return self.schedules.count_documents({"active": True})

    # -- the timetable ---------------------------------------------------------

    def active_states(self) -> list[dict[str, Any]]:
        return list(self.schedules.find({"active": True}, {"skips": 0}))

    def changed_since(self, since: datetime) -> list[dict[str, Any]]:
        """The states whose ``changed_at`` is after ``since`` (index ``changed_at``)."""
        return list(self.schedules.find({"changed_at": {"$gt": since}}, {"skips": 0}))

    # -- claims ----------------------------------------------------------------

    def claim(
        self, claims: list[dict[str, Any]], fire_at: datetime, lease_s: float, now: datetime
    ) -> tuple[str, set[str]]:
        """THE claim: insert the batch (unsettled, leased until ``fire_at`` (or ``now``,
        for late slots) + ``lease_s``), then its claims in one ``insert_many``; the ones
        whose insert was a duplicate key belong to another replica. Returns (batch id, the ``_id``
        of the claims won). The batch goes in first: a replica dying between the two
        leaves a batch to take over, never a claim nobody sends."""
        batch_id = uuid.uuid4().hex
        self.batches.insert_one({
            "_id": batch_id, "claimed_by": self.replica, "claimed_at": now,
            "fire_at": fire_at, "lease_until": max(fire_at, now) + timedelta(seconds=lease_s),
            "settled": False, "redispatches": 0,
        })
        ordered = list(reversed(claims)) if self.descending else list(claims)
        for claim in ordered:
            claim["batch"] = batch_id
        won = {claim["_id"] for claim in ordered}
        try:
            self.claims.insert_many(ordered, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            others = [e for e in errors if e.get("code") != DUPLICATE_KEY]
            if others:
                raise
            won -= {ordered[e["index"]]["_id"] for e in errors}
        if not won:
            self.settle(batch_id)
        return batch_id, won

    def settle(self, batch_id: str) -> None:
        """Every claim of the batch that was to be sent is sent: nothing to take over."""
        self.batches.update_one({"_id": batch_id}, {"$set": {"settled": True}})

    def checkpoint(self, entries: list[list[Any]], now: datetime) -> None:
        """ONE ``bulk_write`` for states whose plans this replica won (``[state, plan,
        skips]``): their new ``next_run_at`` (read when a replica loads them) and skips.
        Never backwards, never over a changed definition (the deployer's value wins)."""
        ops = []
        for state, plan, skips in entries:
            update: dict[str, Any] = {"$set": {"next_run_at": plan.next_run_at}}
            if skips:
                records = [{"slot": slot, "reason": reason, "at": now} for slot, reason in skips]
                update["$push"] = {"skips": {"$each": records, "$slice": -domain.SKIPS_KEPT}}
            query: dict[str, Any] = {
                "_id": state["_id"], "active": True, "schedule": state["schedule"],
                "timezone": state["timezone"], "jitter_s": state.get("jitter_s"),
            }
            if plan.next_run_at is not None:
                query["next_run_at"] = {"$not": {"$gt": plan.next_run_at}}
            ops.append(UpdateOne(query, update))
        if ops:
            self.schedules.bulk_write(ops, ordered=False)

    def stale_batches(self, now: datetime, limit: int = 50) -> list[dict[str, Any]]:
        """Unsettled batches whose lease ran out (index ``settled, lease_until``)."""
        return list(
            self.batches.find({"settled": False, "lease_until": {"$lte": now}}).limit(limit)
        )

    def take_over(self, batch: dict[str, Any], now: datetime, lease_s: float) -> bool:
        """Claim the re-dispatch of a stale batch: a conditional write on the lease seen,
        so one replica re-sends it, not all of them; a fresh lease, so a lost re-send is
        tried again after ``lease_s``."""
        result = self.batches.update_one(
            {"_id": batch["_id"], "settled": False, "lease_until": batch["lease_until"]},
            {
                "$set": {"lease_until": now + timedelta(seconds=lease_s),
                         "claimed_by": self.replica},
                "$inc": {"redispatches": 1},
            },
        )
        return result.modified_count == 1

    def batch_claims(self, batch_id: str) -> list[dict[str, Any]]:
        """The claims of a batch that were to be sent (index ``batch``)."""
        return [c for c in self.claims.find({"batch": batch_id}) if c.get("skip") is None]

    def prune(self, before: datetime) -> None:
        """Claims and settled batches that fired before ``before`` go: a claim is only
        needed for as long as a replica may try the same slot again (its checkpoint
        lags by a slot at most)."""
        self.claims.delete_many({"fire_at": {"$lt": before}})
        self.batches.delete_many({"settled": True, "fire_at": {"$lt": before}})

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
