"""Dashboard and reports at 10,000 models and 100,000 executions, through the gateway,
against one ``GET /models/{id}`` through the same gateway in the same run.

Setup (timed, not part of the ratios): the platform is started by the e2e stack
fixture; ``BENCH_MODELS`` (10,000) model documents and ``BENCH_EXECUTIONS``
(100,000) finished execution documents are bulk-inserted straight into the
registry's ``models`` and the runner's ``executions`` collections, in the shape those
services store (direct loading, for this benchmark only: 100,000 runs through the
sandbox would take hours). The reporting service then rebuilds its read side from
the services' ``export_*`` RPCs (``POST /api/v1/reports/rebuild``) — that rebuild is
timed and reported: it is the real code path.

Measured, ``BENCH_ROUNDS`` rounds of ``BENCH_REQUESTS`` sequential requests per path
(one ``requests.Session``, keep-alive, a real token), paths shuffled in each round:
``GET /models/{id}`` (baseline), ``GET /dashboard`` and each report with its default
parameters (execution-trends also with ``interval=hour``). Figure: p95 of each path
over the baseline's p95, median over rounds (target ≤ 3).
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.common import (
    Platform,
    Report,
    env_int,
    fmt,
    median,
    platform,
    progress,
    summarize,
)
from bench.registry import insert_models, reload_list_index

NAME = "reporting"
STATUSES = ["succeeded"] * 8 + ["failed", "cancelled"]
TRIGGERS = ["manual", "schedule", "api", "rerun"]


def execution_documents(models: list[dict[str, Any]], count: int, seed: int = 11):
    """``count`` finished executions over the last 30 days, as the runner stores them."""
    from bson import ObjectId

    rng = random.Random(seed)
    now = datetime.now(UTC)
    for _ in range(count):
        model = rng.choice(models)
        created = now - timedelta(seconds=rng.randint(60, 30 * 86400))
        duration = round(rng.lognormvariate(0.5, 1.0), 3)
        status = rng.choice(STATUSES)
        rows = rng.randint(10, 5000)
        yield {
            "_id": ObjectId(), "status": status, "trigger": rng.choice(TRIGGERS),
            "model_id": str(model["_id"]), "model_name": model["name"],
            "model_version": model["version"], "department": model["department"],
            "region": model["region"], "deployment_id": None, "parameters": {},
            "unused_parameters": [], "input": {"rows": rows, "format": "csv"},
            "created_at": created, "created_by": "datascientist",
            "started_at": created + timedelta(seconds=1),
            "finished_at": created + timedelta(seconds=1 + duration),
            "duration_s": duration,
            "error": None if status == "succeeded" else "bench",
            "result": {"rows": rows, "format": "csv"} if status == "succeeded" else None,
            "rerun_of": None, "attempt": 1, "cancel_requested": False, "published": True,
        }


def seed(plat: Platform, models: int, executions: int) -> tuple[float, float, str]:
    import pymongo

    took_models = insert_models(plat, models)
    client = pymongo.MongoClient(plat.mongo_uri, tz_aware=True)
    try:
        db = client[plat.mongo_db]
        stored = list(db["models"].find({}, {"name": 1, "version": 1, "department": 1,
                                             "region": 1}))
        began = time.monotonic()
        batch = []
        for doc in execution_documents(stored, executions):
            batch.append(doc)
            if len(batch) == 2000:
                db["executions"].insert_many(batch, ordered=False)
                batch = []
        if batch:
            db["executions"].insert_many(batch, ordered=False)
        reload_list_index(plat, "runner")  # written behind the runner's back
        return took_models, time.monotonic() - began, str(stored[0]["_id"])
    finally:
        client.close()


def rebuild(plat: Platform, session) -> float:
    def headers():  # a rebuild outlives an access token: Stack.token renews it
        return plat.stack.auth(plat.token("admin", "admin123"))

    began = time.monotonic()
    asked = session.post(plat.api("/reports/rebuild"), headers=headers(), timeout=60)
    asked.raise_for_status()
    while True:
        time.sleep(1)
        answer = session.get(plat.api("/reports/rebuild"), headers=headers(), timeout=60)
        if answer.status_code != 200:  # the database is busy with the rebuild: ask again
            continue
        state = answer.json()
        if state["state"] in ("succeeded", "failed") and not state["requested"] and \
                state["finished_at"] and state["started_at"] and \
                datetime.fromisoformat(state["started_at"].replace("Z", "+00:00")) \
                >= datetime.now(UTC) - timedelta(seconds=time.monotonic() - began + 5):
            if state["state"] == "failed":
                raise RuntimeError(f"rebuild failed: {state['error']}")
            return time.monotonic() - began
        if time.monotonic() - began > 1800:
            raise RuntimeError("rebuild did not finish in 30 minutes")


def run(argv: list[str] | None = None) -> Report:
    import requests

    models = env_int("BENCH_MODELS", 10_000)
    executions = env_int("BENCH_EXECUTIONS", 100_000)
    rounds = env_int("BENCH_ROUNDS", 5)
    per = env_int("BENCH_REQUESTS", 10)
    report = Report(NAME, params={"models": models, "executions": executions,
                                  "rounds": rounds, "requests_per_path_per_round": per,
                                  "client": "sequential: one requests.Session (keep-alive)"})
    with platform(NAME) as plat:
        progress(NAME, f"inserting {models} models and {executions} executions")
        took_models, took_execs, model_id = seed(plat, models, executions)
        report.note(f"setup: {models} models in {took_models:.1f} s, {executions} executions "
                    f"in {took_execs:.1f} s (bulk-inserted)")
        session = requests.Session()
        progress(NAME, "rebuilding the read side from the services")
        took = rebuild(plat, session)
        report.figure("rebuild", f"rebuild from the services' export RPCs: {fmt(took, 1)} s "
                      f"for {models} models + {executions} executions", seconds=took)
        dashboard = session.get(plat.api("/dashboard"), headers=plat.stack.auth(plat.token()),
                                timeout=60).json()
        if dashboard["counts"]["executions"] != executions or \
                dashboard["counts"]["models"] != models:
            report.note(f"the dashboard disagrees with the seed: {dashboard['counts']}")
        paths = {
            "model_get": f"/models/{model_id}",
            "dashboard": "/dashboard",
            "model_performance": "/reports/model-performance",
            "execution_trends_day": "/reports/execution-trends",
            "execution_trends_hour": "/reports/execution-trends?interval=hour",
            "department_usage": "/reports/department-usage",
            "deployment_status": "/reports/deployment-status",
        }

        def call(path):
            response = session.get(plat.api(path), headers=plat.stack.auth(plat.token()),
                                   timeout=60)
            response.raise_for_status()

        for path in paths.values():
            call(path)
            call(path)
        samples: dict[str, list[float]] = {p: [] for p in paths}
        per_round: dict[str, list[dict[str, float]]] = {p: [] for p in paths}
        for rnd in range(rounds):
            order = list(paths)
            random.Random(rnd).shuffle(order)
            for name in order:
                got = []
                for _ in range(per):
                    began = time.perf_counter()
                    call(paths[name])
                    got.append(time.perf_counter() - began)
                samples[name] += got
                per_round[name].append(summarize(got))
        absolute = {p: summarize(s) for p, s in samples.items()}
        base = absolute["model_get"]
        report.figure("baseline_model_get", f"GET /models/{{id}} p50 {fmt(base['p50_ms'])} ms "
                      f"p95 {fmt(base['p95_ms'])} ms", absolute=base)
        for name in paths:
            if name == "model_get":
                continue
            ratio = median([per_round[name][i]["p95_ms"] / per_round["model_get"][i]["p95_ms"]
                            for i in range(rounds)])
            report.figure(name, f"p50 {fmt(absolute[name]['p50_ms'])} ms p95 "
                          f"{fmt(absolute[name]['p95_ms'])} ms | p95 / GET /models/{{id}} p95 "
                          f"x{fmt(ratio)} (target <= 3)", absolute=absolute[name],
                          ratio_p95=ratio, target_ratio=3)
        session.close()
    report.write()
    return report
