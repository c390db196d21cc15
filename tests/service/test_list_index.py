"""The registry's list index (shared/listindex.py) on the real embedded database:
every list query shape answers exactly what the database answers, replicas see
each other's writes, a hole or a replaced collection reloads, and what it reads
is index lookups only (explain)."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId

from services.registry import domain
from services.registry.dependencies import MODELS, ModelRepository
from shared.listindex import COUNTERS, ListIndex

DEPARTMENTS = ["Finance", "Ventes", "RH", None]
TAGS = ["prod", "gdpr", "daily", "v2"]


def _now_spawn(fn):
    fn()


def make_docs(count: int, seed: int = 3) -> list[dict]:
    rng = random.Random(seed)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    docs = []
    for i in range(count):
        created = base + timedelta(minutes=rng.randint(0, 50))  # ties on purpose
        doc = {
            "_id": ObjectId(),
            "name": rng.choice(["churn", "Fraude", "crédit", "ÉTÉ", "zeta"]) + f"-{i % 7}",
            "description": rng.choice(["Churn model", "prévision des ventes", "", None]),
            "version": f"{rng.randint(1, 3)}.{rng.randint(0, 2)}.0",
            "type": rng.choice(["classification", "regression"]),
            "framework": rng.choice(["scikit-learn", "onnx"]),
            "status": rng.choice(["draft", "ready", "archived"]),
            "tags": sorted(rng.sample(TAGS, rng.randint(0, 3))),
            "created_at": created,
            "updated_at": created + timedelta(minutes=rng.randint(0, 3)),
        }
        department = rng.choice(DEPARTMENTS)
        if department is not None or rng.random() < 0.5:
            doc["department"] = department  # missing, null and set, as stored data has
        if rng.random() < 0.8:
            doc["region"] = rng.choice(["Europe", "Asie"])
        docs.append(doc)
    return docs


QUERIES = [
    {},
    {"department": "Finance"},
    {"department": "Finance", "status": "ready"},
    {"region": "Europe", "tags": ["gdpr"]},
    {"tags": ["prod", "v2"]},
    {"q": "churn"},
    {"q": "É"},
    {"q": "ventes", "status": "draft"},
    {"q": "model-1"},
    {"q": "a.b (c)"},
    {"sort": "name"},
    {"sort": "-version,name"},
    {"sort": "department"},
    {"sort": "-region", "page": 3, "per_page": 7},
    {"sort": "updated_at", "page": 2, "per_page": 9},
    {"sort": "status,-created_at", "type": "regression"},
    {"page": 40, "per_page": 20},
]


@pytest.fixture
def db(mongo_db):
    for keys, options in ModelRepository.indexes[MODELS]:
        mongo_db[MODELS].create_index(keys, **{k: v for k, v in options.items()
                                               if k != "unique"})
    mongo_db[MODELS].insert_many(make_docs(300))
    return mongo_db


def new_index(db, **kwargs) -> ListIndex:
    index = ListIndex(MODELS, ModelRepository.LIST_FIELDS, exact=ModelRepository.LIST_EXACT,
                      search=domain.SEARCHED, **kwargs)
    index.ensure_indexes(db)
    index.load(db)
    return index


def database_answer(db, parsed) -> tuple[list, int]:
    cursor = db[MODELS].find(parsed.filter).sort(parsed.sort).skip(parsed.skip)
    return ([doc["_id"] for doc in cursor.limit(parsed.per_page)],
            db[MODELS].count_documents(parsed.filter))


@pytest.mark.parametrize("query", QUERIES, ids=[str(q) for q in QUERIES])
def test_every_list_shape_answers_what_the_database_answers(db, query):
    index = new_index(db)
    parsed = domain.build_list_query(query)
    answer = index.page(db, parsed.filter, parsed.sort, parsed.skip, parsed.per_page,
                        _now_spawn)
    assert answer is not None
    assert answer == database_answer(db, parsed)


def test_facets_equal_the_distinct_values(db):
    index = new_index(db)
    values = index.values(db, domain.FACETS)
    for field in domain.FACETS:
        expected = sorted(str(v) for v in db[MODELS].distinct(field) if v not in (None, ""))
        assert values[field] == expected


def test_a_replica_sees_another_replicas_writes_before_it_answers(db):
    first, second = new_index(db), new_index(db)
    # the filters' values first, before any list: a new department is offered at once
    created = {"_id": ObjectId(), "name": "facet", "department": "Juridique",
               "created_at": datetime.now(UTC), "updated_at": datetime.now(UTC)}
    db[MODELS].insert_one(created)
    first.record(db, created["_id"])
    assert "Juridique" in second.values(db, ("department",))["department"]
    assert "Juridique" in first.values(db, ("department",))["department"]
    parsed = domain.build_list_query({"department": "Compta"})
    assert second.page(db, parsed.filter, parsed.sort, 0, 20, _now_spawn) == ([], 0)
    created = {"_id": ObjectId(), "name": "new", "department": "Compta", "status": "draft",
               "created_at": datetime.now(UTC), "updated_at": datetime.now(UTC)}
    db[MODELS].insert_one(created)
    first.record(db, created["_id"])
    assert second.page(db, parsed.filter, parsed.sort, 0, 20, _now_spawn) == (
        [created["_id"]], 1)
    db[MODELS].delete_one({"_id": created["_id"]})
    first.record(db, created["_id"])
    assert second.page(db, parsed.filter, parsed.sort, 0, 20, _now_spawn) == ([], 0)
    assert second.values(db, ("department",))["department"].count("Compta") == 0


def test_a_hole_in_the_change_numbers_is_waited_for_then_reloads(db):
    index = new_index(db, gap_grace_s=0.3)
    replica = new_index(db, gap_grace_s=0.3)
    # a writer took a number and died before logging its change
    db[COUNTERS].update_one({"_id": MODELS}, {"$inc": {"seq": 1}}, upsert=True)
    created = {"_id": ObjectId(), "name": "late", "department": "Compta",
               "created_at": datetime.now(UTC)}
    db[MODELS].insert_one(created)
    replica.record(db, created["_id"])  # the next writer logs normally
    parsed = domain.build_list_query({"department": "Compta"})
    assert index.page(db, parsed.filter, parsed.sort, 0, 20, _now_spawn) == (
        [created["_id"]], 1)  # within the grace: the later change is applied already
    time.sleep(0.35)
    assert index.page(db, parsed.filter, parsed.sort, 0, 20, _now_spawn) is None
    # the reload ran (synchronously here): exact again, the hole forgotten
    assert index.page(db, parsed.filter, parsed.sort, 0, 20, _now_spawn) == (
        [created["_id"]], 1)


def test_a_replaced_collection_is_reloaded(db):
    index = new_index(db)
    record = {"_id": ObjectId(), "name": "x", "created_at": datetime.now(UTC)}
    db[MODELS].insert_one(record)
    index.record(db, record["_id"])
    parsed = domain.build_list_query({})
    index.page(db, parsed.filter, parsed.sort, 0, 20, _now_spawn)
    # a restore puts back an older database: its counter is behind this replica's
    db[MODELS].delete_many({})
    db[COUNTERS].update_one({"_id": MODELS}, {"$set": {"seq": 0}})
    assert index.page(db, parsed.filter, parsed.sort, 0, 20, _now_spawn) is None
    assert index.page(db, parsed.filter, parsed.sort, 0, 20, _now_spawn) == ([], 0)


def test_filters_it_does_not_know_go_to_the_database(db):
    index = new_index(db)
    assert index.page(db, {"version": {"$exists": True}}, [("_id", 1)], 0, 5, _now_spawn) is None
    assert index.page(db, {"$and": [{"status": "ready"}]}, [("_id", 1)], 0, 5, _now_spawn) is None


def _plan(explained: dict) -> str:
    return str(explained["queryPlanner"]["winningPlan"])


def test_what_a_list_reads_is_index_lookups_only(db):
    """The reads of a list: the counter by _id, the change rows by the seq index, the
    page's documents by _id — never a collection scan (on a real MongoDB as here)."""
    index = new_index(db)
    ids = [doc["_id"] for doc in db[MODELS].find({}, {"_id": 1}).limit(20)]
    page = _plan(db[MODELS].find({"_id": {"$in": ids}}).explain())
    counter = _plan(db[COUNTERS].find({"_id": MODELS}).explain())
    changes = _plan(db[f"{MODELS}_changes"].find({"seq": {"$gt": 3, "$lte": 9}}).explain())
    for plan in (page, counter):
        assert "COLLSCAN" not in plan and ("IXSCAN" in plan or "IDHACK" in plan
                                           or "EXPRESS" in plan), plan
    assert "IXSCAN" in changes and "seq" in changes, changes
    assert index.loaded


def test_the_deployments_list_answers_what_the_database_answers(mongo_db):
    """The deployer's shapes: equality on its filters, the q search, a sort on a field
    that is null for stopped deployments."""
    from services.deployer.dependencies import COLLECTION, Deployments

    rng = random.Random(5)
    base = datetime(2026, 3, 1, tzinfo=UTC)
    mongo_db[COLLECTION].insert_many([{
        "name": f"{rng.choice(['score', 'Nightly', 'été'])}-{i}",
        "description": rng.choice(["Scoring nocturne", "", None]),
        "status": status, "department": rng.choice(["Finance", "RH"]),
        "region": rng.choice(["Europe", None]), "model_id": rng.choice(["m1", "m2"]),
        "next_run_at": base + timedelta(minutes=rng.randint(0, 30)) if status == "active"
        else None,
        "created_at": base + timedelta(minutes=rng.randint(0, 30)), "updated_at": base,
    } for i, status in enumerate(rng.choice(["active", "inactive"]) for _ in range(200))])
    index = ListIndex(COLLECTION, Deployments.LIST_FIELDS, exact=Deployments.LIST_EXACT,
                      search=("name", "description"))
    index.ensure_indexes(mongo_db)
    index.load(mongo_db)
    pattern = {"$regex": "score", "$options": "i"}
    for filter_, sort in [
        ({}, [("next_run_at", 1), ("_id", -1)]),
        ({"status": "active", "department": "RH"}, [("next_run_at", -1), ("_id", -1)]),
        ({"$or": [{"name": pattern}, {"description": pattern}]}, [("name", 1), ("_id", -1)]),
        ({"model_id": "m2", "region": "Europe"}, [("created_at", -1), ("_id", -1)]),
    ]:
        expected = ([d["_id"] for d in mongo_db[COLLECTION].find(filter_).sort(sort)
                     .skip(10).limit(15)], mongo_db[COLLECTION].count_documents(filter_))
        assert index.page(mongo_db, filter_, sort, 10, 15, _now_spawn) == expected


def test_the_executions_list_answers_what_the_database_answers(mongo_db):
    """The runner's shapes: a period on created_at, several statuses, sorts on fields
    that are null until an execution ends."""
    from services.runner import domain as runner
    from services.runner.dependencies import EXECUTIONS, ExecutionRepository

    rng = random.Random(9)
    base = datetime(2026, 5, 1, tzinfo=UTC)
    docs = []
    for _ in range(300):
        status = rng.choice(runner.STATUSES)
        created = base + timedelta(hours=rng.randint(0, 72))
        done = status in runner.FINAL
        docs.append({
            "status": status, "trigger": rng.choice(runner.TRIGGERS),
            "model_id": rng.choice(["m1", "m2"]), "deployment_id": rng.choice(["d1", None]),
            "department": rng.choice(["Finance", "RH"]), "region": "Europe",
            "created_by": "admin", "created_at": created,
            "started_at": created + timedelta(seconds=2) if status != "queued" else None,
            "finished_at": created + timedelta(seconds=9) if done else None,
            "duration_s": round(rng.uniform(0.5, 9), 2) if done else None,
        })
    mongo_db[EXECUTIONS].insert_many(docs)
    index = ListIndex(EXECUTIONS, ExecutionRepository.LIST_FIELDS,
                      exact=ExecutionRepository.LIST_EXACT)
    index.ensure_indexes(mongo_db)
    index.load(mongo_db)
    for query in [{}, {"from": "2026-05-02T00:00:00Z", "to": "2026-05-03T00:00:00Z"},
                  {"status": "succeeded,failed", "department": "RH"},
                  {"sort": "duration_s", "model_id": "m2"}, {"sort": "-finished_at"},
                  {"deployment_id": "d1", "trigger": "schedule", "sort": "started_at"},
                  {"from": "2026-05-03T12:00:00Z", "sort": "-duration_s", "page": 2},
                  {"from": "2026-05-01T10:00:00Z", "to": "2026-05-02T10:00:00Z",
                   "sort": "created_at", "status": "succeeded"},
                  {"to": "2026-05-02T03:00:00Z", "page": 3, "per_page": 5},
                  {"from": "2026-05-02T00:00:00Z", "status": "failed,timed_out,cancelled"},
                  {"from": "2026-06-01T00:00:00Z"}, {"to": "2026-04-01T00:00:00Z"}]:
        filters, sort, page, per_page = runner.list_query(query)
        skip = (page - 1) * per_page
        expected = ([d["_id"] for d in mongo_db[EXECUTIONS].find(filters).sort(sort)
                     .skip(skip).limit(per_page)], mongo_db[EXECUTIONS].count_documents(filters))
        assert index.page(mongo_db, filters, sort, skip, per_page, _now_spawn) == expected, query
