"""The Deployments endpoints of API.md (``executions`` and ``predict`` live in
executions.py, owned by the runner).

Validation of cron expressions, time zones and the model happens in the deployer
(one place); the schemas here shape the request and document it. The input
dataset streams into the artifact store, and only its ``ArtifactRef`` crosses
RPC (``deployer.attach_input`` checks it off its hub and deletes it when rejected).
"""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from services.gateway.policy import requires
from services.gateway.uploads import FILE_BODY, discarded_on_failure, store_upload
from services.gateway.web import Blueprint, PageQuerySchema, page_schema, rpc
from shared import limits

blp = Blueprint(
    "deployments",
    __name__,
    url_prefix="/api/v1/deployments",
    description="Deploy ready models with parameters, a cron schedule and input",
)

MISFIRE_POLICIES = ("run_once", "skip", "catch_up")
_DT = {"metadata": {"format": "date-time"}}


# -- schemas --------------------------------------------------------------------


class ModelRefSchema(ma.Schema):
    name = ma.fields.String(allow_none=True)
    version = ma.fields.String(allow_none=True)


class InputSchema(ma.Schema):
    """The default input dataset (its store id stays inside the platform)."""

    filename = ma.fields.String(allow_none=True)
    format = ma.fields.String(metadata={"enum": ["csv", "json", "parquet"]})
    rows = ma.fields.Integer()
    columns = ma.fields.List(ma.fields.String())
    size = ma.fields.Integer(allow_none=True)
    sha256 = ma.fields.String(allow_none=True)
    content_type = ma.fields.String(allow_none=True)
    uploaded_at = ma.fields.String(**_DT)
    uploaded_by = ma.fields.String(allow_none=True)


class LastExecutionSchema(ma.Schema):
    id = ma.fields.String()
    status = ma.fields.String()
    time = ma.fields.String(allow_none=True, **_DT)


class HistorySchema(ma.Schema):
    at = ma.fields.String(**_DT)
    by = ma.fields.String(allow_none=True)
    field = ma.fields.String()
    old = ma.fields.Raw(allow_none=True)
    new = ma.fields.Raw(allow_none=True)


class DeploymentSchema(ma.Schema):
    id = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    description = ma.fields.String(allow_none=True)
    model_id = ma.fields.String()
    model = ma.fields.Nested(ModelRefSchema)
    parameters = ma.fields.Dict(keys=ma.fields.String())
    schedule = ma.fields.String(allow_none=True, metadata={"example": "30 2 * * *"})
    timezone = ma.fields.String(metadata={"example": "Europe/Paris"})
    status = ma.fields.String(metadata={"enum": ["inactive", "active"]})
    department = ma.fields.String(allow_none=True)
    region = ma.fields.String(allow_none=True)
    input = ma.fields.Nested(InputSchema, allow_none=True)
    next_run_at = ma.fields.String(allow_none=True, **_DT)
    last_execution = ma.fields.Nested(LastExecutionSchema, allow_none=True)
    misfire_policy = ma.fields.String(metadata={"enum": list(MISFIRE_POLICIES)})
    max_concurrent = ma.fields.Integer()
    jitter_s = ma.fields.Integer()
    memory_mb = ma.fields.Integer(allow_none=True, metadata={
        "description": "memory limit of its runs (MB); null = the default"})
    timeout_s = ma.fields.Integer(allow_none=True, metadata={
        "description": "timeout of its runs (s); null = the setting "
                       "default_execution_timeout_s"})
    model_deleted = ma.fields.Boolean()
    history = ma.fields.List(ma.fields.Nested(HistorySchema))
    created_by = ma.fields.String(allow_none=True)
    created_at = ma.fields.String(**_DT)
    updated_at = ma.fields.String(**_DT)


DeploymentPageSchema = page_schema(DeploymentSchema, "DeploymentPage")


class DeploymentWriteSchema(ma.Schema):
    name = ma.fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = ma.fields.String(allow_none=True, validate=validate.Length(max=5000))
    model_id = ma.fields.String(required=True, validate=validate.Length(min=1, max=64))
    parameters = limits.Parameters()
    schedule = ma.fields.String(
        allow_none=True,
        validate=validate.Length(max=limits.NAME_MAX),
        metadata={"description": "5-field cron expression (minute hour day month weekday) or"
                  " null (no schedule; an empty string is refused)"},
    )
    timezone = ma.fields.String(
        allow_none=True,
        validate=validate.Length(max=limits.NAME_MAX),
        metadata={"description": "IANA time zone, default UTC", "example": "Europe/Paris"},
    )
    misfire_policy = ma.fields.String(validate=validate.OneOf(MISFIRE_POLICIES))
    max_concurrent = ma.fields.Integer(validate=validate.Range(min=1, max=100))
    jitter_s = ma.fields.Integer(validate=validate.Range(min=0, max=3600))
    memory_mb = ma.fields.Integer(allow_none=True, strict=True, metadata={
        "description": "memory limit of its runs in MB (null = the default); at most the "
                       "setting max_memory_mb, see GET /resource-limits"})
    timeout_s = ma.fields.Integer(allow_none=True, strict=True, metadata={
        "description": "timeout of its runs in s (null = default_execution_timeout_s); at "
                       "most the setting max_execution_timeout_s, see GET /resource-limits"})


class DeploymentQuerySchema(PageQuerySchema):
    q = limits.Text(limits.QUERY_MAX)
    department = limits.Text()
    region = limits.Text()
    status = ma.fields.String(validate=validate.OneOf(("inactive", "active")))
    model_id = limits.Text(limits.ID_MAX)


class PreviewQuerySchema(ma.Schema):
    count = limits.BoundedInt(1, limits.PREVIEW_COUNT_MAX, load_default=5)


class ExpressionPreviewQuerySchema(PreviewQuerySchema):
    """A cron expression and time zone not saved yet (the form previews as it is typed)."""

    schedule = ma.fields.String(
        required=True,
        validate=validate.Length(min=1, max=200),
        metadata={"description": "5-field cron expression", "example": "30 2 * * 1-5"},
    )
    timezone = ma.fields.String(
        load_default="UTC",
        validate=validate.Length(max=100),
        metadata={"description": "IANA time zone, default UTC", "example": "Europe/Paris"},
    )


class NextRunSchema(ma.Schema):
    utc = ma.fields.String(metadata={"example": "2026-10-25T00:30:00Z"})
    local = ma.fields.String(metadata={"example": "2026-10-25T02:30:00+02:00"})


class PreviewSchema(ma.Schema):
    timezone = ma.fields.String()
    schedule = ma.fields.String(allow_none=True)
    next_runs = ma.fields.List(ma.fields.Nested(NextRunSchema))


class DeploymentUpdateSchema(DeploymentWriteSchema):
    """The fields of a PATCH: any subset of the writable ones."""


# -- views ----------------------------------------------------------------------


@blp.route("", methods=["GET"])
@requires("deployments:read")
@blp.arguments(DeploymentQuerySchema, location="query")
@blp.response(200, DeploymentPageSchema)
def list_deployments(args):
    """List deployments; filters ``q`` (name/description), department, region, status,
    model_id; ``sort`` such as ``-created_at`` or ``name``."""
    return rpc("deployer", "list_deployments", args)


@blp.route("", methods=["POST"])
@requires("deployments:write")
@blp.arguments(DeploymentWriteSchema)
@blp.response(201, DeploymentSchema)
def create_deployment(data):
    """Create an (inactive) deployment of a ready model. 400 names a bad ``schedule`` or
    ``timezone``; 409 when the model is not ready (a draft has no valid file)."""
    return rpc("deployer", "create_deployment", data)


@blp.route("/<deployment_id>", methods=["GET"])
@requires("deployments:read")
@blp.response(200, DeploymentSchema)
def get_deployment(deployment_id):
    """One deployment (404 when unknown)."""
    return rpc("deployer", "get_deployment", deployment_id)


@blp.route("/<deployment_id>", methods=["PATCH"])
@requires("deployments:write")
@blp.arguments(DeploymentUpdateSchema(partial=True))
@blp.response(200, DeploymentSchema)
def update_deployment(changes, deployment_id):
    """Edit; a schedule or time zone change recomputes ``next_run_at`` and is recorded
    in ``history``."""
    return rpc("deployer", "update_deployment", deployment_id, changes)


@blp.route("/<deployment_id>", methods=["DELETE"])
@requires("deployments:write")
@blp.response(204)
def delete_deployment(deployment_id):
    """Delete a deployment and its input dataset."""
    rpc("deployer", "delete_deployment", deployment_id)
    return None


@blp.route("/<deployment_id>/start", methods=["POST"])
@requires("deployments:write")
@blp.response(200, DeploymentSchema)
def start_deployment(deployment_id):
    """Status ``active``; ``next_run_at`` is the next slot of the schedule."""
    return rpc("deployer", "start_deployment", deployment_id)


@blp.route("/<deployment_id>/stop", methods=["POST"])
@requires("deployments:write")
@blp.response(200, DeploymentSchema)
def stop_deployment(deployment_id):
    """Status ``inactive``; running executions are not killed."""
    return rpc("deployer", "stop_deployment", deployment_id)


@blp.route("/schedule/preview", methods=["GET"])
@requires("deployments:read")
@blp.arguments(ExpressionPreviewQuerySchema, location="query")
@blp.response(200, PreviewSchema)
def preview_expression(args):
    """The next ``count`` (1..100, default 5) run times of ``schedule`` in ``timezone``,
    before any deployment exists (the creation form). 400 names a bad ``schedule`` or
    ``timezone``."""
    return rpc(
        "deployer", "preview_expression", args["schedule"], args["timezone"], args["count"]
    )


@blp.route("/<deployment_id>/schedule/preview", methods=["GET"])
@requires("deployments:read")
@blp.arguments(PreviewQuerySchema, location="query")
@blp.response(200, PreviewSchema)
def preview_schedule(args, deployment_id):
    """The next ``count`` (1..100, default 5) run times, each in UTC and local time."""
    return rpc("deployer", "preview_schedule", deployment_id, args["count"])


@blp.route("/<deployment_id>/input", methods=["PUT"])
@requires("deployments:write")
@blp.doc(**FILE_BODY)
@blp.response(200, DeploymentSchema)
def put_input(deployment_id):
    """Attach the default input dataset of scheduled runs: multipart ``file`` (CSV, JSON
    records or Parquet) or a raw body. 422 ``invalid_input_data`` when unreadable or
    missing columns of the model's input schema."""
    rpc("deployer", "get_deployment", deployment_id)  # 404 before any byte is stored
    artifact = store_upload("file", metadata={"deployment_id": deployment_id})
    with discarded_on_failure(artifact):
        return rpc("deployer", "attach_input", deployment_id, artifact.to_dict())
