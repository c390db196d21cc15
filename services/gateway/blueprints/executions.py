"""The Executions endpoints of API.md, plus ``POST /models/{id}/executions``,
``POST /deployments/{id}/executions`` and ``POST /deployments/{id}/predict``.

Runs are queued by the runner (``runner.create_execution``) and polled: no
RPC waits for a run. An uploaded input file streams into the artifact store
and only its ``ArtifactRef`` crosses RPC. Results stream out of the store; a
result asked for in another format is converted here (the gateway is a plain
threaded WSGI app, so CPU work does not stall an eventlet hub) through a
temporary file, batch by batch.
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC

import marshmallow as ma
from flask import Response, request
from marshmallow import validate

from services.gateway.policy import requires
from services.gateway.uploads import (
    attachment_response,
    discarded_on_failure,
    download_response,
    is_multipart,
    store_upload,
)
from services.gateway.web import (
    Blueprint,
    PageQuerySchema,
    json_body,
    page_schema,
    rpc,
    store,
    validation_failed,
)
from shared import limits
from shared.errors import UnsupportedMediaType

blp = Blueprint("executions", __name__, url_prefix="/api/v1",
                description="Run models and deployments, follow runs, get results, predict")

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled", "timed_out")
TRIGGERS = ("manual", "schedule", "rerun", "api")
FORMATS = ("csv", "json", "parquet")
CONTENT_TYPES = {"csv": "text/csv", "json": "application/json",
                 "parquet": "application/vnd.apache.parquet"}
_DT = {"allow_none": True, "metadata": {"format": "date-time"}}


# -- schemas --------------------------------------------------------------------


class ExecutionInputSchema(ma.Schema):
    rows = ma.fields.Integer(allow_none=True)
    filename = ma.fields.String(allow_none=True)
    format = ma.fields.String(allow_none=True)
    size = ma.fields.Integer(allow_none=True)


class BadRowSchema(ma.Schema):
    line = ma.fields.Integer(metadata={"description": "CSV / JSON Lines line (header = 1)"})
    record = ma.fields.Integer(metadata={"description": "JSON array record (1-based)"})
    column = ma.fields.String()
    reason = ma.fields.String()


class ExecutionResultSchema(ma.Schema):
    rows = ma.fields.Integer(allow_none=True)
    size = ma.fields.Integer(allow_none=True)
    format = ma.fields.String(allow_none=True)
    filename = ma.fields.String(allow_none=True)
    skipped_rows = ma.fields.Integer(metadata={
        "description": "bad input rows left out (parameters.on_bad_rows = skip)"})
    bad_rows = ma.fields.List(ma.fields.Nested(BadRowSchema),
                              metadata={"description": "the first 100 bad rows skipped"})


class ResourcesSchema(ma.Schema):
    memory_mb = ma.fields.Integer(metadata={
        "description": "address-space limit of the run's process (MB)"})
    timeout_s = ma.fields.Float(metadata={"description": "wall-clock limit (s)"})


class UsageSchema(ma.Schema):
    peak_memory_mb = ma.fields.Float(allow_none=True, metadata={
        "description": "peak resident memory of the run's process (ru_maxrss, MB)"})
    rows = ma.fields.Integer(allow_none=True, metadata={"description": "rows scored"})
    rows_per_second = ma.fields.Float(allow_none=True)
    duration_s = ma.fields.Float(allow_none=True)


class ResourceLimitsSchema(ma.Schema):
    min_memory_mb = ma.fields.Integer()
    max_memory_mb = ma.fields.Integer(metadata={"description": "setting max_memory_mb"})
    default_memory_mb = ma.fields.Integer(metadata={
        "description": "what a run gets without memory_mb"})
    min_timeout_s = ma.fields.Integer()
    max_timeout_s = ma.fields.Integer(metadata={
        "description": "setting max_execution_timeout_s"})
    default_timeout_s = ma.fields.Integer(metadata={
        "description": "setting default_execution_timeout_s"})


class ExecutionSchema(ma.Schema):
    id = ma.fields.String(required=True)
    status = ma.fields.String(metadata={"enum": list(STATUSES)})
    trigger = ma.fields.String(metadata={"enum": list(TRIGGERS)})
    model_id = ma.fields.String(allow_none=True)
    model_name = ma.fields.String(allow_none=True)
    model_version = ma.fields.String(allow_none=True)
    deployment_id = ma.fields.String(allow_none=True)
    department = ma.fields.String(allow_none=True)
    region = ma.fields.String(allow_none=True)
    parameters = ma.fields.Dict(keys=ma.fields.String())
    unused_parameters = ma.fields.List(
        ma.fields.String(), metadata={"description": "kept and shown, not used by the runner"})
    input = ma.fields.Nested(ExecutionInputSchema, allow_none=True)
    created_at = ma.fields.String(**_DT)
    started_at = ma.fields.String(**_DT)
    finished_at = ma.fields.String(**_DT)
    duration_s = ma.fields.Float(allow_none=True)
    error = ma.fields.String(allow_none=True)
    result = ma.fields.Nested(ExecutionResultSchema, allow_none=True)
    rerun_of = ma.fields.String(allow_none=True)
    created_by = ma.fields.String(allow_none=True)
    rows_per_second = ma.fields.Float(allow_none=True)
    peak_memory_mb = ma.fields.Float(allow_none=True)
    resources = ma.fields.Nested(ResourcesSchema, allow_none=True, metadata={
        "description": "what the run was given (its own values, else its deployment's, "
                       "else the defaults; capped by the global settings)"})
    usage = ma.fields.Nested(UsageSchema, metadata={"description": "what the run used"})
    attempt = ma.fields.Integer()
    cancel_requested = ma.fields.Boolean()
    slot = ma.fields.String(allow_none=True)


ExecutionPageSchema = page_schema(ExecutionSchema, "ExecutionPage")


class ExecutionQuerySchema(PageQuerySchema):
    deployment_id = ma.fields.String(validate=validate.Length(max=64))
    model_id = ma.fields.String(validate=validate.Length(max=64))
    status = ma.fields.String(validate=validate.OneOf(STATUSES))
    trigger = ma.fields.String(validate=validate.OneOf(TRIGGERS))
    created_by = limits.Text()
    department = limits.Text()
    region = limits.Text()
    rerun_of = ma.fields.String(validate=validate.Length(max=64),
                                metadata={"description": "the re-runs of this execution"})
    from_ = ma.fields.AwareDateTime(data_key="from", default_timezone=UTC, metadata={
        "description": "created_at ≥ this instant (ISO 8601)"})
    to = ma.fields.AwareDateTime(default_timezone=UTC, metadata={
        "description": "created_at < this instant (ISO 8601)"})

    @ma.post_load
    def as_rpc_query(self, data, **kwargs):
        """ISO strings for the runner (``from`` is a keyword in Python, not in the API)."""
        if "from_" in data:
            data["from"] = data.pop("from_").isoformat()
        if "to" in data:
            data["to"] = data["to"].isoformat()
        return data


class RunInputSchema(ma.Schema):
    rows = ma.fields.List(ma.fields.Dict(keys=ma.fields.String()), required=True,
                          validate=validate.Length(min=1))


class RunBodySchema(ma.Schema):
    """JSON body of a run (multipart: a ``file`` part and a ``parameters`` JSON part)."""

    parameters = limits.Parameters(load_default=dict, metadata={
        "description": "predict_proba, output_format (csv|json|parquet), timeout_s, batch_size,"
                       " on_bad_rows (fail|skip);"
                       " any other parameter is kept and shown"})
    input = ma.fields.Nested(RunInputSchema, allow_none=True)
    trigger = ma.fields.String(load_default="manual", validate=validate.OneOf(("manual", "api")))
    memory_mb = ma.fields.Integer(allow_none=True, strict=True, metadata={
        "description": "memory limit of this run (MB), overrides the deployment's; at most "
                       "the setting max_memory_mb (GET /resource-limits)"})
    timeout_s = ma.fields.Integer(allow_none=True, strict=True, metadata={
        "description": "timeout of this run (s), overrides the deployment's; at most the "
                       "setting max_execution_timeout_s (GET /resource-limits)"})


class LogLineSchema(ma.Schema):
    n = ma.fields.Integer()
    ts = ma.fields.String(metadata={"format": "date-time"})
    level = ma.fields.String()
    message = ma.fields.String()


class LogsSchema(ma.Schema):
    lines = ma.fields.List(ma.fields.Nested(LogLineSchema))
    next = ma.fields.Integer(metadata={"description": "pass it back as ?after= to follow"})
    status = ma.fields.String()


class LogsQuerySchema(ma.Schema):
    after = limits.BoundedInt(0, limits.LOG_AFTER_MAX, load_default=0)
    limit = limits.BoundedInt(1, limits.LOG_LIMIT_MAX, load_default=1000)


class ResultsQuerySchema(ma.Schema):
    format = ma.fields.String(validate=validate.OneOf(FORMATS))


class PreviewQuerySchema(ma.Schema):
    limit = ma.fields.Integer(load_default=20, validate=validate.Range(min=1, max=200))


class ResultsPreviewSchema(ma.Schema):
    columns = ma.fields.List(ma.fields.String(), required=True)
    rows = ma.fields.List(ma.fields.List(ma.fields.Raw()), required=True)
    total = ma.fields.Integer(allow_none=True, metadata={"description": "rows in the whole result"})
    format = ma.fields.String()


class PredictBodySchema(ma.Schema):
    # JSON object keys are strings already: a key field would only re-check each of them
    # (10x the cost of the whole load at 100 rows); the runner checks names and values.
    instances = ma.fields.List(ma.fields.Dict(), required=True,
                               validate=validate.Length(min=1, max=10_000))
    parameters = limits.Parameters(load_default=dict)


class PredictionSchema(ma.Schema):
    predictions = ma.fields.List(ma.fields.Raw(), required=True)
    probabilities = ma.fields.List(ma.fields.Dict(keys=ma.fields.String(),
                                                  values=ma.fields.Float()))
    deployment_id = ma.fields.String()
    model_id = ma.fields.String()


_RUN_BODY = {
    "requestBody": {
        "required": False,
        "content": {
            "application/json": {"schema": RunBodySchema},
            "multipart/form-data": {"schema": {
                "type": "object",
                "properties": {
                    "file": {"type": "string", "format": "binary",
                             "description": "CSV, JSON records or Parquet"},
                    "parameters": {"type": "string", "description": "JSON object"},
                    "memory_mb": {"type": "integer"},
                    "timeout_s": {"type": "integer"},
                }}},
        },
    }
}
_DOWNLOAD = {"responses": {200: {"description": "the results file", "content": {
    ctype: {"schema": {"type": "string", "format": "binary"}}
    for ctype in CONTENT_TYPES.values()}}}}


# -- runs -------------------------------------------------------------------------


def _run(target: dict) -> dict:
    """Start a run from this request (JSON body or multipart with a file)."""
    if is_multipart():
        raw = request.form.get("parameters")
        if raw is None and "parameters" in request.files:
            raw = request.files["parameters"].read(limits.json_body_max_bytes() + 1)
        parameters = json_body(None, raw=raw, field="parameters") if raw else {}
        try:
            body = RunBodySchema().load({"parameters": parameters,
                                         "trigger": request.form.get("trigger") or "manual",
                                         **_form_resources()})
        except ma.ValidationError as exc:
            raise validation_failed(exc.messages) from None
        artifact = store_upload("file") if request.files.get("file") else None
        request_ = {**target, "parameters": body["parameters"], "trigger": body["trigger"],
                    **_resources(body),
                    "input": {"artifact": artifact.to_dict()} if artifact else None}
        with discarded_on_failure(artifact):
            return rpc("runner", "create_execution", request_)
    if request.mimetype and not request.is_json:
        raise UnsupportedMediaType("send application/json or multipart/form-data",
                                   {"content_type": request.mimetype})
    body = json_body(RunBodySchema()) if request.get_data(cache=True) else \
        RunBodySchema().load({})
    return rpc("runner", "create_execution", {
        **target, "parameters": body["parameters"], "trigger": body["trigger"],
        **_resources(body),
        "input": {"rows": body["input"]["rows"]} if body.get("input") else None})


def _form_resources() -> dict:
    """``memory_mb`` / ``timeout_s`` multipart fields, as integers when they are (the
    schema names a field that is not one)."""
    out: dict = {}
    for name in ("memory_mb", "timeout_s"):
        raw = request.form.get(name)
        if raw in (None, ""):
            continue
        try:
            out[name] = int(raw.strip())
        except ValueError:
            out[name] = raw
    return out


def _resources(body: dict) -> dict:
    return {name: body[name] for name in ("memory_mb", "timeout_s")
            if body.get(name) is not None}


@blp.route("/resource-limits", methods=["GET"])
@requires("executions:read")
@blp.response(200, ResourceLimitsSchema)
def resource_limits():
    """The resources a deployment or a run may ask for (``memory_mb``, ``timeout_s``):
    ceilings and defaults from the global settings, readable by every role (the forms
    help and validate with them; ``/admin/settings`` is for admins only)."""
    return rpc("runner", "resource_limits")


@blp.route("/models/<model_id>/executions", methods=["POST"])
@requires("executions:run")
@blp.doc(**_RUN_BODY)
@blp.response(201, ExecutionSchema)
def run_model(model_id):
    """Run a model on inline rows or an uploaded file → 201 ``queued``.

    422 ``invalid_input_data`` (unreadable file with the line or reason, columns
    missing from the model's input schema), 409 when the model has no file, 400
    naming a bad parameter."""
    return _run({"model_id": model_id})


@blp.route("/deployments/<deployment_id>/executions", methods=["POST"])
@requires("executions:run")
@blp.doc(**_RUN_BODY)
@blp.response(201, ExecutionSchema)
def run_deployment(deployment_id):
    """Run a deployment by hand → 201. Without input, the deployment's dataset is used;
    the deployment's parameters are merged with the request's (the request wins)."""
    return _run({"deployment_id": deployment_id})


@blp.route("/deployments/<deployment_id>/predict", methods=["POST"])
@requires("executions:run")
@blp.arguments(PredictBodySchema)
@blp.response(200, PredictionSchema)
def predict(body, deployment_id):
    """Online prediction on an ACTIVE deployment (409 otherwise):
    ``{"instances": [{feature: value}]}`` → ``{"predictions": [...]}``, plus
    ``probabilities`` with ``"parameters": {"predict_proba": true}``. 422 names
    missing, unknown and non-numeric fields."""
    return rpc("runner", "predict", deployment_id, body["instances"], body["parameters"])


# -- executions ---------------------------------------------------------------------


@blp.route("/executions", methods=["GET"])
@requires("executions:read")
@blp.arguments(ExecutionQuerySchema, location="query")
@blp.response(200, ExecutionPageSchema)
def list_executions(args):
    """List executions; filters deployment_id, model_id, status, trigger, department,
    region, ``from`` / ``to`` (on created_at; from inclusive, to exclusive); sort such as
    ``-created_at`` (default), ``duration_s``; page, per_page (≤ 200)."""
    return rpc("runner", "list_executions", args)


@blp.route("/executions/<execution_id>", methods=["GET"])
@requires("executions:read")
@blp.response(200, ExecutionSchema)
def get_execution(execution_id):
    """One execution: status, times, duration, parameters, input, result, error."""
    return rpc("runner", "get_execution", execution_id)


@blp.route("/executions/<execution_id>/logs", methods=["GET"])
@requires("executions:read")
@blp.arguments(LogsQuerySchema, location="query")
@blp.response(200, LogsSchema)
def get_logs(args, execution_id):
    """Log lines numbered after ``after``; ``next`` is the number to pass next time."""
    return rpc("runner", "get_logs", execution_id, args["after"], args["limit"])


@blp.route("/executions/<execution_id>/results", methods=["GET"])
@requires("executions:read")
@blp.arguments(ResultsQuerySchema, location="query")
@blp.doc(**_DOWNLOAD)
def get_results(args, execution_id):
    """Download the results (input columns + ``prediction`` [+ ``proba_<class>``]) as
    csv, json or parquet (``?format=``, default: as written). 409 while there are none."""
    info = rpc("runner", "get_result", execution_id)
    stored = info.get("format") or "csv"
    wanted = args.get("format") or stored
    filename = f"execution-{execution_id}-results.{wanted}"
    if wanted == stored:
        return download_response(info["artifact_id"], filename, CONTENT_TYPES[wanted])
    return _converted(info["artifact_id"], stored, wanted, filename)


@blp.route("/executions/<execution_id>/results/preview", methods=["GET"])
@requires("executions:read")
@blp.arguments(PreviewQuerySchema, location="query")
@blp.response(200, ResultsPreviewSchema)
def preview_results(args, execution_id):
    """The first ``limit`` rows (≤ 200) of the results, as columns and rows, read without
    reading the whole file; ``total`` is the number of rows of the whole result. 409
    while there are none (or for a JSON result too large to preview)."""
    from services.gateway.results_preview import read_preview

    info = rpc("runner", "get_result", execution_id)
    fmt = info.get("format") or "csv"
    stream = store().open(info["artifact_id"])
    try:
        preview = read_preview(stream, fmt, info.get("size"), args["limit"])
    finally:
        stream.close()
    return {**preview, "total": info.get("rows"), "format": fmt}


def _converted(artifact_id: str, stored: str, wanted: str, filename: str) -> Response:
    from services.runner.formats import convert

    workdir = tempfile.mkdtemp(prefix="results-")
    source, target = os.path.join(workdir, f"in.{stored}"), os.path.join(workdir,
                                                                         f"out.{wanted}")
    try:
        store().download_to(artifact_id, source)
        with open(target, "wb") as out:
            convert(source, stored, wanted, out)
        os.unlink(source)
        size = os.path.getsize(target)
        handle = open(target, "rb")
    except BaseException:
        _remove(workdir)
        raise
    return attachment_response(handle, size, filename, CONTENT_TYPES[wanted],
                               on_close=lambda: _remove(workdir))


def _remove(workdir: str) -> None:
    import shutil

    shutil.rmtree(workdir, ignore_errors=True)


@blp.route("/executions/<execution_id>/cancel", methods=["POST"])
@requires("executions:run")
@blp.response(202, ExecutionSchema)
def cancel_execution(execution_id):
    """Cancel a queued (at once) or running (SIGTERM, grace, SIGKILL) execution → 202;
    409 when it already finished."""
    return rpc("runner", "cancel_execution", execution_id)


@blp.route("/executions/<execution_id>/rerun", methods=["POST"])
@requires("executions:run")
@blp.response(201, ExecutionSchema)
def rerun_execution(execution_id):
    """A new execution with the same model, parameters and input (``trigger: rerun``,
    ``rerun_of``) → 201."""
    return rpc("runner", "rerun_execution", execution_id)

