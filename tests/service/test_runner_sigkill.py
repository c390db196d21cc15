"""A runner started as a real ``nameko run`` process is killed with SIGKILL in the
middle of a run: the execution must not stay ``running``; another replica retries
it (attempt 2). A run lost twice, or lost with no message left, ends ``failed``
("runner lost")."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from bson import ObjectId
from nameko.exceptions import UnknownService
from nameko.testing.services import entrypoint_hook

from services.runner.queue import ExecutionQueue
from services.runner.service import RunnerService
from shared.mongo import utcnow
from shared.testing.runner import (
    FakeDeployer,
    FakeRegistry,
    all_logs,
    slow_input,
    upload,
    wait_final,
)

pytestmark = pytest.mark.service
pytest_plugins = ["shared.testing.runner"]

ROOT = Path(__file__).resolve().parents[2]


def nameko_run(config: dict) -> subprocess.Popen:
    env = {**os.environ, "AMQP_URI": config["AMQP_URI"], "MONGO_URI": config["MONGO_URI"],
           "MONGO_DB": config["MONGO_DB"], "RUNNER_METRICS_PORT": "0", "RUNNER_SLOTS": "1",
           "RUNNER_LEASE_S": str(config["RUNNER_LEASE_S"]), "RUNNER_KILL_GRACE_S": "1",
           "LOG_LEVEL": "WARNING"}
    nameko = str(Path(sys.executable).with_name("nameko"))
    return subprocess.Popen([nameko, "run", "--config", "services/runner/config.yml",
                             "services.runner.service"], cwd=str(ROOT), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _try(call, *args):
    try:
        return call(*args)
    except UnknownService:  # `nameko run` is still starting
        return None


def test_sigkilled_runner_is_retried_by_another_replica(container_factory, runner_config,
                                                        cluster, make_model, store):
    for fake in (FakeRegistry, FakeDeployer):
        container_factory(fake, runner_config).start()
    model = make_model()
    ref = upload(store, slow_input(1200), "csv")
    process = nameko_run(runner_config)
    try:
        request = {"model_id": model["id"], "input": {"artifact": ref},
                   "parameters": {"batch_size": 1}}
        execution = wait_for(lambda: _try(cluster.runner.create_execution, request), 60,
                             "the subprocess runner to answer")
        wait_for(lambda: any("batch 1" in line["message"]
                             for line in all_logs(cluster, execution["id"])), 40,
                 "the subprocess runner to start scoring")
        running = cluster.runner.get_execution(execution["id"])
        assert running["status"] == "running" and running["attempt"] == 1
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()

    # Another replica gets the un-acked message, waits out the lease and retries.
    container_factory(RunnerService, runner_config).start()
    done = wait_final(cluster, execution["id"], timeout=90)
    assert done["status"] == "succeeded", done
    assert done["attempt"] == 2 and done["result"]["rows"] == 1200
    messages = [line["message"] for line in all_logs(cluster, execution["id"])]
    assert any("was lost" in m and "attempt 2" in m for m in messages)


def test_lost_twice_or_without_message_ends_failed(runner, runner_config, cluster, make_model,
                                                   store, mongo_db):
    model = make_model()
    ref = upload(store, slow_input(10), "csv")

    def ghost(attempt: int, expired_s: float) -> str:
        execution = cluster.runner.create_execution({"model_id": model["id"],
                                                     "input": {"artifact": ref}})
        wait_final(cluster, execution["id"])
        mongo_db.executions.update_one({"_id": ObjectId(execution["id"])}, {"$set": {
            "status": "running", "attempt": attempt, "runner_id": "ghost:1:abc",
            "lease_expires_at": utcnow() - timedelta(seconds=expired_s),
            "finished_at": None, "result": None}})
        return execution["id"]

    # redelivered after its second attempt was lost: no third attempt
    twice = ghost(2, 1)
    queue = next(d for d in runner.dependencies if isinstance(d, ExecutionQueue))
    queue.publish(twice)
    done = wait_final(cluster, twice, timeout=20)
    assert done["status"] == "failed" and done["error"].startswith("runner lost")

    # no message left at all: the periodic sweep fails it once the lease is long expired
    orphan = ghost(1, 3600)
    with entrypoint_hook(runner, "sweep") as sweep:
        sweep()
    done = cluster.runner.get_execution(orphan)
    assert done["status"] == "failed" and done["error"].startswith("runner lost")
    # a fresh lease is left alone
    fresh = ghost(1, -30)
    with entrypoint_hook(runner, "sweep") as sweep:
        sweep()
    assert cluster.runner.get_execution(fresh)["status"] == "running"


def test_graceful_stop_gives_running_work_back_to_the_queue(container_factory, runner_config,
                                                             cluster, make_model, store,
                                                             mongo_db):
    config = {**runner_config, "RUNNER_SLOTS": 1}
    for fake in (FakeRegistry, FakeDeployer):
        container_factory(fake, config).start()
    first = container_factory(RunnerService, config)
    first.start()
    model = make_model()
    ref = upload(store, slow_input(1200), "csv")
    execution = cluster.runner.create_execution({"model_id": model["id"],
                                                 "input": {"artifact": ref},
                                                 "parameters": {"batch_size": 1}})
    wait_for(lambda: any("batch 1" in line["message"]
                         for line in all_logs(cluster, execution["id"])), 40, "scoring")
    first.stop()  # SIGTERM of `nameko run`: the run is handed back, not lost
    # (no runner answers RPC now: read the database)
    doc = mongo_db.executions.find_one({"_id": ObjectId(execution["id"])})
    assert doc["status"] == "queued" and doc["attempt"] == 0

    container_factory(RunnerService, config).start()
    done = wait_final(cluster, execution["id"], timeout=60)
    assert done["status"] == "succeeded" and done["attempt"] == 1
    messages = [line["message"] for line in all_logs(cluster, execution["id"])]
    assert any("given back to the queue" in m for m in messages)
