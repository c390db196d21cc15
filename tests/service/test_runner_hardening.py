"""Issue 11, items 3, 4 and 7 at the runner: strict input rows, user-safe logs, database blips.

Real RabbitMQ, real SecantusDB; the database-outage test starts a private database
(on disk, its own port) and really kills and restarts it.
"""

from __future__ import annotations

import io
import logging
import time
import uuid
from datetime import UTC, datetime, timedelta

import pymongo
import pytest

from services.runner.service import RunnerService
from shared.artifacts import ArtifactStore
from shared.config import ROOT
from shared.errors import InvalidInputData, ServiceUnavailable
from shared.testing.database import EmbeddedDatabase
from shared.testing.runner import (
    FEATURES,
    MODELS,
    FakeDeployer,
    FakeRegistry,
    all_logs,
    iris_frame,
    iris_model,
    joblib_bytes,
    result_frame,
    schema,
    slow_input,
    upload,
    wait_final,
)

pytestmark = pytest.mark.service
pytest_plugins = ["shared.testing.runner"]

HEADER = ",".join(FEATURES)


def csv_ref(store, text: str) -> dict:
    return upload(store, None, "csv", raw=text.encode())


# -- item 3: ragged rows and bad values are never scored silently ------------------------


@pytest.mark.parametrize("ragged", ["5.1,3.5,1.4,0.2,9,9,9", "5.1"])
def test_ragged_csv_refused_at_submission_with_its_line(runner, cluster, make_model, store,
                                                        ragged):
    model = make_model()
    ref = csv_ref(store, f"{HEADER}\n5.1,3.5,1.4,0.2\n{ragged}\n6.0,3.0,4.0,1.2\n")
    with pytest.raises(InvalidInputData) as exc:
        cluster.runner.create_execution({"model_id": model["id"], "input": {"artifact": ref}})
    # (nameko sends the details' numbers over RPC as text)
    assert int(exc.value.details["line"]) == 3
    assert "the header has 4" in exc.value.message


def test_unparseable_value_refused_with_line_and_column(runner, cluster, make_model, store):
    model = make_model()
    ref = csv_ref(store, f"{HEADER}\n5.1,3.5,1.4,0.2\n5.1,abc,1.4,0.2\n")
    with pytest.raises(InvalidInputData) as exc:
        cluster.runner.create_execution({"model_id": model["id"], "input": {"artifact": ref}})
    assert int(exc.value.details["line"]) == 3 and exc.value.details["column"] == "sepal_width"


def test_inline_rows_with_extra_or_missing_keys_refused(runner, cluster, make_model):
    model = make_model()
    good = dict.fromkeys(FEATURES, 1.0)
    for bad in ({**good, "extra": 1}, {k: 1.0 for k in FEATURES[:3]}):
        with pytest.raises(InvalidInputData) as exc:
            cluster.runner.create_execution({"model_id": model["id"],
                                             "input": {"rows": [good, bad]}})
        assert int(exc.value.details["record"]) == 2


def test_skip_bad_rows_scores_the_good_ones_and_reports_each(runner, cluster, make_model,
                                                            store):
    model = make_model()
    ref = csv_ref(store, f"{HEADER}\n5.1,3.5,1.4,0.2\n1,2,3,4,5,6,7\n5.1,x,1.4,0.2\n"
                         f"6.0,3.0,4.0,1.2\n")
    execution = cluster.runner.create_execution({
        "model_id": model["id"], "parameters": {"on_bad_rows": "skip"},
        "input": {"artifact": ref}})
    done = wait_final(cluster, execution["id"])
    assert done["status"] == "succeeded", done
    assert done["result"]["rows"] == 2 and done["result"]["skipped_rows"] == 2
    assert [r["line"] for r in done["result"]["bad_rows"]] == [3, 4]
    messages = [line["message"] for line in all_logs(cluster, execution["id"])]
    assert any("bad row skipped: line 3" in m for m in messages)
    assert any("bad row skipped: line 4" in m and "sepal_width" in m for m in messages)
    assert len(result_frame(cluster, store, execution["id"])) == 2


def test_bad_row_found_by_the_run_fails_it_in_words(container_factory, runner_config, cluster,
                                                    make_model, store):
    config = {**runner_config, "RUNNER_INSPECT_MAX_MB": 0.001}  # only the head is checked
    for fake in (FakeRegistry, FakeDeployer):
        container_factory(fake, config).start()
    container_factory(RunnerService, config).start()
    model = make_model()
    good = iris_frame()[0].to_csv(index=False)
    ref = csv_ref(store, good + "5.1\n")  # a short row, line 152
    execution = cluster.runner.create_execution({"model_id": model["id"],
                                                 "input": {"artifact": ref}})
    done = wait_final(cluster, execution["id"])
    assert done["status"] == "failed"
    assert "line 152" in done["error"] and "header has 4" in done["error"], done["error"]
    assert "Traceback" not in done["error"]


def test_on_bad_rows_parameter_is_validated(runner, cluster, make_model):
    model = make_model()
    with pytest.raises(Exception) as exc:
        cluster.runner.create_execution({"model_id": model["id"],
                                         "parameters": {"on_bad_rows": "ignore"},
                                         "input": {"rows": [dict.fromkeys(FEATURES, 1.0)]}})
    assert "parameters.on_bad_rows" in str(exc.value.args)


# -- item 4: a failed run's log shows the model's error, not the platform ----------------


PLATFORM_MARKERS = (str(ROOT), "site-packages", ".venv", "services/runner", "Traceback",
                    "/tmp/runner-", "MONGO", "AMQP")


def test_failed_run_log_has_no_platform_path(runner, cluster, make_model, caplog):
    model = make_model()
    rows = [dict.fromkeys(FEATURES, "not a number as text")]  # the model raises on predict
    model_entry = MODELS[model["id"]]
    model_entry["input_schema"] = [{"name": n, "type": "string"} for n in FEATURES]
    execution = cluster.runner.create_execution({"model_id": model["id"],
                                                 "input": {"rows": rows}})
    with caplog.at_level(logging.ERROR, logger="services.runner.engine"):
        done = wait_final(cluster, execution["id"])
    assert done["status"] == "failed"
    assert done["error"].startswith("ValueError"), done["error"]
    messages = [line["message"] for line in all_logs(cluster, execution["id"])]
    assert any(m.startswith("ValueError") for m in messages)
    for text in [*messages, done["error"]]:
        for marker in PLATFORM_MARKERS:
            assert marker not in text, (marker, text)
    # the whole traceback is in the runner's service log, with the execution id
    service_log = "\n".join(r.getMessage() for r in caplog.records)
    assert execution["id"] in service_log and "Traceback" in service_log
    assert "services/runner/worker.py" in service_log


# -- item 7: a database blip does not fail a running execution ----------------------------


@pytest.fixture
def private_db(tmp_path):
    database = EmbeddedDatabase(storage=str(tmp_path / "db")).start()
    yield database
    database.stop()


def restart(database: EmbeddedDatabase) -> None:
    again = EmbeddedDatabase(storage=database.storage, port=database.port)
    again.start()
    database.process = again.process


def test_database_killed_mid_run_the_run_rides_it_out(container_factory, rabbit_config,
                                                      private_db):
    db_name = f"blip_{uuid.uuid4().hex[:8]}"
    config = {**rabbit_config, "MONGO_URI": private_db.uri, "MONGO_DB": db_name,
              "METRICS_PORT": 0, "RPC_TIMEOUT_S": 10, "RUNNER_SLOTS": 1, "RUNNER_LEASE_S": 3,
              "RUNNER_KILL_GRACE_S": 1, "RUNNER_LOST_AFTER_S": 120, "RUNNER_DB_RETRY_S": 60,
              "MONGO_SELECTION_TIMEOUT_MS": 1000, "max_workers": 20}
    client = pymongo.MongoClient(private_db.uri, tz_aware=True)
    private_store = ArtifactStore(client[db_name])
    ref = private_store.put_bytes(joblib_bytes(iris_model()), "model.joblib")
    model_id = uuid.uuid4().hex[:24]
    MODELS[model_id] = {"id": model_id, "name": "blip", "version": "1.0.0",
                        "input_schema": schema(), "file": {
                            "artifact_id": ref.id, "sha256": ref.sha256, "format": "joblib",
                            "filename": "model.joblib", "size": ref.size}}
    buffer = io.BytesIO()
    slow_input(400_000).to_csv(buffer, index=False)
    data = private_store.put_bytes(buffer.getvalue(), "input.csv").to_dict()
    client.close()
    for fake in (FakeRegistry, FakeDeployer):
        container_factory(fake, config).start()
    container_factory(RunnerService, config).start()
    from nameko.standalone.rpc import ClusterRpcProxy

    with ClusterRpcProxy(config, timeout=30) as rpc:
        execution = rpc.runner.create_execution({
            "model_id": model_id, "input": {"artifact": data},
            "parameters": {"batch_size": 2000}})
        deadline = time.monotonic() + 60
        while rpc.runner.get_execution(execution["id"])["status"] == "queued":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        private_db.process.kill()  # SIGKILL, mid-run
        private_db.process.wait()
        killed = time.monotonic()
        killed_at = datetime.now(UTC)
        # during the outage an API read is a quick 503, not a 500 after 5 s
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable) as exc:
            rpc.runner.get_execution(execution["id"])
        assert time.monotonic() - started < 5
        assert exc.value.details == {"service": "database"}
        assert "connectTimeoutMS" not in exc.value.message
        time.sleep(max(0.0, 8 - (time.monotonic() - killed)))
        restart(private_db)
        done = wait_final(rpc, execution["id"], timeout=120)
        assert done["status"] == "succeeded", done
        assert done["result"]["rows"] == 400_000
        finished = datetime.fromisoformat(done["finished_at"].replace("Z", "+00:00"))
        assert finished > killed_at + timedelta(seconds=7), "the run was in flight"
        lines = rpc.runner.get_logs(execution["id"], 0, 5000)["lines"]
    numbers = [line["n"] for line in lines]
    assert numbers == sorted(set(numbers)), "log lines numbered once each, in order"
    assert lines[-1]["message"].startswith("succeeded in"), lines[-3:]
    assert not any("AutoReconnect" in line["message"] or "pymongo" in line["message"]
                   for line in lines)
