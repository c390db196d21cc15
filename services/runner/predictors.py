"""Warm model processes for online predictions, seen from the runner's green threads.

* ``Predictor``: one ``predict_child`` process holding one model file under one memory
  limit, one request at a time, over a pipe (``rowcodec`` frames).
* ``PredictorPool``: up to ``size`` such processes for one (model file, memory limit).
  The first is started by the request that needs it; another one is started in the
  background when a request finds every process busy, so concurrent requests of one
  model score on several cores (each process is still a sandbox of its own).
* ``PredictorCache``: the pools, keyed by the file's sha256 and the memory limit,
  least recently used evicted.

A process that crashed or did not answer in time is killed and dropped from its pool
(a late answer would be read by the next request). The hub never runs model code: it
only writes and reads pipes.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

import eventlet
from eventlet.green import subprocess
from eventlet.queue import Empty, LightQueue
from eventlet.semaphore import Semaphore

from services.runner.rowcodec import FrameError, encode_request, read_frame
from services.runner.sandbox import child_env
from shared.config import ROOT

log = logging.getLogger(__name__)

#: How often a request waiting for a busy pool checks that the pool still has processes.
_WAIT_POLL_S = 1.0


class PredictorError(Exception):
    def __init__(self, message: str, memory: bool = False, crashed: bool = False,
                 timeout: bool = False, load: bool = False):
        super().__init__(message)
        self.load = load
        self.memory = memory
        self.crashed = crashed
        self.timeout = timeout


class Predictor:
    """A ``predict_child`` process holding one model; one request at a time."""

    def __init__(self, model_path: str, fmt: str, memory_mb: int, ready_timeout: float = 120):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.runner.predict_child", model_path, fmt,
             str(memory_mb)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            cwd=str(ROOT), env=child_env(), start_new_session=True,
        )
        try:
            answer = self._read(ready_timeout)
        except BaseException:
            self.close()
            raise
        if answer.get("event") != "ready":
            self.close()
            raise PredictorError(f"the model could not be loaded: {answer.get('error')}",
                                 memory=bool(answer.get("memory")), load=True)
        self.classes = answer.get("classes")

    def _read(self, timeout: float) -> dict[str, Any]:
        with eventlet.Timeout(timeout, PredictorError("the model did not answer in time",
                                                     timeout=True)):
            try:
                payload = read_frame(self.process.stdout)
            except FrameError:
                payload = None
        if payload is None:
            raise PredictorError("the model process exited", crashed=True)
        try:
            answer = json.loads(payload)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise PredictorError("the model process answered garbage", crashed=True)
        return answer

    def alive(self) -> bool:
        return self.process.poll() is None

    def predict(self, request: bytes, timeout: float) -> dict[str, Any]:
        """The answer to ``request`` (``rowcodec.encode_request``); raises PredictorError."""
        try:
            self.process.stdin.write(request)
            self.process.stdin.flush()
            answer = self._read(timeout)
        except PredictorError:
            self.close()  # crashed; or late, and a late answer would be read by the next one
            raise
        except OSError:  # BrokenPipeError: it died between two requests
            self.close()
            raise PredictorError("the model process exited", crashed=True) from None
        if "error" in answer:
            raise PredictorError(str(answer["error"]), memory=bool(answer.get("memory")))
        return answer

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.process.wait()
        except Exception:
            pass


class PredictorPool:
    """Up to ``size`` warm processes of one model file under one memory limit."""

    def __init__(self, start: Callable[[], Predictor], size: int):
        self.start = start
        self.size = max(1, size)
        self.idle: LightQueue = LightQueue()
        self.count = 1  # processes alive or starting; the first is started below
        self.starting = False  # one process at a time is started in the background
        self.closed = False
        self.idle.put(start())

    def alive(self) -> bool:
        return self.count > 0 and not self.closed

    def predict(self, instances: list[dict], columns: list[str] | None, proba: bool,
                timeout: float) -> dict[str, Any]:
        request = encode_request(instances, columns, proba)
        predictor = self._take()
        try:
            answer = predictor.predict(request, timeout)
        except PredictorError as exc:
            if exc.crashed or exc.timeout:
                self._drop()
            else:
                self._give(predictor)
            raise
        self._give(predictor)
        return answer

    def _take(self) -> Predictor:
        while True:
            try:
                predictor = self.idle.get_nowait()
            except Empty:
                if self.count < self.size and not (self.starting or self.closed):
                    self.count += 1
                    self.starting = True
                    eventlet.spawn_n(self._grow)
                try:
                    predictor = self.idle.get(timeout=_WAIT_POLL_S)
                except Empty:
                    if self.count == 0:
                        raise PredictorError("the model process exited", crashed=True) \
                            from None
                    continue
            if predictor.alive():
                return predictor
            predictor.close()
            self._drop()

    def _grow(self) -> None:
        try:
            predictor = self.start()
        except Exception as exc:  # the others serve on; the next busy moment retries
            self.count -= 1
            log.warning("could not start another model process: %s", exc)
            return
        finally:
            self.starting = False
        self._give(predictor)

    def _give(self, predictor: Predictor) -> None:
        if self.closed:
            self._drop()
            predictor.close()
        else:
            self.idle.put(predictor)

    def _drop(self) -> None:
        self.count -= 1

    def close(self) -> None:
        """Close the idle processes now, the busy ones when they are given back."""
        self.closed = True
        while True:
            try:
                predictor = self.idle.get_nowait()
            except Empty:
                return
            self._drop()
            predictor.close()


class PredictorCache:
    """Warm pools keyed by the model file's sha256 (and memory limit), LRU evicted."""

    def __init__(self, size: int):
        self.size = max(1, size)
        self.items: collections.OrderedDict[str, PredictorPool] = collections.OrderedDict()
        self._loading: dict[str, Semaphore] = {}

    def get(self, key: str, load: Callable[[], PredictorPool]) -> PredictorPool:
        pool = self.items.get(key)
        if pool is not None and pool.alive():
            self.items.move_to_end(key)
            return pool
        lock = self._loading.setdefault(key, Semaphore(1))
        with lock:  # one load per model, even with many concurrent first requests
            pool = self.items.get(key)
            if pool is not None and pool.alive():
                return pool
            if pool is not None:
                self.items.pop(key).close()
            pool = load()
            self.items[key] = pool
            while len(self.items) > self.size:
                _, old = self.items.popitem(last=False)
                old.close()
            return pool

    def close(self) -> None:
        while self.items:
            _, pool = self.items.popitem()
            pool.close()
