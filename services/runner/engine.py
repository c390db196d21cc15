"""What the runner's entrypoints do: create, run, cancel, re-run, sweep, predict.

``Engine`` is built per worker from the service's dependencies (repository,
runtime, queue, dispatcher, RPC proxies); ``service.py`` only declares the
entrypoints and delegates here.

Life of an execution::

    create ─► queued ──(consumer claims: lease)──► running ──► succeeded | failed
                │                                   │          | timed_out | cancelled
                └── cancel ─► cancelled             └── runner lost: retried once
                                                        (attempt 2), then failed
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import time
from datetime import timedelta
from typing import Any

import eventlet
from bson import ObjectId

from services.runner import domain, metrics
from services.runner.dependencies import is_final, write_spec
from services.runner.domain import (
    CANCELLED,
    FAILED,
    MAX_ATTEMPTS,
    QUEUED,
    RUNNER_LOST,
    RUNNING,
    SUCCEEDED,
    TIMED_OUT,
)
from services.runner.predictors import PredictorError
from services.runner.queue import ACK, REQUEUE
from services.runner.sandbox import ChildRun
from shared import events, resources
from shared.datasets import check_columns, check_records, detect_format, inspect_dataset_offhub
from shared.errors import (
    Conflict,
    InvalidInputData,
    NotFound,
    PlatformError,
    ServiceUnavailable,
    validation_error,
)
from shared.mongo import is_database_down, object_id, retry_db, utcnow

log = logging.getLogger(__name__)

FINAL_EVENTS = {
    SUCCEEDED: events.EXECUTION_SUCCEEDED,
    FAILED: events.EXECUTION_FAILED,
    CANCELLED: events.EXECUTION_CANCELLED,
    TIMED_OUT: events.EXECUTION_TIMED_OUT,
}
#: A big uploaded CSV is checked on its first bytes only at request time.
HEAD_BYTES = 1 << 20


class LogWriter:
    """Appends numbered log lines of one execution (continues after a retry).

    ``close()`` after the final line: a line arriving later (a child's output
    still in a pipe) goes to the service log, never after the final one.
    """

    def __init__(self, repo, execution_id: str, max_lines: int):
        self.repo = repo
        self.execution_id = execution_id
        self.n = repo.last_log_number(execution_id)
        self.max_lines = max_lines
        self.written = 0
        self.closed = False

    def close(self) -> None:
        self.closed = True

    def write(self, level: str, message: str) -> None:
        if self.closed:
            log.info("execution %s: line after the final one not recorded: %s %s",
                     self.execution_id, level, message[:500])
            return
        if self.written >= self.max_lines:
            if self.written == self.max_lines:
                self.written += 1
                self.n += 1
                self.repo.add_log(self.execution_id, self.n, "WARNING",
                                  f"log truncated after {self.max_lines} lines")
            return
        self.written += 1
        self.n += 1
        self.repo.add_log(self.execution_id, self.n, level.upper(), message)


def runner_failure_message(exc: BaseException, execution_id: str, retry_s: float) -> str:
    """What a user reads when the runner itself (not the model) failed a run."""
    if is_database_down(exc):
        return (f"the platform's database was unreachable for more than {retry_s:g} s while "
                f"this run was recorded: run it again once the platform is back")
    return (f"the runner could not complete this run (internal error; reference "
            f"{execution_id} in the runner's service log)")


class Engine:
    def __init__(self, service):
        self.repo = service.repo
        self.runtime = service.runtime
        self.queue = service.queue
        self.dispatch = service.dispatch
        self.registry = service.registry
        self.deployer = service.deployer
        self.settings = service.settings

    def _download(self, artifact_id: str, path: str) -> None:
        retry_db(lambda: self.repo.artifacts.download_to(artifact_id, path),
                 self.repo.retry_s, "artifact download")

    # -- events ------------------------------------------------------------------

    def event(self, name: str, doc: dict[str, Any]) -> None:
        try:
            self.dispatch(name, {"execution": domain.to_dict(doc)})
        except Exception:  # the state is written; a lost event must not undo it
            log.exception("could not dispatch %s", name)

    # -- create ---------------------------------------------------------------------

    def create(self, request: dict[str, Any], caller: dict[str, Any],
               idempotency_key: str | None = None, slot: str | None = None) -> dict[str, Any]:
        """Validate a run request, record it ``queued`` and put its id on the queue."""
        if not isinstance(request, dict):
            raise validation_error("request", "must be an object")
        trigger = request.get("trigger") or "manual"
        if trigger not in domain.TRIGGERS:
            raise validation_error("trigger", f"must be one of {', '.join(domain.TRIGGERS)}")
        parameters = domain.validate_parameters(request.get("parameters"))
        self._check_timeout(parameters)
        own = resources.validate(request, self.settings)  # 400 above a ceiling
        deployment = None
        if request.get("deployment_id"):
            deployment = self.deployer.get_deployment(str(request["deployment_id"]))
            model_id = deployment["model_id"]
            parameters = domain.validate_parameters(domain.merge_parameters(deployment,
                                                                            parameters))
            self._check_timeout(parameters)
        elif request.get("model_id"):
            model_id = str(request["model_id"])
        else:
            raise validation_error("model_id", "model_id or deployment_id is required")
        model = self.registry.get_model(model_id)
        model_file = self._model_file(model)
        schema = model.get("input_schema") or []
        input_ = self._input(request.get("input"), deployment, schema,
                             parameters.get("on_bad_rows") or "fail")
        doc = self._new_doc(model, model_file, parameters, input_, trigger, caller)
        doc["resources"] = resources.effective(
            {**own, "parameters": request.get("parameters") or {}}, deployment, self.settings,
            self.runtime.memory_mb)
        if deployment is not None:
            doc["deployment_id"] = str(deployment["id"])
        if idempotency_key:
            doc["idempotency_key"] = idempotency_key
            doc["slot"] = slot
        doc, created = self.repo.insert(doc)
        if created:
            self.enqueue(doc)
        return domain.to_dict(doc)

    def _check_timeout(self, parameters: dict[str, Any]) -> None:
        """``timeout_s`` above the global ``max_execution_timeout_s`` → 400 naming it."""
        ceiling = float(self.settings["max_execution_timeout_s"])
        if parameters.get("timeout_s") is not None and parameters["timeout_s"] > ceiling:
            raise validation_error("parameters.timeout_s",
                                   f"must be at most {ceiling:g} (max_execution_timeout_s)")

    def resources_of(self, doc: dict[str, Any]) -> dict[str, Any]:
        """What a run starting now gets: what it was given at creation (a run queued
        before resources existed: its parameters), within today's ceilings."""
        given = doc.get("resources") or resources.effective(
            None, {"parameters": doc.get("parameters")}, self.settings, self.runtime.memory_mb)
        return resources.cap(given, self.settings, self.runtime.memory_mb)

    def limits(self) -> dict[str, Any]:
        return resources.limits(self.settings, self.runtime.memory_mb)

    def _model_file(self, model: dict[str, Any]) -> dict[str, Any]:
        if not model.get("file"):
            raise Conflict(f"model {model.get('name')!r} has no file to run: upload one first",
                           {"model_id": model.get("id")})
        file = self.registry.get_file(model["id"])
        return {"artifact_id": file["artifact_id"], "sha256": file.get("sha256"),
                "format": file.get("format") or "joblib", "filename": file.get("filename")}

    def _new_doc(self, model, model_file, parameters, input_, trigger, caller) -> dict[str, Any]:
        return {
            "_id": ObjectId(),
            "status": QUEUED,
            "trigger": trigger,
            "model_id": str(model["id"]),
            "model_name": model.get("name"),
            "model_version": model.get("version"),
            # Copied at creation (like model_name): the reports and the list filters
            # group a run by the department and region its model had when it ran.
            "department": model.get("department"),
            "region": model.get("region"),
            "deployment_id": None,
            "parameters": parameters,
            "unused_parameters": domain.unused_parameters(parameters),
            "features": domain.schema_names(model.get("input_schema")) or None,
            "input_schema": model.get("input_schema") or None,
            "model_file": model_file,
            "input": input_,
            "created_at": utcnow(),
            "created_by": (caller or {}).get("username"),
            "started_at": None,
            "finished_at": None,
            "duration_s": None,
            "error": None,
            "result": None,
            "rerun_of": None,
            "attempt": 0,
            "cancel_requested": False,
            "published": False,
        }

    def _input(self, raw: Any, deployment: dict | None, schema: list,
               on_bad_rows: str = "fail") -> dict[str, Any]:
        if raw is None or raw == {}:
            dataset = (deployment or {}).get("input")
            if deployment is None:
                raise validation_error("input", "rows or a file is required to run a model")
            if not dataset or not dataset.get("artifact_id"):
                raise validation_error(
                    "input", "this deployment has no input dataset: send rows or a file")
            if dataset.get("columns"):  # checked by the deployer against the same schema
                check_columns(dataset["columns"], schema)
            return {"artifact_id": dataset["artifact_id"], "filename": dataset.get("filename"),
                    "rows": dataset.get("rows"), "format": dataset.get("format"),
                    "size": dataset.get("size"), "source": "deployment"}
        if not isinstance(raw, dict):
            raise validation_error("input", "must be {\"rows\": [...]} or an uploaded file")
        if "rows" in raw:
            rows = domain.check_rows(raw["rows"])
            check_records(rows, schema, on_bad_rows)  # 422 at the first bad row unless "skip"
            data = json.dumps(rows).encode()
            ref = self.repo.artifacts.put_bytes(data, "rows.json", "application/json")
            return {"artifact_id": ref.id, "filename": None, "rows": len(rows),
                    "format": "json", "size": ref.size, "source": "rows"}
        if "artifact" in raw and isinstance(raw["artifact"], dict):
            ref = raw["artifact"]
            try:
                info = self._inspect(ref, schema, on_bad_rows)
            except InvalidInputData:
                self.repo.artifacts.delete(ref.get("id"))  # the upload was for this run only
                raise
            return {"artifact_id": ref["id"], "filename": ref.get("filename"),
                    "rows": info.get("rows"), "format": info["format"],
                    "size": ref.get("size"), "source": "upload"}
        raise validation_error("input", "must be {\"rows\": [...]} or an uploaded file")

    def _inspect(self, ref: dict[str, Any], schema: list, on_bad_rows: str) -> dict[str, Any]:
        """The synchronous checks of an uploaded input: every row of a small file (shape,
        types, the model's columns), the head of a big one (the child checks the rest)."""
        workdir = self.runtime.workdir()
        path = os.path.join(workdir, "input")
        filename = ref.get("filename")
        try:
            size = int(ref.get("size") or 0)
            if size <= self.runtime.inspect_max_bytes:
                self.repo.artifacts.download_to(ref["id"], path)
                return inspect_dataset_offhub(path, filename, schema, on_bad_rows)
            # Big file: check its head (CSV) or footer (Parquet); the child reports the rest.
            stream = self.repo.artifacts.open(ref["id"])
            head = stream.read(max(1024, min(HEAD_BYTES, self.runtime.inspect_max_bytes)))
            fmt = detect_format(head, filename)
            if fmt == "csv":
                with open(path, "wb") as f:
                    f.write(head[: head.rfind(b"\n") + 1] or head)
                info = inspect_dataset_offhub(path, filename, schema, on_bad_rows)
                return {"format": "csv", "rows": None, "columns": info["columns"]}
            if fmt == "parquet":
                self.repo.artifacts.download_to(ref["id"], path)
                return inspect_dataset_offhub(path, filename, schema)
            return {"format": fmt, "rows": None}
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def enqueue(self, doc: dict[str, Any]) -> None:
        try:
            self.queue.publish(str(doc["_id"]))
        except Exception:
            # Recorded but not queued: the sweep publishes it again.
            log.exception("could not queue execution %s; the sweep will retry", doc["_id"])
        else:
            self.repo.mark_published(doc["_id"])
        metrics.EXECUTIONS.labels(QUEUED, doc["trigger"]).inc()
        self.event(events.EXECUTION_QUEUED, doc)

    def record_refused(self, payload: dict[str, Any], key: str, exc: PlatformError) -> None:
        """A scheduled run that could not even be queued: keep it, failed, with the reason."""
        now = utcnow()
        doc = {"_id": ObjectId(), "status": FAILED, "trigger": "schedule",
               "deployment_id": payload.get("deployment_id"), "model_id": None,
               "parameters": {}, "input": {}, "created_at": now, "finished_at": now,
               "created_by": "scheduler", "error": exc.message, "attempt": 0,
               "idempotency_key": key, "slot": payload.get("slot"), "published": True}
        doc, created = self.repo.insert(doc)
        if created:
            metrics.EXECUTIONS.labels(FAILED, "schedule").inc()
            metrics.finished(doc)
            self.event(events.EXECUTION_FAILED, doc)

    # -- cancel and re-run -----------------------------------------------------------

    def cancel(self, execution_id: str) -> dict[str, Any]:
        doc = self.repo.get(execution_id)
        if doc["status"] == QUEUED:
            cancelled = self.repo.cancel_queued(doc["_id"])
            if cancelled is not None:
                LogWriter(self.repo, execution_id, 10).write("INFO", "cancelled while queued")
                metrics.EXECUTIONS.labels(CANCELLED, cancelled["trigger"]).inc()
                metrics.finished(cancelled)
                self.event(events.EXECUTION_CANCELLED, cancelled)
                return domain.to_dict(cancelled)
            doc = self.repo.get(execution_id)
        if doc["status"] == RUNNING:
            requested = self.repo.request_cancel(doc["_id"])
            if requested is not None:
                self.event(events.EXECUTION_CANCEL_REQUESTED, requested)
                return domain.to_dict(requested)
            doc = self.repo.get(execution_id)
        raise Conflict(f"execution is already {doc['status']}: nothing to cancel",
                       {"status": doc["status"]})

    def rerun(self, execution_id: str, caller: dict[str, Any]) -> dict[str, Any]:
        source = self.repo.get(execution_id)
        if not source.get("model_id") or not (source.get("input") or {}).get("artifact_id"):
            raise Conflict("this execution cannot be re-run: it never had a model and input",
                           {"id": execution_id})
        model = self.registry.get_model(source["model_id"])
        doc = self._new_doc(model, self._model_file(model), source.get("parameters") or {},
                            dict(source["input"]), "rerun", caller)
        doc["deployment_id"] = source.get("deployment_id")
        doc["resources"] = resources.cap(source.get("resources") or resources.effective(
            None, {"parameters": source.get("parameters")}, self.settings,
            self.runtime.memory_mb), self.settings, self.runtime.memory_mb)
        doc["rerun_of"] = execution_id
        doc, _ = self.repo.insert(doc)
        self.enqueue(doc)
        return domain.to_dict(doc)

    # -- run (the queue consumer) -------------------------------------------------

    def run(self, execution_id: str) -> str:
        """Take one execution from the queue to a final state; ``ack`` or ``requeue``."""
        try:
            oid = object_id(execution_id, "execution")
        except NotFound:
            return ACK
        runtime = self.runtime
        while True:
            doc = self.repo.find(execution_id)
            if doc is None or is_final(doc):
                return ACK
            if runtime.stopping():
                return REQUEUE
            if doc["status"] == QUEUED:
                claimed = self.repo.claim(oid, runtime.runner_id, runtime.lease_s)
                if claimed is not None:
                    return self.execute(claimed)
                if doc.get("cancel_requested"):
                    return ACK
                eventlet.sleep(0.2)
                continue
            mine = doc.get("runner_id") == runtime.runner_id
            lease = doc.get("lease_expires_at")
            if (mine and execution_id in runtime.running) or (
                not mine and lease is not None and lease > utcnow()
            ):
                # Someone is running it (or a duplicate delivery): wait for the end or
                # for its lease to expire.
                eventlet.sleep(1.0)
                continue
            if int(doc.get("attempt") or 1) >= MAX_ATTEMPTS:
                status = CANCELLED if doc.get("cancel_requested") else FAILED
                final = self.repo.finish(oid, doc.get("runner_id"), status,
                                         {"error": self._lost_message(doc)},
                                         expect={"lease_expires_at": lease})
                if final is not None:
                    self._finished(final, LogWriter(self.repo, execution_id, 10))
                continue
            taken = self.repo.take_over(doc, runtime.runner_id, runtime.lease_s)
            if taken is not None:
                LogWriter(self.repo, execution_id, 10).write(
                    "WARNING", f"runner {doc.get('runner_id')} was lost (lease expired); "
                               f"retrying on {runtime.runner_id} (attempt {taken['attempt']})")
                return self.execute(taken)

    @staticmethod
    def _lost_message(doc: dict[str, Any]) -> str:
        return (f"{RUNNER_LOST}: runner {doc.get('runner_id')} stopped renewing its lease "
                f"(attempt {doc.get('attempt') or 1} of {MAX_ATTEMPTS})")

    def execute(self, doc: dict[str, Any]) -> str:
        execution_id = str(doc["_id"])
        runtime = self.runtime
        runtime.slots.acquire()
        runtime.running.add(execution_id)
        metrics.RUNNING.inc()
        logger = LogWriter(self.repo, execution_id, runtime.max_log_lines)
        try:
            self.event(events.EXECUTION_STARTED, doc)
            logger.write("INFO", f"started on runner {runtime.runner_id} "
                                 f"(attempt {doc.get('attempt')}); model "
                                 f"{doc.get('model_name')} {doc.get('model_version') or ''}")
            for name in doc.get("unused_parameters") or []:
                value = json.dumps((doc.get("parameters") or {}).get(name), default=str)
                logger.write("WARNING", f"parameter {name} = {value[:200]} is not used by "
                                        f"the runner (kept as given)")
            return self._execute(doc, logger)
        except Exception as exc:
            # Our own failure (not the model's): record it rather than loop on it. The
            # user reads what happened in words; the details stay in the service log.
            log.exception("execution %s failed in the runner", execution_id)
            message = runner_failure_message(exc, execution_id, self.repo.retry_s)
            logger.write("ERROR", message)
            logger.close()
            final = self.repo.finish(doc["_id"], runtime.runner_id, FAILED, {"error": message})
            if final is not None:
                self._finished(final, None)
            return ACK
        finally:
            runtime.running.discard(execution_id)
            metrics.RUNNING.dec()
            runtime.slots.release()

    def _execute(self, doc: dict[str, Any], logger: LogWriter) -> str:
        runtime = self.runtime
        oid = doc["_id"]
        params = doc.get("parameters") or {}
        input_ = doc.get("input") or {}
        model_file = doc["model_file"]
        workdir = runtime.workdir()
        try:
            model_path = os.path.join(workdir, f"model.{model_file.get('format') or 'bin'}")
            input_path = os.path.join(workdir, "input")
            try:
                self._download(model_file["artifact_id"], model_path)
            except NotFound:
                return self._finish(doc, FAILED, "the model file is no longer available",
                                    logger)
            try:
                self._download(input_["artifact_id"], input_path)
            except NotFound:
                return self._finish(doc, FAILED, "the input dataset is no longer available",
                                    logger)
            allocated = self.resources_of(doc)
            memory_mb, timeout = allocated["memory_mb"], float(allocated["timeout_s"])
            self.repo.set_resources(oid, allocated)
            logger.write("INFO", f"resources: memory limit {memory_mb} MB, timeout "
                                 f"{timeout:g} s")
            out_fmt = params.get("output_format") or "csv"
            output_path = os.path.join(workdir, f"result.{out_fmt}")
            spec_path = os.path.join(workdir, "spec.json")
            write_spec(spec_path, {
                "model_path": model_path, "model_format": model_file.get("format"),
                "input_path": input_path, "input_filename": input_.get("filename"),
                "input_format": input_.get("format"), "output_path": output_path,
                "output_format": out_fmt, "batch_size": params.get("batch_size"),
                "predict_proba": params.get("predict_proba", False),
                "memory_mb": memory_mb, "columns": doc.get("features"),
                "input_schema": doc.get("input_schema"),
                "on_bad_rows": params.get("on_bad_rows") or "fail",
            })
            child = ChildRun(spec_path, lambda line: logger.write(line["level"],
                                                                  line["message"]),
                             runtime.zygote, memory_mb)
            try:
                reason = self._supervise(doc, child, timeout)
                if reason is not None:
                    child.terminate(runtime.grace_s)
                code = child.wait()
            except BaseException:  # the container is being killed: take the child along
                child.terminate(0)
                child.wait()  # its last lines are read before anything final is written
                raise
            if reason == "lost":
                logger.write("WARNING", "this runner no longer owns the execution: stopped")
                return ACK
            if reason == "stopping":
                if self.repo.release(oid, runtime.runner_id) is not None:
                    logger.write("WARNING", "runner stopping: execution given back to the "
                                            "queue")
                return REQUEUE
            if reason == "cancel":
                return self._finish(doc, CANCELLED, "cancelled while running", logger)
            if reason == "timeout":
                return self._finish(doc, TIMED_OUT,
                                    f"timed out after {timeout:g} s (timeout_s)", logger)
            return self._outcome(doc, child, code, output_path, out_fmt, logger, memory_mb)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _supervise(self, doc: dict[str, Any], child: ChildRun, timeout: float) -> str | None:
        """Wait for the child; say why it must be stopped early (or None)."""
        runtime = self.runtime
        renew_every = max(runtime.lease_s / 3, 0.5)
        last_renew = last_watch = time.monotonic()
        while child.poll() is None:
            if child.ended_within(0.1):  # returns as soon as the child ends
                break
            if child.elapsed() > timeout:
                return "timeout"
            if runtime.stopping():
                return "stopping"
            if time.monotonic() - last_watch < 0.5:
                continue
            # Cancel is a flag in the database: whichever replica runs the execution
            # sees it within half a second.
            last_watch = time.monotonic()
            state = self.repo.watch(doc["_id"])
            if state is None or state.get("status") != RUNNING or \
                    state.get("runner_id") != runtime.runner_id:
                return "lost"
            if state.get("cancel_requested"):
                return "cancel"
            if time.monotonic() - last_renew >= renew_every:
                if self.repo.renew(doc["_id"], runtime.runner_id, runtime.lease_s) is None:
                    return "lost"
                last_renew = time.monotonic()
        return None

    def _outcome(self, doc, child: ChildRun, code: int, output_path: str, out_fmt: str,
                 logger: LogWriter, memory_mb: int) -> str:
        event = child.final_event() or {}
        fields: dict[str, Any] = {"peak_memory_mb": event.get("peak_memory_mb")}
        if event.get("event") == "done" and code == 0:
            rows = int(event.get("rows") or 0)
            eid = str(doc["_id"])
            def store_result():
                with open(output_path, "rb") as f:
                    return self.repo.artifacts.put(
                        f, f"execution-{eid}-results.{out_fmt}", domain.CONTENT_TYPES[out_fmt],
                        metadata={"execution_id": eid})

            ref = retry_db(store_result, self.repo.retry_s, "result upload")
            fields.update({
                "result": {"artifact_id": ref.id, "rows": rows, "size": ref.size,
                           "format": out_fmt, "filename": ref.filename,
                           "content_type": ref.content_type, "sha256": ref.sha256},
                "rows_per_second": event.get("rows_per_second"),
                "classes": event.get("classes"),
            })
            if event.get("skipped_rows") is not None:
                fields["result"].update(skipped_rows=int(event["skipped_rows"]),
                                        bad_rows=list(event.get("bad_rows") or [])[:100])
            if (doc.get("input") or {}).get("rows") is None:
                self.repo.set_input_rows(doc["_id"], rows)
            outcome = self._finish(doc, SUCCEEDED, None, logger, fields)
            if outcome == ACK and self.repo.find(eid)["status"] != SUCCEEDED:
                self.repo.artifacts.delete(ref.id)  # lost the race (cancel/sweep)
            metrics.ROWS.inc(rows)
            return outcome
        if event.get("event") == "error":
            if event.get("traceback"):  # the whole story, for operators only
                log.error("execution %s failed in the model process:\n%s", doc["_id"],
                          event["traceback"])
            if event.get("memory"):
                error = (f"memory limit of {memory_mb} MB exceeded (memory_mb): "
                         f"{domain.one_line(event.get('error'))}")
            else:
                # the exception line of the traceback (the child sends "Type: message")
                error = domain.one_line(event.get("error"))
        elif code == 3:  # the child's exit code for a MemoryError it could not report
            error = f"memory limit of {memory_mb} MB exceeded (memory_mb)"
        elif code < 0:
            name = signal.Signals(-code).name
            error = (f"the model process was killed by {name}: probably over the memory "
                     f"limit of {memory_mb} MB (memory_mb)")
        else:
            error = f"the model process exited with code {code} without a result"
        return self._finish(doc, FAILED, error, logger, fields)

    def _finish(self, doc, status: str, error: str | None, logger: LogWriter,
                fields: dict[str, Any] | None = None) -> str:
        started = doc.get("started_at") or utcnow()
        duration = round((utcnow() - started).total_seconds(), 3)
        final = self.repo.finish(doc["_id"], self.runtime.runner_id, status,
                                 {"error": error, "duration_s": duration, **(fields or {})})
        if final is None:
            logger.close()
            return ACK  # someone else decided (sweep): nothing more to write
        if error:
            logger.write("ERROR" if status == FAILED else "WARNING", f"{status}: {error}")
        else:
            logger.write("INFO", f"{status} in {duration:.2f}s")
        logger.close()
        self._finished(final, None)
        return ACK

    def _finished(self, final: dict[str, Any], logger: LogWriter | None) -> None:
        if logger is not None and final.get("error"):
            logger.write("ERROR", f"{final['status']}: {final['error']}")
        metrics.EXECUTIONS.labels(final["status"], final.get("trigger") or "manual").inc()
        metrics.finished(final)
        if final.get("duration_s") is not None:
            metrics.DURATION.labels(final["status"]).observe(final["duration_s"])
        self.event(FINAL_EVENTS[final["status"]], final)

    # -- periodic sweep ----------------------------------------------------------------

    def sweep(self) -> None:
        """Fail runs whose lease expired long ago; queue again what was never queued."""
        runtime = self.runtime
        for doc in self.repo.lost(utcnow() - timedelta(seconds=runtime.lost_after_s)):
            status = CANCELLED if doc.get("cancel_requested") else FAILED
            final = self.repo.finish(doc["_id"], doc.get("runner_id"), status,
                                     {"error": self._lost_message(doc)},
                                     expect={"lease_expires_at": doc.get("lease_expires_at")})
            if final is not None:
                self._finished(final, LogWriter(self.repo, str(doc["_id"]), 10))
        for doc in self.repo.unpublished(utcnow() - timedelta(seconds=30)):
            try:
                self.queue.publish(str(doc["_id"]))
                self.repo.mark_published(doc["_id"])
            except Exception:
                log.warning("could not queue execution %s yet", doc["_id"])
        metrics.QUEUED.set(self.repo.count({"status": QUEUED}))

    # -- online prediction ---------------------------------------------------------------

    def predict(self, deployment_id: str, instances: Any,
                parameters: dict[str, Any] | None = None) -> dict[str, Any]:
        started = time.perf_counter()
        runtime = self.runtime
        deployment = runtime.lookup("deployment", str(deployment_id),
                                    lambda: self.deployer.get_deployment(deployment_id))
        if deployment.get("status") != "active":
            raise Conflict("online prediction needs an active deployment: start it first",
                           {"status": deployment.get("status")})
        params = domain.validate_parameters(domain.merge_parameters(deployment, parameters))
        model = runtime.lookup("model", str(deployment["model_id"]),
                               lambda: self.registry.get_model(deployment["model_id"]))
        schema = model.get("input_schema") or []
        instances = domain.check_instances(instances, schema)
        file = model.get("file") or {}
        if not file:
            raise Conflict("the deployed model has no file", {"model_id": model.get("id")})
        if not file.get("artifact_id") or not file.get("sha256"):
            file = {**file, **self.registry.get_file(model["id"])}
        file = {"artifact_id": file["artifact_id"], "sha256": file["sha256"],
                "format": file.get("format") or "joblib"}
        proba = bool(params.get("predict_proba"))
        # The deployment's memory (capped by today's ceiling) bounds its predictor too.
        memory_mb = resources.cap({"memory_mb": deployment.get("memory_mb")}, self.settings,
                                  self.runtime.memory_mb)["memory_mb"]
        try:
            predictor = self.runtime.predictor(self.repo.artifacts, file, memory_mb)
            answer = predictor.predict(instances, domain.schema_names(schema) or None, proba,
                                       self.runtime.predict_timeout_s)
        except PredictorError as exc:
            if exc.crashed or exc.timeout:  # that process is gone from its pool already
                raise ServiceUnavailable(f"the model process stopped: {exc}") from None
            if exc.load and exc.memory:
                raise Conflict(f"memory limit of {memory_mb} MB exceeded (memory_mb) while "
                               f"loading the model", {"model_id": model.get("id"),
                                                      "memory_mb": memory_mb}) from None
            if exc.load:
                raise Conflict(str(exc), {"model_id": model.get("id")}) from None
            if exc.memory:
                raise InvalidInputData(
                    f"memory limit of {memory_mb} MB exceeded (memory_mb)",
                    {"reason": str(exc)}) from None
            raise InvalidInputData(f"the model rejected the input: {exc}",
                                   {"reason": str(exc)}) from None
        metrics.PREDICT_LATENCY.observe(time.perf_counter() - started)
        metrics.PREDICT_ROWS.inc(len(instances))
        answer["deployment_id"] = str(deployment.get("id", deployment_id))
        answer["model_id"] = str(model["id"])
        # Who scored which deployment (never the data), for the audit trail: published
        # (and confirmed) after the answer is on its way, not before.
        eventlet.spawn_n(self._served, {
            "deployment_id": answer["deployment_id"], "model_id": answer["model_id"],
            "department": deployment.get("department"), "instances": len(instances)})
        return answer

    def _served(self, payload: dict[str, Any]) -> None:
        try:
            self.dispatch(events.PREDICTION_SERVED, payload)
        except Exception:  # answered already; a lost event must not fail the call
            log.exception("could not dispatch %s", events.PREDICTION_SERVED)
