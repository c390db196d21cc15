"""The runner's ``small_run`` figure: manual runs of 20 rows, warm zygote vs cold child.

Both platforms are up at once (the second one with ``RUNNER_ZYGOTE=0``: every run's
child starts cold, the baseline), the same model registered on each, the rounds
interleaved. Per round and platform:

* one by one: ``BENCH_SMALL_RUNS`` (10) runs, each ``POST /models/{id}/executions`` with
  ``{"input": {"rows": [20 rows]}}`` then ``GET /executions/{id}`` every 10 ms until
  ``succeeded``: the client's wall time (p50 / p95);
* at once: 20 such POSTs from 20 threads, then one thread polls every unfinished one
  (every 20 ms): the time from the first POST until the last is seen ``succeeded``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from bench.common import fmt, median, percentile, progress

NAME = "runner"
FINAL = ("succeeded", "failed", "cancelled", "timed_out")
BURST = 20


def _rows(frame: Any, n: int = 20) -> list[dict[str, float]]:
    return [{k: float(v) for k, v in row.items()} for row in
            frame.iloc[:n].to_dict(orient="records")]


def _submit(api, model_id: str, rows: list[dict]) -> dict[str, Any]:
    return api.call("POST", f"/models/{model_id}/executions", 201, json={"input": {"rows": rows}})


def _check(execution: dict[str, Any]) -> None:
    if execution["status"] != "succeeded":
        raise RuntimeError(f"small run {execution['id']} {execution['status']}: "
                           f"{execution.get('error')}")


def one_run(api, model_id: str, rows: list[dict]) -> float:
    began = time.perf_counter()
    execution = _submit(api, model_id, rows)
    while execution["status"] not in FINAL:
        time.sleep(0.01)
        execution = api.call("GET", f"/executions/{execution['id']}")
    elapsed = time.perf_counter() - began
    _check(execution)
    return elapsed


def burst(api_factory, model_id: str, rows: list[dict]) -> float:
    """20 runs submitted at once: seconds from the first POST until all succeeded."""
    created: list[dict[str, Any]] = []
    lock = threading.Lock()
    gate = threading.Barrier(BURST + 1)

    def submit():
        api = api_factory()
        gate.wait()
        execution = _submit(api, model_id, rows)
        with lock:
            created.append(execution)

    threads = [threading.Thread(target=submit, daemon=True) for _ in range(BURST)]
    for thread in threads:
        thread.start()
    gate.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    api = api_factory()
    pending = {e["id"] for e in created if e["status"] not in FINAL}
    while pending:
        time.sleep(0.02)
        for eid in list(pending):
            execution = api.call("GET", f"/executions/{eid}")
            if execution["status"] in FINAL:
                _check(execution)
                pending.discard(eid)
    return time.perf_counter() - began


def bench_small_runs(report, apis: dict[str, Any], model_ids: dict[str, str], frame: Any,
                     rounds: int, runs: int, api_factories: dict[str, Any]) -> None:
    """``apis`` / ``model_ids`` / ``api_factories`` keyed ``warm`` and ``cold``."""
    rows = _rows(frame)
    for key in apis:  # the first run of each platform (model download, caches) not counted
        one_run(apis[key], model_ids[key], rows)
    singles: dict[str, list[float]] = {k: [] for k in apis}
    bursts: dict[str, list[float]] = {k: [] for k in apis}
    for rnd in range(rounds):
        order = list(apis) if rnd % 2 == 0 else list(reversed(list(apis)))
        for key in order:
            progress(NAME, f"small runs {key}: round {rnd + 1}/{rounds}")
            singles[key].extend(one_run(apis[key], model_ids[key], rows) for _ in range(runs))
            bursts[key].append(burst(api_factories[key], model_ids[key], rows))
            progress(NAME, f"small runs {key}: p50 {median(singles[key][-runs:]) * 1000:.0f} ms, "
                           f"20 at once {bursts[key][-1]:.2f} s")
    stats = {k: {"p50_ms": median(v) * 1000, "p95_ms": percentile(v, 95) * 1000,
                 "burst_s": median(bursts[k]), "bursts_s": bursts[k], "runs_s": v}
             for k, v in singles.items()}
    warm, cold = stats["warm"], stats.get("cold")
    line = (f"20-row manual run, POST -> succeeded: warm zygote p50 {fmt(warm['p50_ms'], 0)} ms "
            f"p95 {fmt(warm['p95_ms'], 0)} ms (target < 500 ms); 20 at once all done in "
            f"{fmt(warm['burst_s'])} s (target < 3 s)")
    if cold:
        line += (f" | cold child (RUNNER_ZYGOTE=0) p50 {fmt(cold['p50_ms'], 0)} ms p95 "
                 f"{fmt(cold['p95_ms'], 0)} ms, 20 at once {fmt(cold['burst_s'])} s -> "
                 f"x{fmt(cold['p50_ms'] / warm['p50_ms'], 1)} faster one by one, "
                 f"x{fmt(cold['burst_s'] / warm['burst_s'], 1)} at once")
    report.figure("small_run", line, rounds=rounds, runs_per_round=runs, burst=BURST, **stats)
