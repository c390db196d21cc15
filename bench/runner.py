"""Runner: batch scoring of a 1,000,000-row CSV, and online prediction, against baselines.

Setup (not measured): a synthetic binary-classification table of ``BENCH_ROWS``
(1,000,000) rows x ``BENCH_FEATURES`` (10) float columns written once as CSV; a
RandomForestClassifier (100 trees, max_depth 12) and a LogisticRegression fitted on
20,000 of its rows (DataFrames, so the files carry their feature names), saved with
joblib; the platform started by the e2e stack fixture; each model registered and its
file uploaded through the API (``datascientist`` token).

Batch, ``BENCH_RUNNER_ROUNDS`` (2) rounds per model, the paths interleaved:

* platform: ``POST /models/{id}/executions`` with the CSV as multipart ``file``, then
  ``GET /executions/{id}`` every 0.5 s until final (upload, queue, run, results
  written into the artifact store) — wall time on the client;
* bare script: ``python -m bench.bare_score`` (joblib.load, pandas.read_csv,
  model.predict, DataFrame.to_csv) — wall time of the process;
* child alone: ``python -m services.runner.worker run spec.json`` on the same local
  files (the runner's sandboxed child without the service around it) — wall time;
* in-memory: ``model.predict(frame)`` in this process on the already-read frame.

Online, RandomForest deployment (``BENCH_ONLINE_MODEL``=rf|lr), 1 row and 100 rows per
request, load generator = a small thread pool (``BENCH_CONCURRENCY``, 1 and 4 threads),
each thread with its own ``requests.Session`` (keep-alive), for ``BENCH_ONLINE_S`` (8 s)
after a warm-up, against:

* gateway: ``POST /api/v1/deployments/{id}/predict`` with a Bearer token;
* mlflow: ``mlflow models serve --env-manager local`` on the same estimator (saved with
  ``mlflow.sklearn.save_model`` from the same joblib file), from ``var/bench-venv``
  (created on first use; never in the project's dependencies), ``POST /invocations``;
* bare: ``model.predict`` in-process, one thread.

Small runs (``bench.small_runs``, ``BENCH_RUNNER_PARTS`` part ``small``): 20-row manual
runs, POST -> succeeded one by one (p50 / p95) and 20 submitted at once, on this
platform (runs forked from the runner's warm zygote) and on a second one started with
``RUNNER_ZYGOTE=0`` (cold children, the baseline), ``BENCH_SMALL_MODEL`` (lr).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import (
    Platform,
    Report,
    env_int,
    fmt,
    load_generate,
    median,
    platform,
    progress,
    summarize,
)
from shared.config import ROOT

NAME = "runner"
BENCH_VENV = ROOT / "var" / "bench-venv"
MLFLOW_PINS = ["mlflow==3.17.2", "scikit-learn==1.9.1", "pandas==3.1.1"]
FINAL = ("succeeded", "failed", "cancelled", "timed_out")


# -- data and models ---------------------------------------------------------------------


def make_data(workdir: Path, rows: int, features: int) -> tuple[Path, Any]:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(42)
    columns = [f"f{i}" for i in range(features)]
    x = rng.normal(size=(rows, features))
    frame = pd.DataFrame(x, columns=columns)
    path = workdir / "input.csv"
    frame.to_csv(path, index=False, float_format="%.6f")
    # What every path reads back (rounded like the file), for the in-memory figure.
    return path, pd.read_csv(path)


def make_models(workdir: Path, frame: Any) -> dict[str, Path]:
    import joblib
    import numpy as np
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(7)
    train = frame.iloc[:20_000]
    weights = rng.normal(size=train.shape[1])
    y = ((train.to_numpy() @ weights + rng.normal(scale=0.5, size=len(train))) > 0).astype(int)
    models = {
        "rf": RandomForestClassifier(n_estimators=100, max_depth=12, random_state=0),
        "lr": LogisticRegression(max_iter=500),
    }
    paths = {}
    for key, model in models.items():
        model.fit(train, y)
        paths[key] = workdir / f"{key}.joblib"
        joblib.dump(model, paths[key])
    return paths


# -- the API -----------------------------------------------------------------------------


class Api:
    def __init__(self, plat: Platform):
        import requests

        self.plat = plat
        self.session = requests.Session()

    def headers(self) -> dict[str, str]:
        return self.plat.stack.auth(self.plat.token())

    def call(self, method: str, path: str, expected: int = 200, **kwargs) -> Any:
        response = self.session.request(method, self.plat.api(path), headers=self.headers(),
                                        timeout=kwargs.pop("timeout", 600), **kwargs)
        if response.status_code != expected:
            raise RuntimeError(f"{method} {path}: HTTP {response.status_code} "
                               f"{response.text[:500]}")
        return response.json() if response.content else None

    def register(self, key: str, model_path: Path) -> str:
        model = self.call("POST", "/models", 201, json={
            "name": f"bench-{key}-{os.getpid()}", "type": "classification",
            "framework": "scikit-learn", "department": "Bench", "region": "EMEA"})
        with open(model_path, "rb") as handle:
            self.call("PUT", f"/models/{model['id']}/file", 200,
                      files={"file": (model_path.name, handle, "application/octet-stream")})
        return model["id"]

    def score(self, model_id: str, csv_path: Path) -> dict[str, Any]:
        """Upload + queue + run + results written; the client's wall time and phases."""
        began = time.perf_counter()
        with open(csv_path, "rb") as handle:
            execution = self.call("POST", f"/models/{model_id}/executions", 201,
                                  files={"file": (csv_path.name, handle, "text/csv")})
        created = time.perf_counter()
        while execution["status"] not in FINAL:
            time.sleep(0.5)
            execution = self.call("GET", f"/executions/{execution['id']}")
        finished = time.perf_counter()
        if execution["status"] != "succeeded":
            raise RuntimeError(f"execution {execution['id']} {execution['status']}: "
                               f"{execution.get('error')}")
        return {"total_s": finished - began, "upload_and_create_s": created - began,
                "runner_duration_s": execution.get("duration_s"),
                "queued_s": _seconds_between(execution.get("created_at"),
                                             execution.get("started_at")),
                "result": execution.get("result"), "id": execution["id"]}

    def deploy(self, model_id: str) -> str:
        deployment = self.call("POST", "/deployments", 201, json={
            "name": f"bench-online-{os.getpid()}", "model_id": model_id, "schedule": None})
        self.call("POST", f"/deployments/{deployment['id']}/start")
        return deployment["id"]


def _seconds_between(a: str | None, b: str | None) -> float | None:
    from datetime import datetime

    if not a or not b:
        return None
    parse = lambda v: datetime.fromisoformat(v.replace("Z", "+00:00"))  # noqa: E731
    return (parse(b) - parse(a)).total_seconds()


# -- batch paths -------------------------------------------------------------------------


def bare_script(model_path: Path, csv_path: Path, workdir: Path) -> dict[str, Any]:
    out = workdir / "bare-out.csv"
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "bench.bare_score", str(model_path),
                           str(csv_path), str(out)], cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError("bare script failed: " + " | ".join(done.stderr.splitlines()[-4:]))
    wall = time.perf_counter() - began
    out.unlink(missing_ok=True)
    return {"total_s": wall, **{f"phase_{k}": v for k, v in
                                json.loads(done.stdout.strip().splitlines()[-1]).items()}}


def child_alone(model_path: Path, csv_path: Path, workdir: Path,
                columns: list[str]) -> dict[str, Any]:
    out = workdir / "child-out.csv"
    spec = workdir / "spec.json"
    spec.write_text(json.dumps({
        "model_path": str(model_path), "model_format": "joblib", "input_path": str(csv_path),
        "input_filename": csv_path.name, "input_format": "csv", "output_path": str(out),
        "output_format": "csv", "batch_size": None, "predict_proba": False,
        "memory_mb": int(os.environ.get("RUNNER_MEMORY_MB", "2048")), "columns": columns,
    }))
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "services.runner.worker", "run", str(spec)],
                          cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - began
    out.unlink(missing_ok=True)
    final = {}
    for line in done.stdout.splitlines():
        try:
            payload = json.loads(line)
        except ValueError:
            continue
        if payload.get("event") in ("done", "error"):
            final = payload
    if final.get("event") != "done":
        raise RuntimeError(f"runner child failed: {final or done.stdout[-800:]}")
    return {"total_s": wall, "child_duration_s": final.get("duration_s"),
            "child_rows_per_s": final.get("rows_per_second"),
            "peak_memory_mb": final.get("peak_memory_mb")}


def in_memory_predict(model: Any, frame: Any) -> float:
    began = time.perf_counter()
    model.predict(frame[list(model.feature_names_in_)])
    return time.perf_counter() - began


def bench_batch(api: Api, report: Report, paths: dict[str, Path], csv_path: Path, frame: Any,
                workdir: Path, rounds: int) -> dict[str, str]:
    import joblib

    model_ids = {}
    columns = list(frame.columns)
    for key, model_path in paths.items():
        model_ids[key] = api.register(key, model_path)
        model = joblib.load(model_path)
        results: dict[str, list[dict[str, Any]]] = {"platform": [], "bare": [], "child": [],
                                                    "memory": []}
        for rnd in range(rounds):
            progress(NAME, f"batch {key}: round {rnd + 1}/{rounds}")
            order = ["platform", "bare", "child", "memory"]
            if rnd % 2:
                order.reverse()
            for path in order:
                if path == "platform":
                    results[path].append(api.score(model_ids[key], csv_path))
                elif path == "bare":
                    results[path].append(bare_script(model_path, csv_path, workdir))
                elif path == "child":
                    results[path].append(child_alone(model_path, csv_path, workdir, columns))
                else:
                    results[path].append({"total_s": in_memory_predict(model, frame)})
            progress(NAME, f"batch {key}: round {rnd + 1}: " + ", ".join(
                f"{p} {results[p][-1]['total_s']:.1f}s" for p in order))
        ratio_platform = median([results["platform"][i]["total_s"] / results["bare"][i]["total_s"]
                                 for i in range(rounds)])
        ratio_child = median([results["child"][i]["total_s"] / results["memory"][i]["total_s"]
                              for i in range(rounds)])
        ratio_child_bare = median([results["child"][i]["total_s"] / results["bare"][i]["total_s"]
                                   for i in range(rounds)])
        med = {p: median([r["total_s"] for r in results[p]]) for p in results}
        runner_s = median([r["runner_duration_s"] or 0 for r in results["platform"]])
        upload_s = median([r["upload_and_create_s"] for r in results["platform"]])
        label = {"rf": "RandomForest", "lr": "LogisticRegression"}[key]
        target = " (target <= 1.2)" if key == "rf" else ""
        report.figure(
            f"batch_{key}",
            f"{label} {len(frame):,} rows: platform {fmt(med['platform'], 1)} s (upload+create "
            f"{fmt(upload_s, 1)} s, runner duration {fmt(runner_s, 1)} s) vs bare script "
            f"{fmt(med['bare'], 1)} s -> x{fmt(ratio_platform)}{target}",
            rows=len(frame), results=results, median_s=med,
            ratio_platform_over_bare=ratio_platform,
        )
        report.figure(
            f"child_{key}",
            f"{label}: runner child alone {fmt(med['child'], 2)} s vs in-memory model.predict "
            f"{fmt(med['memory'], 2)} s -> x{fmt(ratio_child)} (the sandbox's read+batch+write "
            f"and start-up); child/bare script x{fmt(ratio_child_bare)}",
            ratio_child_over_predict=ratio_child, ratio_child_over_bare=ratio_child_bare,
            median_s=med,
        )
    return model_ids


# -- online ------------------------------------------------------------------------------


def bare_predict(model: Any, frame: Any, seconds: float) -> dict[str, Any]:
    samples = []
    features = frame[list(model.feature_names_in_)]
    for _ in range(5):
        model.predict(features)
    stop = time.perf_counter() + seconds
    began = time.perf_counter()
    while time.perf_counter() < stop:
        t0 = time.perf_counter()
        model.predict(features)
        samples.append(time.perf_counter() - t0)
    return {**summarize(samples), "rps": len(samples) / (time.perf_counter() - began),
            "concurrency": 1}


def layer_p50s(api: Api, deployment_id: str, model_path: Path, records: list[dict],
               columns: list[str], seconds: float) -> dict[str, float]:
    """p50 (ms, 1 caller) of each layer under the gateway: the runner by RPC (the
    gateway's own RpcPool, a request's context) and one warm model process over its pipe
    (the runner's own Predictor in this process): the differences say where time goes."""
    from services.gateway.rpc import RpcPool
    from services.runner.predictors import Predictor, PredictorPool

    rpc = RpcPool({"AMQP_URI": api.plat.amqp_uri}, timeout=30, size=1)
    pipe = PredictorPool(lambda: Predictor(str(model_path), "joblib", 2048), 1)
    context = {"request_id": "bench", "request_uid": "bench", "client": "127.0.0.1",
               "username": "datascientist", "roles": ["datascientist"]}
    calls = {"rpc": lambda: rpc.call("runner", "predict", deployment_id, records, {},
                                     context=context),
             "pipe": lambda: pipe.predict(records, columns, False, 30)}
    try:
        result = {}
        for name, call in calls.items():
            got = load_generate(lambda call=call: call, 1, seconds)
            result[name] = got["p50_ms"]
        return result
    finally:
        rpc.close()
        pipe.close()


def ensure_mlflow(report: Report) -> Path | None:
    """``var/bench-venv/bin/mlflow``, creating the venv on first use; None when impossible."""
    mlflow = BENCH_VENV / "bin" / "mlflow"
    if mlflow.exists():
        return mlflow
    progress(NAME, f"installing {', '.join(MLFLOW_PINS)} into {BENCH_VENV} (first use)")
    try:
        subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
        subprocess.run([str(BENCH_VENV / "bin" / "pip"), "install", "--quiet", *MLFLOW_PINS],
                       check=True, timeout=900)
    except (subprocess.SubprocessError, OSError) as exc:
        report.note(f"mlflow could not be installed into {BENCH_VENV}: {exc}")
        return None
    return mlflow if mlflow.exists() else None


class MlflowServer:
    def __init__(self, mlflow: Path, model_path: Path, workdir: Path):
        from scripts.launcher import _die_with_parent
        from shared.embedded_db import free_port

        python = mlflow.parent / "python"
        self.model_dir = workdir / "mlflow-model"
        shutil.rmtree(self.model_dir, ignore_errors=True)
        saved = subprocess.run([str(python), "-c",
                                # cloudpickle: MLflow's default (skops) refuses the
                                # forest's Tree type unless told to trust it.
                                "import sys, joblib, mlflow.sklearn; "
                                "mlflow.sklearn.save_model(joblib.load(sys.argv[1]), "
                                "sys.argv[2], serialization_format='cloudpickle')",
                                str(model_path), str(self.model_dir)],
                               capture_output=True, text=True, cwd=workdir)
        if saved.returncode != 0:
            raise RuntimeError("mlflow.sklearn.save_model failed: "
                               + " | ".join(saved.stderr.strip().splitlines()[-3:]))
        self.port = free_port()
        self.log = open(workdir / "mlflow-serve.log", "wb")
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"file://{workdir}/mlruns",
               "PATH": f"{mlflow.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        env.pop("PYTHONPATH", None)
        self.process = subprocess.Popen(
            [str(mlflow), "models", "serve", "-m", str(self.model_dir), "-h", "127.0.0.1",
             "-p", str(self.port), "--env-manager", "local"],
            stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=workdir,
            preexec_fn=_die_with_parent)
        self.url = f"http://127.0.0.1:{self.port}"
        self._wait()

    def _wait(self, timeout: float = 180) -> None:
        import requests

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mlflow models serve exited {self.process.returncode}; "
                                   f"see {self.log.name}")
            try:
                if requests.get(f"{self.url}/ping", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(1)
        raise RuntimeError("mlflow models serve did not answer /ping in time")

    def stop(self) -> None:
        import signal

        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


def bench_online(api: Api, report: Report, model_key: str, model_id: str, model_path: Path,
                 frame: Any, workdir: Path, seconds: float, concurrencies: list[int]) -> None:
    import joblib
    import requests

    deployment_id = api.deploy(model_id)
    model = joblib.load(model_path)
    mlflow = ensure_mlflow(report)
    server = None
    if mlflow is not None:
        try:
            server = MlflowServer(mlflow, model_path, workdir)
        except (RuntimeError, subprocess.SubprocessError) as exc:
            report.note(f"mlflow models serve unavailable: {exc}")
    try:
        for rows in (1, 100):
            batch = frame.iloc[:rows]
            records = json.loads(batch.to_json(orient="records"))
            gateway_body = json.dumps({"instances": records})
            mlflow_body = json.dumps({"dataframe_records": records})
            url = api.plat.api(f"/deployments/{deployment_id}/predict")
            token = api.plat.token()

            def gateway_call(url=url, token=token, gateway_body=gateway_body):
                session = requests.Session()
                headers = {"Authorization": f"Bearer {token}",
                           "Content-Type": "application/json"}

                def call():
                    r = session.post(url, data=gateway_body, headers=headers, timeout=30)
                    if r.status_code != 200:
                        raise RuntimeError(f"HTTP {r.status_code} {r.text[:200]}")
                return call

            def mlflow_call(mlflow_body=mlflow_body):
                session = requests.Session()

                def call():
                    r = session.post(f"{server.url}/invocations", data=mlflow_body,
                                     headers={"Content-Type": "application/json"}, timeout=30)
                    if r.status_code != 200:
                        raise RuntimeError(f"HTTP {r.status_code} {r.text[:200]}")
                return call

            warm_deadline = time.monotonic() + 120  # the first call starts the model process
            while True:  # (longer than RPC_TIMEOUT_S on a loaded machine: 503 meanwhile)
                try:
                    gateway_call()()  # fail loudly now rather than as a count of errors
                    break
                except RuntimeError as exc:
                    if "HTTP 503" not in str(exc) or time.monotonic() > warm_deadline:
                        raise
                    time.sleep(2)
            if server is not None:
                mlflow_call()()
            bare = bare_predict(model, batch, min(seconds, 4))
            layers = layer_p50s(api, deployment_id, model_path, records,
                                list(model.feature_names_in_), min(seconds, 4))
            for concurrency in concurrencies:
                progress(NAME, f"online {rows} row(s), {concurrency} thread(s)")
                gw = load_generate(gateway_call, concurrency, seconds)
                ml = load_generate(mlflow_call, concurrency, seconds) if server else None
                line = (f"{rows} row(s), {concurrency} thread(s): gateway {fmt(gw['rps'], 0)} "
                        f"req/s p50 {fmt(gw['p50_ms'])} ms p99 {fmt(gw['p99_ms'])} ms")
                if ml:
                    line += (f" | mlflow serve {fmt(ml['rps'], 0)} req/s p50 "
                             f"{fmt(ml['p50_ms'])} ms p99 {fmt(ml['p99_ms'])} ms | gateway/mlflow "
                             f"req/s x{fmt(gw['rps'] / ml['rps'])} (target >= "
                             f"{'1' if concurrency == 1 else '1.5'})")
                else:
                    line += " | mlflow: skipped"
                line += (f" | bare predict p50 {fmt(bare['p50_ms'])} ms ({fmt(bare['rps'], 0)}/s "
                         f"1 thread) -> gateway p50 overhead x{fmt(gw['p50_ms'] / bare['p50_ms'])}"
                         f" (+{fmt(gw['p50_ms'] - bare['p50_ms'])} ms, target <= +3 ms at 1 "
                         f"thread)")
                if concurrency == 1:
                    line += (f" | layers p50 (1 thread): model process over its pipe "
                             f"{fmt(layers['pipe'])} ms, runner.predict by RPC "
                             f"{fmt(layers['rpc'])} ms, gateway {fmt(gw['p50_ms'])} ms")
                if gw["errors"] or (ml and ml["errors"]):
                    line += f" | errors gateway {gw['errors']} mlflow {ml['errors'] if ml else 0}"
                report.figure(f"online_{model_key}_{rows}row_c{concurrency}", line,
                              gateway=gw, mlflow=ml, bare=bare, layers_p50_ms=layers,
                              ratio_rps_gateway_over_mlflow=(gw["rps"] / ml["rps"]) if ml else None,
                              ratio_p50_gateway_over_bare=gw["p50_ms"] / bare["p50_ms"])
    finally:
        if server is not None:
            server.stop()


def bench_small(api: Api, report: Report, paths: dict[str, Path], frame: Any,
                rounds: int) -> None:
    """``small_run``: this platform (warm zygote) against a second one whose runner
    starts every child cold (``RUNNER_ZYGOTE=0``), both up, rounds interleaved."""
    from bench.small_runs import bench_small_runs

    key = os.environ.get("BENCH_SMALL_MODEL", "lr")
    runs = env_int("BENCH_SMALL_RUNS", 10)
    with platform(f"{NAME}-cold", {"RUNNER_ZYGOTE": "0"}) as cold_plat:
        cold = Api(cold_plat)
        apis = {"warm": api, "cold": cold}
        model_ids = {k: a.register(f"small-{key}", paths[key]) for k, a in apis.items()}
        factories = {"warm": lambda: Api(api.plat), "cold": lambda: Api(cold_plat)}
        bench_small_runs(report, apis, model_ids, frame, rounds, runs, factories)


def run(argv: list[str] | None = None) -> Report:
    from bench.common import Skip

    for needed in ("runner", "registry", "deployer"):
        if not (ROOT / "services" / needed / "service.py").exists():
            raise Skip(f"services/{needed} is not there yet")
    if not (ROOT / "services" / "runner" / "worker.py").exists():
        raise Skip("services/runner/worker.py (the runner's child) is not there yet")
    from bench.common import check_broker

    check_broker()  # before minutes of data preparation
    rows = env_int("BENCH_ROWS", 1_000_000)
    features = env_int("BENCH_FEATURES", 10)
    rounds = env_int("BENCH_RUNNER_ROUNDS", 2)
    seconds = float(os.environ.get("BENCH_ONLINE_S", "8"))
    concurrencies = [int(c) for c in os.environ.get("BENCH_CONCURRENCY", "1,4").split(",")]
    online_model = os.environ.get("BENCH_ONLINE_MODEL", "rf")
    parts = os.environ.get("BENCH_RUNNER_PARTS", "batch,online,small").split(",")
    report = Report(NAME, params={
        "rows": rows, "features": features, "rounds": rounds, "online_seconds": seconds,
        "concurrency": concurrencies, "online_model": online_model, "parts": parts,
        "models": {"rf": "RandomForestClassifier(n_estimators=100, max_depth=12)",
                   "lr": "LogisticRegression(max_iter=500)"},
        "load_generator": "thread pool, one requests.Session per thread, closed loop",
    })
    with tempfile.TemporaryDirectory(prefix="bench-runner-") as tmp:
        workdir = Path(tmp)
        progress(NAME, f"writing {rows:,} x {features} CSV and fitting the models")
        csv_path, frame = make_data(workdir, rows, features)
        paths = make_models(workdir, frame)
        report.note(f"setup: input CSV {csv_path.stat().st_size / 1e6:.0f} MB")
        with platform(NAME) as plat:
            api = Api(plat)
            if "batch" in parts:
                model_ids = bench_batch(api, report, paths, csv_path, frame, workdir, rounds)
            elif "online" in parts:
                model_ids = {online_model: api.register(online_model, paths[online_model])}
            if "online" in parts:
                bench_online(api, report, online_model, model_ids[online_model],
                             paths[online_model], frame, workdir, seconds, concurrencies)
            if "small" in parts:
                bench_small(api, report, paths, frame, rounds)
    report.write()
    return report

