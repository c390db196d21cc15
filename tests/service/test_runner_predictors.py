"""The warm model processes of online prediction, real child processes: a pool grows a
second process only when requests overlap, each process holds the one model file, a
process that dies is dropped from its pool (that request fails as crashed) and the
pool serves on; a model error leaves the process up."""

from __future__ import annotations

import os
import signal
import time

import eventlet
import joblib
import pytest
from sklearn.ensemble import RandomForestClassifier

from services.runner.predictors import Predictor, PredictorError, PredictorPool

pytestmark = pytest.mark.service

ROWS = [{"a": float(i), "b": float(-i)} for i in range(50)]


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    model = RandomForestClassifier(n_estimators=300, random_state=0).fit(
        [[r["a"], r["b"]] for r in ROWS], [i % 2 for i in range(len(ROWS))])
    path = tmp_path_factory.mktemp("predictors") / "rf.joblib"
    joblib.dump(model, path)
    return str(path), model


@pytest.fixture
def pool(model_path):
    started: list[Predictor] = []

    def start():
        started.append(Predictor(model_path[0], "joblib", 1024))
        return started[-1]

    pool = PredictorPool(start, 2)
    pool.started = started
    yield pool
    pool.close()


def test_sequential_requests_use_one_process(pool, model_path):
    for _ in range(5):
        answer = pool.predict(ROWS, ["a", "b"], False, 30)
    assert answer["predictions"] == model_path[1].predict([[r["a"], r["b"]] for r in ROWS]).tolist()
    assert len(pool.started) == 1 and pool.count == 1


def test_overlapping_requests_grow_the_pool_to_its_size(pool):
    threads = [eventlet.spawn(pool.predict, ROWS * 20, ["a", "b"], True, 30) for _ in range(4)]
    answers = [thread.wait() for thread in threads]
    assert all(len(a["probabilities"]) == len(ROWS) * 20 for a in answers)
    deadline = time.monotonic() + 60
    while len(pool.started) < 2 and time.monotonic() < deadline:
        eventlet.sleep(0.1)  # the second process starts in the background
    eventlet.sleep(0.2)
    assert len(pool.started) == 2 and pool.count == 2 and pool.idle.qsize() == 2
    assert len({p.process.pid for p in pool.started}) == 2


def test_a_process_found_dead_is_replaced_before_use(pool):
    pool.predict(ROWS, None, False, 30)
    victim = pool.started[0]
    os.killpg(victim.process.pid, signal.SIGKILL)
    victim.process.wait()
    assert pool.predict(ROWS, None, False, 30)["predictions"]
    assert len(pool.started) == 2 and pool.started[1].alive() and pool.count == 1


def test_a_process_dying_mid_request_fails_it_as_crashed_and_is_dropped(pool):
    pool.predict(ROWS, None, False, 30)
    busy = eventlet.spawn(pool.predict, ROWS * 4000, None, True, 60)
    eventlet.sleep(0.5)  # the process is scoring 200,000 rows
    os.killpg(pool.started[0].process.pid, signal.SIGKILL)
    with pytest.raises(PredictorError) as caught:
        busy.wait()
    assert caught.value.crashed and pool.count == 0 and not pool.alive()


def test_a_model_error_keeps_the_process(pool):
    with pytest.raises(PredictorError) as caught:
        pool.predict([{"a": "text", "b": 1.0}], ["a", "b"], False, 30)
    assert not (caught.value.crashed or caught.value.timeout)
    assert "ValueError" in str(caught.value) and "/" not in str(caught.value)
    assert pool.predict(ROWS, ["a", "b"], False, 30)["predictions"]
    assert len(pool.started) == 1 and pool.started[0].alive()
