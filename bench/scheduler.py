"""Scheduler: ``BENCH_DEPLOYMENTS`` (1,000) active every-minute deployments, 1 then 2 replicas.

Setup (not measured): a fresh vhost and embedded database (on disk, ``--sync-on-commit``
like ``make run``), the registry and the deployer as ``nameko run`` children (the
launcher's ``Child``), one ``ready`` model inserted into the registry's collection,
then the deployments created and started through ``deployer.create_deployment`` /
``start_deployment`` so the scheduler builds its state from the deployer's events.
No runner runs: nothing competes with the scheduler for the two cores but the bench's
own event consumer (the figure is the scheduler's, not the runner's).

Measured per configuration (1 replica, then 2 replicas started after the first one
stopped), over ``BENCH_SCHED_MINUTES`` (2) whole-minute slots starting at the first
minute boundary at least ``BENCH_SCHED_WARMUP_S`` (60 s) after the replicas are up:

* lag p50/p99/max: the time the ``execution_requested`` event reached our consumer
  (a queue bound to ``scheduler.events``) minus its slot time; includes the broker hop;
* duplicates: events beyond the first for one (deployment, slot);
* missing: (deployment, slot) pairs of the window without any event once events stop
  coming (15 s without one) or ``BENCH_SCHED_SETTLE_S`` (180 s) after the window;
* CPU seconds per minute of each scheduler process (``/proc/<pid>/stat`` utime+stime
  over the window).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import (
    Report,
    Skip,
    check_broker,
    env_float,
    env_int,
    fmt,
    fresh_vhost,
    percentile,
    proc_cpu_seconds,
    progress,
)
from shared.config import ROOT

NAME = "scheduler"
SERVICES_NEEDED = ("registry", "deployer", "scheduler")


class EventRecorder:
    """Consumes ``scheduler.events`` / ``execution_requested`` in a thread; keeps
    (received wall time, payload)."""

    def __init__(self, amqp_uri: str):
        from kombu import Connection, Consumer, Queue
        from nameko.standalone.events import get_event_exchange

        self.events: list[tuple[float, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.connection = Connection(amqp_uri)
        channel = self.connection.channel()
        exchange = get_event_exchange("scheduler", {})
        self.queue = Queue("bench.scheduler.execution_requested", exchange=exchange,
                           routing_key="execution_requested", channel=channel,
                           durable=False, auto_delete=True)
        self.queue.declare()
        self.consumer = Consumer(channel, [self.queue], callbacks=[self._on_event],
                                 accept=["json"], no_ack=True)
        self.consumer.consume()
        self.thread = threading.Thread(target=self._loop, name="bench-events", daemon=True)
        self.thread.start()

    def _on_event(self, body: Any, message) -> None:
        received = time.time()
        if isinstance(body, str | bytes):
            body = json.loads(body)
        with self._lock:
            self.events.append((received, body))

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.connection.drain_events(timeout=0.5)
            except TimeoutError:
                continue

    def snapshot(self) -> list[tuple[float, dict[str, Any]]]:
        with self._lock:
            return list(self.events)

    def close(self) -> None:
        self._stop.set()
        self.thread.join(5)
        self.connection.release()


def _metrics_port() -> int:
    from shared.embedded_db import free_port

    return free_port()


def start_service(name: str, env: dict[str, str], log_dir: Path, tag: str = "") -> Any:
    """``nameko run`` of ``services.<name>.service`` as the launcher starts it."""
    import sys

    from scripts.launcher import Child

    port = _metrics_port()
    setting = f"{name.upper()}_METRICS_PORT"
    child_env = {**env, setting: str(port), "METRICS_PORT": str(port)}
    command = [sys.executable, "-m", "nameko", "run", "--config",
               f"services/{name}/config.yml", f"services.{name}.service"]
    child = Child(f"{name}{tag}", command, log_dir / f"{name}{tag}.log",
                  f"http://127.0.0.1:{port}/health", child_env, echo=False)
    child.start()
    return child


def wait_healthy(children: list[Any], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    pending = list(children)
    while pending:
        for child in pending:
            if not child.alive():
                raise RuntimeError(child.crash_report())
        pending = [c for c in pending if not c.healthy()]
        if pending and time.monotonic() > deadline:
            raise RuntimeError("not healthy: " + ", ".join(c.name for c in pending))
        time.sleep(0.5)


def stop_children(children: list[Any], timeout: float = 20) -> None:
    for child in children:
        child.terminate()
    for child in children:
        if child.process is None:
            continue
        try:
            child.process.wait(timeout)
        except Exception:
            child.kill_group()
            child.process.wait(5)


def ready_model(mongo_uri: str, db: str) -> str:
    """One ``ready`` model in the registry's collection (its file is never read here)."""
    import pymongo

    from bench.registry import model_documents

    doc = next(d for d in model_documents(20) if d.get("file"))
    doc.update(name="bench-scheduler-model", status="ready", version="1.0.0")
    client = pymongo.MongoClient(mongo_uri, tz_aware=True)
    try:
        return str(client[db]["models"].insert_one(doc).inserted_id)
    finally:
        client.close()


def create_deployments(amqp_uri: str, model_id: str, count: int, workers: int = 4) -> list[str]:
    from nameko.exceptions import RemoteError

    from services.gateway.rpc import RpcPool

    pool = RpcPool({"AMQP_URI": amqp_uri}, timeout=60, size=workers)
    context = {"request_id": "bench-scheduler", "username": "bench", "roles": ["admin"]}

    def one(i: int) -> str:
        # A few tries: the embedded database's change-log counter can hand one number to
        # two concurrent writers (a duplicate key in ``deployments_changes``) — setup only.
        for attempt in range(3):
            try:
                deployment = pool.call("deployer", "create_deployment", {
                    "name": f"bench-every-minute-{i:04d}-{attempt}", "model_id": model_id,
                    "schedule": "* * * * *", "timezone": "UTC",
                }, context=context)
                break
            except RemoteError:
                if attempt == 2:
                    raise
        for attempt in range(3):
            try:
                pool.call("deployer", "start_deployment", deployment["id"], context=context)
                break
            except RemoteError:
                if attempt == 2:
                    raise
        return deployment["id"]

    try:
        with ThreadPoolExecutor(workers) as executor:
            return list(executor.map(one, range(count)))
    finally:
        pool.close()


def _parse_slot(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def analyse(events: list[tuple[float, dict[str, Any]]], deployment_ids: list[str],
            slots: list[datetime]) -> dict[str, Any]:
    window = set(slots)
    lags: list[float] = []
    seen: Counter[tuple[str, datetime]] = Counter()
    for received, payload in events:
        try:
            slot = _parse_slot(payload["slot"])
        except (KeyError, ValueError, TypeError):
            continue
        if slot not in window:
            continue
        key = (str(payload.get("deployment_id")), slot)
        seen[key] += 1
        if seen[key] == 1:
            lags.append(received - slot.timestamp())
    ids = set(deployment_ids)
    expected = {(d, s) for d in ids for s in slots}
    missing = len(expected - set(seen))
    duplicates = sum(n - 1 for n in seen.values() if n > 1)
    foreign = sum(1 for key in seen if key[0] not in ids)
    return {
        "expected": len(expected), "fired": sum(seen.values()), "missing": missing,
        "duplicates": duplicates, "foreign": foreign,
        "lag_p50_s": percentile(lags, 50), "lag_p99_s": percentile(lags, 99),
        "lag_max_s": max(lags) if lags else float("nan"),
        "lag_min_s": min(lags) if lags else float("nan"),
    }


def measure(label: str, replicas: list[Any], recorder: EventRecorder, deployment_ids: list[str],
            minutes: int, settle_s: float, report: Report,
            others: dict[str, int] | None = None, warmup_s: float = 60) -> None:
    """One configuration; ``others`` = name → pid of processes whose CPU is shown too
    (the database and the deployer also work for every fired slot)."""
    others = others or {}
    now = datetime.now(UTC)
    # A whole minute of warm-up first: the replicas catch up with the slots fired late
    # while they were (re)started, so the window shows the steady state.
    first = (now + timedelta(seconds=warmup_s)).replace(second=0, microsecond=0) \
        + timedelta(minutes=1)
    slots = [first + timedelta(minutes=k) for k in range(minutes)]
    start_cpu_at = first - timedelta(seconds=1)
    progress(NAME, f"{label}: window {slots[0]:%H:%M}..{slots[-1]:%H:%M} UTC "
                   f"({minutes} slot(s)); waiting")
    time.sleep(max(0.0, start_cpu_at.timestamp() - time.time()))
    pids = [c.process.pid for c in replicas]
    cpu0 = [proc_cpu_seconds(pid) for pid in pids]
    other0 = {name: proc_cpu_seconds(pid) for name, pid in others.items()}
    window_end = first + timedelta(minutes=minutes)
    time.sleep(max(0.0, window_end.timestamp() - time.time()))
    cpu1 = [proc_cpu_seconds(pid) for pid in pids]
    other1 = {name: proc_cpu_seconds(pid) for name, pid in others.items()}
    elapsed_min = (time.time() - start_cpu_at.timestamp()) / 60.0
    # Late events of the window's slots still count (as lag), not as missing: wait
    # until all arrived, or none arrived for 15 s, or settle_s passed.
    deadline = time.time() + settle_s
    expected = len(deployment_ids) * minutes
    window = set(slots)
    last_got, last_change = -1, time.time()
    while time.time() < deadline:
        got = sum(1 for _, p in recorder.snapshot()
                  if p.get("slot") and _parse_slot(p["slot"]) in window)
        if got >= expected:
            break
        if got != last_got:
            last_got, last_change = got, time.time()
        elif time.time() - last_change > 15:
            break
        time.sleep(1)
    stats = analyse(recorder.snapshot(), deployment_ids, slots)
    cpu_per_min = [(b - a) / elapsed_min for a, b in zip(cpu0, cpu1, strict=True)]
    other_per_min = {name: (other1[name] - other0[name]) / elapsed_min for name in others}
    for child in replicas:
        if not child.alive():
            report.note(f"{label}: {child.name} died: {child.crash_report()}")
    report.figure(
        label,
        f"{len(deployment_ids)} every-minute deployments x {minutes} slot(s): lag p50 "
        f"{fmt(stats['lag_p50_s'], 3)} s p99 {fmt(stats['lag_p99_s'], 3)} s max "
        f"{fmt(stats['lag_max_s'], 3)} s (target p99 < 1 s) | fired {stats['fired']}/"
        f"{stats['expected']} | duplicates {stats['duplicates']} | missing {stats['missing']} "
        f"| CPU s/min per replica " + ", ".join(fmt(c, 2) for c in cpu_per_min)
        + f" (total {fmt(sum(cpu_per_min), 2)})"
        + "".join(f" | {name} CPU s/min {fmt(v, 2)}" for name, v in other_per_min.items()),
        replicas=len(replicas), slots=[s.isoformat() for s in slots], **stats,
        cpu_seconds_per_minute=cpu_per_min, cpu_seconds_per_minute_total=sum(cpu_per_min),
        other_cpu_seconds_per_minute=other_per_min,
    )


def run(argv: list[str] | None = None) -> Report:
    missing = [n for n in SERVICES_NEEDED if not (ROOT / "services" / n / "service.py").exists()]
    if missing:
        raise Skip(f"services not there yet: {', '.join(missing)}")
    check_broker()
    count = env_int("BENCH_DEPLOYMENTS", 1000)
    minutes = env_int("BENCH_SCHED_MINUTES", 2)
    settle_s = env_float("BENCH_SCHED_SETTLE_S", 180)
    replica_sets = [int(x) for x in os.environ.get("BENCH_SCHED_REPLICAS", "1,2").split(",")]
    report = Report(NAME, params={"deployments": count, "minutes_per_config": minutes,
                                  "replicas": replica_sets, "settle_s": settle_s,
                                  "schedule": "* * * * *", "timezone": "UTC"})
    from shared.config import setting
    from shared.embedded_db import EmbeddedDatabase

    with fresh_vhost(NAME) as amqp_uri, tempfile.TemporaryDirectory(prefix="bench-sched-") as tmp:
        log_dir = Path(tmp) / "log"
        log_dir.mkdir()
        database = EmbeddedDatabase(storage=str(Path(tmp) / "db"),
                                    log_path=str(log_dir / "db.log")).start(timeout=60)
        db_name = setting("MONGO_DB")
        env = {k: v for k, v in os.environ.items()}
        env.update(AMQP_URI=amqp_uri, MONGO_URI=database.uri, MONGO_DB=db_name,
                   PYTHONUNBUFFERED="1",
                   PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT),
                                                            os.environ.get("PYTHONPATH")])))
        base: list[Any] = []
        replicas: list[Any] = []
        recorder = None
        try:
            progress(NAME, "starting registry, deployer and 1 scheduler")
            base = [start_service(name, env, log_dir) for name in ("registry", "deployer")]
            replicas = [start_service("scheduler", env, log_dir, "-a")]
            wait_healthy(base + replicas)
            recorder = EventRecorder(amqp_uri)
            model_id = ready_model(database.uri, db_name)
            progress(NAME, f"creating and starting {count} deployments through the deployer")
            began = time.monotonic()
            deployment_ids = create_deployments(amqp_uri, model_id, count)
            report.note(f"setup: {count} deployments created+started by RPC in "
                        f"{time.monotonic() - began:.1f} s (not measured)")
            for n in replica_sets:
                if len(replicas) != n:
                    stop_children(replicas)
                    replicas = [start_service("scheduler", env, log_dir, f"-{n}{chr(97 + i)}")
                                for i in range(n)]
                    wait_healthy(replicas)
                measure(f"replicas_{n}", replicas, recorder, deployment_ids, minutes,
                        settle_s, report, {"database": database.process.pid,
                                           "deployer": base[1].process.pid},
                        warmup_s=env_float("BENCH_SCHED_WARMUP_S", 60))
        finally:
            if recorder is not None:
                recorder.close()
            stop_children(replicas + base)
            database.stop()
    report.write()
    return report
