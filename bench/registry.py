"""Registry list/filter at 10,000 models, gateway vs RPC vs pymongo; RPC vs bare kombu.

Setup (not measured): the platform is started by the e2e stack fixture, then
``BENCH_MODELS`` (10,000) model documents are bulk-inserted straight into the
registry's ``models`` collection in the shape ``services/registry/dependencies.py``
stores (a ``ready`` model carries a ``file`` dict like ``attach_file`` writes).

Measured, ``BENCH_ROUNDS`` rounds of ``BENCH_REQUESTS`` sequential calls per path and
query (client: one ``requests.Session``, sequential, keep-alive; one nameko
``RpcPool``; one pymongo client), paths interleaved inside each round:

* gateway: ``GET /api/v1/models?...`` with a real token from the auth service;
* rpc: ``registry.list_models(query)`` through the gateway's own ``RpcPool``;
* pymongo: ``count_documents`` + ``find().sort().skip().limit()`` of the very filter
  and sort the registry builds (``services.registry.domain.build_list_query``).

Then the RPC round trip: ``bench_echo.echo("x")`` (a trivial nameko service run by
``ServiceRunner`` in a subprocess) vs a bare kombu request/reply echo (subprocess)
on the same broker vhost, ``BENCH_RPC_CALLS`` sequential calls per round.

Then the Exécutions list: ``BENCH_EXECUTIONS`` (100,000) executions bulk-inserted into
the runner's collection and its list index reloaded, then ``GET /executions`` (the
default view, a status, a week of one department, page 200 by duration) against one
``GET /models/{id}`` in the same round (target: p95 ≤ 3×).

Then the upload of a small model file until ``ready`` (``PUT /models/{id}/file``
answers once the sandboxed inspection is done), ``BENCH_UPLOADS`` per round, against
a cold inspector child (``python -m shared.modelfile.inspect`` on the same file: what
each upload paid before the zygote), timed in the same round. Target: < 300 ms.

Figures are medians over rounds of per-round ratios; absolute p50/p95 are over all
samples of the path.
"""

from __future__ import annotations

import os
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.common import (
    Platform,
    Report,
    env_float,
    env_int,
    fmt,
    load_generate,
    median,
    percentile,
    platform,
    progress,
    start_helper,
    stop_helper,
    summarize,
)

NAME = "registry"

DEPARTMENTS = ["Finance", "Sales", "Marketing", "HR", "Operations", "IT", "Risk", "Logistics"]
REGIONS = ["EMEA", "NA", "LATAM", "APAC", "France"]
TYPES = ["classification", "regression", "clustering", "forecasting", "other"]
FRAMEWORKS = ["scikit-learn", "onnx", "xgboost", "tensorflow", "pytorch", "other"]
TOPICS = ["churn", "fraud", "credit", "demand", "pricing", "retention", "risk", "leads",
          "forecast", "segmentation", "anomaly", "sentiment"]
TAGS = ["prod", "staging", "experimental", "gdpr", "monthly", "daily", "v2", "legacy",
        "champion", "challenger"]

# (label, gateway query string params, the registry query the gateway sends)
QUERIES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    # What the Modèles page opens on: every model, newest first, page 1.
    ("default", {"per_page": 20}, {"page": 1, "per_page": 20}),
    ("deep", {"sort": "name", "page": 400, "per_page": 20},
     {"sort": "name", "page": 400, "per_page": 20}),
    # Matches nothing through an index: what is left is the fixed cost of each layer.
    ("empty", {"department": "Nowhere", "per_page": 20},
     {"department": "Nowhere", "page": 1, "per_page": 20}),
    ("filter", {"department": "Finance", "status": "ready", "per_page": 20},
     {"department": "Finance", "status": "ready", "page": 1, "per_page": 20}),
    ("search", {"q": "churn", "per_page": 20},
     {"q": "churn", "page": 1, "per_page": 20}),
    ("sort", {"sort": "name", "page": 5, "per_page": 20},
     {"sort": "name", "page": 5, "per_page": 20}),
    ("tag", {"tag": "gdpr", "region": "EMEA", "per_page": 20},
     {"tags": ["gdpr"], "region": "EMEA", "page": 1, "per_page": 20}),
]


def model_documents(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """``count`` model documents exactly as ``ModelRepository`` stores them."""
    from bson import ObjectId

    rng = random.Random(seed)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    docs = []
    for i in range(count):
        topic = rng.choice(TOPICS)
        status = rng.choices(["ready", "draft", "archived"], weights=[6, 3, 1])[0]
        created = base + timedelta(minutes=i * 3 + rng.randint(0, 2))
        features = [f"f{k}" for k in range(rng.randint(3, 12))]
        file = None
        if status != "draft":
            file = {
                "artifact_id": str(ObjectId()),
                "filename": f"{topic}-{i}.skops",
                "size": rng.randint(10_000, 5_000_000),
                "sha256": f"{rng.getrandbits(256):064x}",
                "format": "skops",
                "content_type": "application/octet-stream",
                "uploaded_at": created + timedelta(minutes=1),
                "estimator": rng.choice(["RandomForestClassifier", "LogisticRegression",
                                         "GradientBoostingRegressor"]),
                "estimator_path": "sklearn.ensemble._forest.RandomForestClassifier",
                "sklearn_version": "1.9.1",
                "n_features": len(features),
                "classes": [0, 1],
                "compression": None,
                "warnings": [],
            }
        docs.append({
            "name": f"{topic}-model-{i:05d}",
            "description": f"{topic.capitalize()} model #{i} for the "
                           f"{rng.choice(DEPARTMENTS)} team ({rng.choice(TOPICS)} features)",
            "version": f"{rng.randint(1, 3)}.{rng.randint(0, 9)}.{rng.randint(0, 20)}",
            "type": rng.choice(TYPES),
            "framework": rng.choice(FRAMEWORKS),
            "department": rng.choice(DEPARTMENTS),
            "region": rng.choice(REGIONS),
            "tags": sorted(rng.sample(TAGS, rng.randint(0, 3))),
            "status": status,
            "parameters": {"n_estimators": rng.choice([100, 200, 500]), "max_depth": 8},
            "metrics": {"accuracy": round(rng.uniform(0.6, 0.99), 4),
                        "f1": round(rng.uniform(0.5, 0.95), 4)},
            "input_schema": [{"name": f, "type": "number"} for f in features],
            "file": file,
            "created_by": rng.choice(["datascientist", "admin"]),
            "created_at": created,
            "updated_at": created + timedelta(minutes=2),
        })
    return docs


def insert_models(plat: Platform, count: int) -> float:
    """Bulk-insert ``count`` models behind the registry's back, then have it reload its
    list index (as after any bulk import); the seconds it took."""
    import pymongo

    client = pymongo.MongoClient(plat.mongo_uri, tz_aware=True)
    try:
        collection = client[plat.mongo_db]["models"]
        began = time.monotonic()
        docs = model_documents(count)
        for start in range(0, len(docs), 1000):
            collection.insert_many(docs[start:start + 1000], ordered=False)
        reload_list_index(plat)
        return time.monotonic() - began
    finally:
        client.close()


def reload_list_index(plat: Platform, service: str = "registry") -> int:
    """Documents inserted behind a service's back: it reloads its list index."""
    from services.gateway.rpc import RpcPool

    pool = RpcPool({"AMQP_URI": plat.amqp_uri}, timeout=600, size=1)
    try:
        context = {"request_id": "bench", "username": "admin", "roles": ["admin"]}
        return pool.call(service, "reload_list_index", context=context)["documents"]
    finally:
        pool.close()


def execution_documents(count: int, seed: int = 11) -> list[dict[str, Any]]:
    """``count`` finished or queued executions in the shape the runner stores."""
    from bson import ObjectId

    rng = random.Random(seed)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    models = [str(ObjectId()) for _ in range(200)]
    statuses = ["succeeded"] * 8 + ["failed", "timed_out", "cancelled", "queued"]
    docs = []
    for i in range(count):
        created = base + timedelta(seconds=i * 90 + rng.randint(0, 60))
        status = rng.choice(statuses)
        duration = round(rng.uniform(0.2, 30), 3)
        done = status != "queued"
        docs.append({
            "status": status, "trigger": rng.choice(["manual", "schedule", "api", "rerun"]),
            "model_id": rng.choice(models), "deployment_id": None,
            "department": rng.choice(DEPARTMENTS), "region": rng.choice(REGIONS),
            "created_by": rng.choice(["datascientist", "business"]), "parameters": {},
            "input": {"rows": rng.randint(1, 5000), "filename": "input.csv"},
            "created_at": created,
            "started_at": created + timedelta(seconds=1) if done else None,
            "finished_at": created + timedelta(seconds=1 + duration) if done else None,
            "duration_s": duration if done else None, "attempt": 1, "published": True,
        })
    return docs


def bench_executions(plat: Platform, report: Report, rounds: int, count: int) -> None:
    """GET /executions at ``count`` executions (the Exécutions page) vs one GET /models/{id}."""
    import pymongo
    import requests

    client = pymongo.MongoClient(plat.mongo_uri, tz_aware=True)
    session = requests.Session()
    try:
        collection = client[plat.mongo_db]["executions"]
        began = time.monotonic()
        docs = execution_documents(count)
        for start in range(0, len(docs), 2000):
            collection.insert_many(docs[start:start + 2000], ordered=False)
        report.note(f"setup: {count} executions bulk-inserted in "
                    f"{time.monotonic() - began:.1f} s; the runner's list index reloaded "
                    f"({reload_list_index(plat, 'runner')} executions)")
        one_id = next(client[plat.mongo_db]["models"].find({}, {"_id": 1}).limit(1))["_id"]

        def get(path, params=None):
            def call():
                response = session.get(plat.api(path), params=params, timeout=120,
                                       headers=plat.stack.auth(plat.token()))
                response.raise_for_status()
                return response.json()
            return call

        shapes = [("default", {}), ("status", {"status": "failed"}),
                  ("period", {"from": "2026-02-01T00:00:00Z", "to": "2026-02-08T00:00:00Z",
                              "department": "Finance"}),
                  ("deep", {"sort": "duration_s", "page": 200})]
        for label, params in shapes:
            paths = {"list": get("/executions", {**params, "per_page": 20}),
                     "get_one": get(f"/models/{one_id}")}
            for fn in paths.values():
                _timed(fn, 2)
            samples: dict[str, list[float]] = {p: [] for p in paths}
            ratios = []
            for _ in range(rounds):
                got = {p: _timed(fn, 6) for p, fn in paths.items()}
                for p, values in got.items():
                    samples[p] += values
                ratios.append(percentile(got["list"], 95) / percentile(got["get_one"], 95))
            abs_ = {p: summarize(v) for p, v in samples.items()}
            report.figure(
                f"executions_{label}",
                f"GET /executions p50 {fmt(abs_['list']['p50_ms'])} ms p95 "
                f"{fmt(abs_['list']['p95_ms'])} ms vs one GET /models/{{id}} p95 "
                f"{fmt(abs_['get_one']['p95_ms'])} ms: x{fmt(median(ratios))} (target <= 3), "
                f"{count} executions", params=params, absolute=abs_,
                ratio_list_over_get_one_p95=median(ratios), executions=count)
    finally:
        client.close()
        session.close()


def bench_lists_concurrent(plat: Platform, report: Report, rounds: int, clients: int,
                           seconds: float) -> None:
    """``clients`` closed-loop clients on one list shape, then on one GET /models/{id}:
    p95 and requests/s under load, the list against the single read in the same round."""
    import requests

    first = requests.get(plat.api("/models"), params={"per_page": 1}, timeout=60,
                         headers=plat.stack.auth(plat.token()))
    first.raise_for_status()
    one_id = first.json()["items"][0]["id"]

    def client(path: str, params: dict[str, Any] | None = None):
        def make():
            session = requests.Session()

            def call():
                response = session.get(plat.api(path), params=params, timeout=120,
                                       headers=plat.stack.auth(plat.token()))
                response.raise_for_status()
            return call
        return make

    for label, params, _ in QUERIES:
        if label not in ("default", "filter", "search"):
            continue
        paths = {"list": client("/models", params), "get_one": client(f"/models/{one_id}")}
        per_round: dict[str, list[dict[str, Any]]] = {p: [] for p in paths}
        for rnd in range(rounds):
            order = list(paths) if rnd % 2 == 0 else list(reversed(paths))
            for name in order:
                per_round[name].append(load_generate(paths[name], clients, seconds,
                                                     warmup=2))
        ratio = median([per_round["list"][i]["p95_ms"] / per_round["get_one"][i]["p95_ms"]
                        for i in range(rounds)])
        rps = {p: median([r["rps"] for r in runs]) for p, runs in per_round.items()}
        p95 = {p: median([r["p95_ms"] for r in runs]) for p, runs in per_round.items()}
        errors = sum(r["errors"] for runs in per_round.values() for r in runs)
        report.figure(
            f"list_{label}_c{clients}",
            f"{clients} clients: list p95 {fmt(p95['list'])} ms, {fmt(rps['list'])} req/s | "
            f"GET /models/{{id}} p95 {fmt(p95['get_one'])} ms, {fmt(rps['get_one'])} req/s | "
            f"p95 ratio x{fmt(ratio)} (target <= 3) | errors {errors}",
            params=params, per_round=per_round, ratio_list_over_get_one_p95=ratio,
            rps=rps, clients=clients, errors=errors)


def _timed(fn, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        began = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - began)
    return samples


def bench_lists(plat: Platform, report: Report, rounds: int, requests_per: int) -> None:
    import pymongo
    import requests

    from services.gateway.rpc import RpcPool
    from services.registry.domain import build_list_query

    session = requests.Session()
    pool = RpcPool({"AMQP_URI": plat.amqp_uri}, timeout=30, size=1)
    client = pymongo.MongoClient(plat.mongo_uri, tz_aware=True)
    models = client[plat.mongo_db]["models"]
    context = {"request_id": "bench", "username": "datascientist", "roles": ["data-scientist"]}

    def gateway_call(params):
        def call():
            headers = plat.stack.auth(plat.token())
            response = session.get(plat.api("/models"), params=params, headers=headers,
                                   timeout=60)
            response.raise_for_status()
            return response.json()
        return call

    one_id = next(models.find({}, {"_id": 1}).limit(1))["_id"]

    def get_one():
        headers = plat.stack.auth(plat.token())
        response = session.get(plat.api(f"/models/{one_id}"), headers=headers, timeout=60)
        response.raise_for_status()
        return response.json()

    def rpc_call(query):
        return lambda: pool.call("registry", "list_models", dict(query), context=context)

    def mongo_call(query):
        parsed = build_list_query(dict(query))

        def call():
            began = time.perf_counter()
            total = models.count_documents(parsed.filter)
            counted = time.perf_counter()
            items = list(models.find(parsed.filter).sort(parsed.sort)
                         .skip(parsed.skip).limit(parsed.per_page))
            split["count"].append(counted - began)
            split["find"].append(time.perf_counter() - counted)
            return total, items
        return call

    try:
        for label, params, query in QUERIES:
            split: dict[str, list[float]] = {"count": [], "find": []}
            paths = {"gateway": gateway_call(params), "rpc": rpc_call(query),
                     "pymongo": mongo_call(query), "get_one": get_one}
            # Same answer on every path, or the comparison means nothing.
            g, r = paths["gateway"](), paths["rpc"]()
            total, items = paths["pymongo"]()
            ids = [str(d["_id"]) for d in items]
            if not (g["total"] == r["total"] == total
                    and [m["id"] for m in g["items"]] == [m["id"] for m in r["items"]] == ids):
                report.note(f"{label}: the three paths disagree (gateway total {g['total']}, "
                            f"rpc {r['total']}, pymongo {total})")
            for fn in paths.values():  # warm-up
                _timed(fn, 2)
            # Slow queries (seconds on the embedded DB) get fewer calls per round so the
            # benchmark stays within a few minutes; p95 of few samples is rough.
            one = median(_timed(paths["pymongo"], 1) + _timed(paths["gateway"], 1))
            n = requests_per if one < 0.5 else max(3, requests_per // 2)
            split = {"count": [], "find": []}
            samples: dict[str, list[float]] = {p: [] for p in paths}
            per_round: dict[str, list[dict[str, float]]] = {p: [] for p in paths}
            for rnd in range(rounds):
                order = list(paths)
                random.Random(rnd).shuffle(order)  # no path always runs first
                for path in order:
                    got = _timed(paths[path], n)
                    samples[path] += got
                    per_round[path].append(summarize(got))
            ratio_gw_mongo_p50 = median([per_round["gateway"][i]["p50_ms"]
                                         / per_round["pymongo"][i]["p50_ms"]
                                         for i in range(rounds)])
            ratio_gw_mongo_p95 = median([per_round["gateway"][i]["p95_ms"]
                                         / per_round["pymongo"][i]["p95_ms"]
                                         for i in range(rounds)])
            ratio_gw_rpc_p50 = median([per_round["gateway"][i]["p50_ms"]
                                       / per_round["rpc"][i]["p50_ms"] for i in range(rounds)])
            ratio_rpc_mongo_p50 = median([per_round["rpc"][i]["p50_ms"]
                                          / per_round["pymongo"][i]["p50_ms"]
                                          for i in range(rounds)])
            ratio_get_one_p95 = median([per_round["gateway"][i]["p95_ms"]
                                        / per_round["get_one"][i]["p95_ms"]
                                        for i in range(rounds)])
            abs_ = {p: summarize(s) for p, s in samples.items()}
            report.figure(
                f"list_{label}",
                f"gateway p50 {fmt(abs_['gateway']['p50_ms'])} ms p95 "
                f"{fmt(abs_['gateway']['p95_ms'])} ms | vs one GET /models/{{id}} p95 "
                f"{fmt(abs_['get_one']['p95_ms'])} ms: x{fmt(ratio_get_one_p95)} (target <= 3) "
                f"| rpc p50 {fmt(abs_['rpc']['p50_ms'])} ms "
                f"p95 {fmt(abs_['rpc']['p95_ms'])} ms | pymongo p50 "
                f"{fmt(abs_['pymongo']['p50_ms'])} ms p95 {fmt(abs_['pymongo']['p95_ms'])} ms | "
                f"gateway/pymongo p50 x{fmt(ratio_gw_mongo_p50)} p95 x{fmt(ratio_gw_mongo_p95)} | "
                f"gateway/rpc p50 x{fmt(ratio_gw_rpc_p50)} | rpc/pymongo p50 "
                f"x{fmt(ratio_rpc_mongo_p50)} | pymongo split: count p50 "
                f"{fmt(percentile(split['count'], 50) * 1000)} ms, find p50 "
                f"{fmt(percentile(split['find'], 50) * 1000)} ms | matched={total} "
                f"n={n}x{rounds}/path",
                params=params, absolute=abs_, per_round=per_round,
                ratio_gateway_over_get_one_p95=ratio_get_one_p95,
                ratio_gateway_over_pymongo_p50=ratio_gw_mongo_p50,
                ratio_gateway_over_pymongo_p95=ratio_gw_mongo_p95,
                ratio_gateway_over_rpc_p50=ratio_gw_rpc_p50,
                ratio_rpc_over_pymongo_p50=ratio_rpc_mongo_p50, matched=total,
                pymongo_count=summarize(split["count"]), pymongo_find=summarize(split["find"]),
            )
    finally:
        pool.close()
        client.close()
        session.close()


def bench_rpc_roundtrip(plat: Platform, report: Report, rounds: int, calls: int) -> None:
    from nameko.standalone.rpc import ClusterRpcProxy

    from bench.kombu_echo import KombuEchoClient, KombuNamekoClient
    from services.gateway.rpc import RpcPool

    progress(NAME, "starting the echo services (nameko ServiceRunner, bare kombu)")
    nameko_server = start_helper("bench.echo_service", plat.amqp_uri)
    kombu_server = start_helper("bench.kombu_echo", plat.amqp_uri)
    kombu_server_opts = start_helper("bench.kombu_echo", plat.amqp_uri, "--like-nameko")
    pool = RpcPool({"AMQP_URI": plat.amqp_uri}, timeout=30, size=1)
    proxy = ClusterRpcProxy({"AMQP_URI": plat.amqp_uri}, timeout=30)
    cluster = proxy.start()
    kombu = KombuEchoClient(plat.amqp_uri)
    kombu_opts = KombuEchoClient(plat.amqp_uri, like_nameko=True)
    mixed = KombuNamekoClient(plat.amqp_uri)
    context = {"request_id": "bench", "request_uid": "bench", "client": "127.0.0.1",
               "username": "bench", "roles": ["admin"]}
    try:
        # "gateway": the gateway's own client (RpcPool, with a context like a request's);
        # "kombu->nameko": a bare kombu caller of the same nameko service, its baseline.
        paths = {"gateway": lambda: pool.call("bench_echo", "echo", "x", context=context),
                 "kombu->nameko": lambda: mixed.call_method("bench_echo", "echo", "x"),
                 "nameko": lambda: cluster.bench_echo.echo("x"),
                 "kombu": lambda: kombu.call("x"),
                 # bare kombu with nameko's publish options (confirms, persistent, durable)
                 "kombu+opts": lambda: kombu_opts.call("x")}
        for fn in paths.values():
            _timed(fn, 20)
        per_round: dict[str, list[dict[str, float]]] = {p: [] for p in paths}
        samples: dict[str, list[float]] = {p: [] for p in paths}
        for rnd in range(rounds):
            order = list(paths)
            random.Random(rnd).shuffle(order)
            for path in order:
                got = _timed(paths[path], calls)
                samples[path] += got
                per_round[path].append(summarize(got))

        def ratio(over: str, base: str, stat: str = "p50_ms") -> float:
            return median([per_round[over][i][stat] / per_round[base][i][stat]
                           for i in range(rounds)])

        abs_ = {p: summarize(s) for p, s in samples.items()}
        ratio_p50, ratio_p95 = ratio("gateway", "kombu->nameko"), ratio(
            "gateway", "kombu->nameko", "p95_ms")
        report.figure(
            "rpc_roundtrip",
            f"gateway RpcPool p50 {fmt(abs_['gateway']['p50_ms'])} ms p95 "
            f"{fmt(abs_['gateway']['p95_ms'])} ms | bare kombu client of the same nameko "
            f"service p50 {fmt(abs_['kombu->nameko']['p50_ms'])} ms p95 "
            f"{fmt(abs_['kombu->nameko']['p95_ms'])} ms | gateway/kombu->nameko p50 "
            f"x{fmt(ratio_p50)} p95 x{fmt(ratio_p95)} (target <= 1.2) | nameko's "
            f"ClusterRpcProxy p50 {fmt(abs_['nameko']['p50_ms'])} ms, "
            f"x{fmt(ratio('nameko', 'kombu->nameko'))} over kombu->nameko | bare kombu echo "
            f"p50 {fmt(abs_['kombu']['p50_ms'])} ms (the nameko server's share: "
            f"kombu->nameko/kombu x{fmt(ratio('kombu->nameko', 'kombu'))}) | kombu with "
            f"nameko's publish options (confirms, persistent, durable) "
            f"x{fmt(ratio('kombu+opts', 'kombu'))} over bare kombu",
            absolute=abs_, per_round=per_round, ratio_p50=ratio_p50, ratio_p95=ratio_p95,
            ratio_cluster_rpc_proxy_over_kombu_nameko_p50=ratio("nameko", "kombu->nameko"),
            ratio_nameko_server_with_kombu_client_p50=ratio("kombu->nameko", "kombu"),
            ratio_kombu_with_nameko_options_p50=ratio("kombu+opts", "kombu"),
            target_ratio=1.2,
        )
    finally:
        pool.close()
        kombu.close()
        kombu_opts.close()
        mixed.close()
        proxy.stop()
        stop_helper(nameko_server)
        stop_helper(kombu_server)
        stop_helper(kombu_server_opts)


def bench_upload(plat: Platform, report: Report, rounds: int, uploads: int) -> None:
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    import requests

    from shared.config import ROOT
    from shared.testing import modelfiles as mf

    directory = Path(tempfile.mkdtemp(prefix="bench-upload-"))
    model_path = mf.write_joblib(directory, mf.fitted_logreg(), name="iris.joblib")
    session = requests.Session()
    headers = plat.stack.auth(plat.token())

    def upload_until_ready() -> float:
        response = session.post(plat.api("/models"), headers=headers, timeout=60, json={
            "name": f"bench-upload-{random.randrange(10**9)}", "type": "classification",
            "framework": "scikit-learn", "department": "Bench", "region": "EMEA"})
        response.raise_for_status()
        model_id = response.json()["id"]
        began = time.perf_counter()
        with open(model_path, "rb") as handle:
            response = session.put(plat.api(f"/models/{model_id}/file"), headers=headers,
                                   timeout=120, files={"file": (model_path.name, handle)})
        took = time.perf_counter() - began
        if response.status_code != 200 or response.json().get("status") != "ready":
            raise RuntimeError(f"upload: HTTP {response.status_code} {response.text[:300]}")
        return took

    def cold_child() -> float:
        began = time.perf_counter()
        subprocess.run([sys.executable, "-m", "shared.modelfile.inspect", str(model_path)],
                       cwd=str(ROOT), check=True, capture_output=True, timeout=120)
        return time.perf_counter() - began

    upload_until_ready()  # the first one may wait for the registry's zygote to be up
    gateway: list[float] = []
    cold: list[float] = []
    ratios: list[float] = []
    for _ in range(rounds):
        round_gateway = [upload_until_ready() for _ in range(uploads)]
        round_cold = [cold_child() for _ in range(max(1, uploads // 4))]
        gateway += round_gateway
        cold += round_cold
        ratios.append(median(round_gateway) / median(round_cold))
    report.figure(
        "upload_until_ready",
        f"p50 {fmt(median(gateway) * 1000, 0)} ms, p95 {fmt(percentile(gateway, 95) * 1000, 0)} ms "
        f"(target < 300 ms); a cold inspector child alone p50 "
        f"{fmt(median(cold) * 1000, 0)} ms; ratio ×{fmt(median(ratios))}",
        upload=summarize(gateway), cold_child=summarize(cold), ratio=median(ratios),
        target_ms=300)


def run(argv: list[str] | None = None) -> Report:
    models = env_int("BENCH_MODELS", 10_000)
    rounds = env_int("BENCH_ROUNDS", 5)
    requests_per = env_int("BENCH_REQUESTS", 8)
    rpc_calls = env_int("BENCH_RPC_CALLS", 300)
    uploads = env_int("BENCH_UPLOADS", 8)
    executions = env_int("BENCH_EXECUTIONS", 100_000)
    report = Report(NAME, params={
        "models": models, "rounds": rounds, "requests_per_path_per_round": requests_per,
        "rpc_calls_per_round": rpc_calls,
        "client": "sequential: one requests.Session (keep-alive), one RpcPool lease, "
                  "one pymongo client; one request in flight at a time",
    })
    clients = env_int("BENCH_LIST_CLIENTS", 16)
    parts = os.environ.get("BENCH_REGISTRY_PARTS",
                           "lists,concurrent,executions,rpc,upload").split(",")
    report.params["parts"] = parts
    with platform(NAME) as plat:
        if "lists" in parts:
            progress(NAME, f"inserting {models} model documents")
            took = insert_models(plat, models)
            report.note(f"setup: {models} models bulk-inserted and indexed in {took:.1f} s "
                        "(not measured)")
            progress(NAME, "list/filter latencies")
            bench_lists(plat, report, rounds, requests_per)
        if "concurrent" in parts:
            if "lists" not in parts:
                insert_models(plat, models)
            progress(NAME, f"lists under {clients} concurrent clients")
            bench_lists_concurrent(plat, report, min(rounds, 3), clients,
                                   env_float("BENCH_CONCURRENT_S", 6.0))
        if "executions" in parts:
            progress(NAME, f"the Exécutions list at {executions} executions")
            if "lists" not in parts:
                insert_models(plat, 10)
            bench_executions(plat, report, rounds, executions)
        if "rpc" in parts:
            progress(NAME, "RPC round trip")
            bench_rpc_roundtrip(plat, report, rounds, rpc_calls)
        if "upload" in parts:
            progress(NAME, "upload of a small model file until ready")
            bench_upload(plat, report, rounds, uploads)
    report.write()
    return report

