"""The Models endpoints of API.md (``POST /models/{id}/executions`` lives in executions.py).

Metadata goes to the registry over RPC; file bytes stream straight into the
artifact store and only the ``ArtifactRef`` crosses RPC (``registry.attach_file``
scans and inspects it, and deletes it when it rejects it).
"""

from __future__ import annotations

import logging

import marshmallow as ma
from flask import request
from marshmallow import validate

from services.gateway.policy import requires
from services.gateway.uploads import (
    FILE_BODY,
    FILENAME_PARAMETERS,
    discard,
    discarded_on_failure,
    download_response,
    file_part,
    is_multipart,
    store_file,
    store_upload,
)
from services.gateway.web import Blueprint, PageQuerySchema, json_body, page_schema, rpc
from shared.errors import UnsupportedMediaType, ValidationError

log = logging.getLogger(__name__)

blp = Blueprint(
    "models",
    __name__,
    url_prefix="/api/v1/models",
    description="Register models, their versions and files",
)

MODEL_TYPES = ("classification", "regression", "clustering", "forecasting", "other")
FRAMEWORKS = ("scikit-learn", "onnx", "tensorflow", "pytorch", "xgboost", "other")
STATUSES = ("draft", "ready", "archived")

_short = {"validate": validate.Length(max=200)}


# -- schemas --------------------------------------------------------------------


class ModelFileSchema(ma.Schema):
    """A model's file; the store's ``artifact_id`` stays inside the platform."""

    filename = ma.fields.String()
    size = ma.fields.Integer()
    sha256 = ma.fields.String()
    format = ma.fields.String(allow_none=True)
    content_type = ma.fields.String(allow_none=True)
    uploaded_at = ma.fields.String(metadata={"format": "date-time"})
    estimator = ma.fields.String(allow_none=True, metadata={"example": "LogisticRegression"})
    sklearn_version = ma.fields.String(allow_none=True)
    n_features = ma.fields.Integer(allow_none=True)
    classes = ma.fields.List(ma.fields.Raw(), allow_none=True)
    compression = ma.fields.String(allow_none=True)
    warnings = ma.fields.List(ma.fields.String())


class InputFieldSchema(ma.Schema):
    name = ma.fields.String(required=True)
    type = ma.fields.String(metadata={"example": "number"})


class ModelSchema(ma.Schema):
    id = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    description = ma.fields.String(allow_none=True)
    version = ma.fields.String(metadata={"example": "1.0.0"})
    type = ma.fields.String(metadata={"enum": list(MODEL_TYPES)})
    framework = ma.fields.String(metadata={"enum": list(FRAMEWORKS)})
    department = ma.fields.String(allow_none=True)
    region = ma.fields.String(allow_none=True)
    tags = ma.fields.List(ma.fields.String())
    status = ma.fields.String(metadata={"enum": list(STATUSES)})
    parameters = ma.fields.Dict(keys=ma.fields.String())
    metrics = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Raw())
    file = ma.fields.Nested(ModelFileSchema, allow_none=True)
    input_schema = ma.fields.List(
        ma.fields.Nested(InputFieldSchema),
        allow_none=True,
        metadata={"description": "feature names and types"},
    )
    created_by = ma.fields.String(allow_none=True)
    created_at = ma.fields.String(metadata={"format": "date-time"})
    updated_at = ma.fields.String(metadata={"format": "date-time"})


ModelPageSchema = page_schema(ModelSchema, "ModelPage")


class ModelWriteSchema(ma.Schema):
    """Fields a client may set (create: ``name`` required; edit: any subset)."""

    name = ma.fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = ma.fields.String(allow_none=True, validate=validate.Length(max=5000))
    # semantic version; the registry owns the exact rule (and the (name, version) unicity)
    version = ma.fields.String(
        validate=validate.Length(min=1, max=64), metadata={"example": "1.0.0"}
    )
    type = ma.fields.String(validate=validate.OneOf(MODEL_TYPES))
    framework = ma.fields.String(validate=validate.OneOf(FRAMEWORKS))
    department = ma.fields.String(allow_none=True, **_short)
    region = ma.fields.String(allow_none=True, **_short)
    tags = ma.fields.List(
        ma.fields.String(validate=validate.Length(min=1, max=64)), validate=validate.Length(max=50)
    )
    parameters = ma.fields.Dict(keys=ma.fields.String())
    metrics = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Float(allow_nan=False))
    status = ma.fields.String(
        validate=validate.OneOf(STATUSES), metadata={"description": "ready needs a file"}
    )
    input_schema = ma.fields.List(ma.fields.Nested(InputFieldSchema), allow_none=True)


class ModelCreateSchema(ModelWriteSchema):
    pass


class ModelUpdateSchema(ModelWriteSchema):
    pass


class ModelQuerySchema(PageQuerySchema):
    q = ma.fields.String(validate=validate.Length(max=200))
    department = ma.fields.String()
    region = ma.fields.String()
    status = ma.fields.String(validate=validate.OneOf(STATUSES))
    type = ma.fields.String(validate=validate.OneOf(MODEL_TYPES))
    framework = ma.fields.String(validate=validate.OneOf(FRAMEWORKS))
    tag = ma.fields.List(ma.fields.String(), metadata={"description": "repeatable"})


_MULTIPART_CREATE = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": ModelCreateSchema},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["metadata"],
                    "properties": {
                        "metadata": {
                            "type": "string",
                            "description": "the JSON body of the application/json form",
                        },
                        "file": {"type": "string", "format": "binary"},
                    },
                }
            },
        },
    }
}

_FILE_BODY = {**FILE_BODY, "parameters": FILENAME_PARAMETERS}

_DOWNLOAD = {
    "responses": {
        200: {
            "description": "the file, as an attachment",
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        },
    }
}


# -- views ----------------------------------------------------------------------


@blp.route("", methods=["GET"])
@requires("models:read")
@blp.arguments(ModelQuerySchema, location="query")
@blp.response(200, ModelPageSchema)
def list_models(args):
    """List models; filters ``q`` (name/description), department, region, status, type,
    framework, ``tag`` (repeatable); ``sort`` such as ``-created_at``."""
    query = {k: v for k, v in args.items() if k != "tag"}
    if args.get("tag"):
        query["tags"] = args["tag"]
    return rpc("registry", "list_models", query)


class ModelFacetsSchema(ma.Schema):
    department = ma.fields.List(ma.fields.String(), required=True)
    region = ma.fields.List(ma.fields.String(), required=True)
    status = ma.fields.List(ma.fields.String(), required=True)
    type = ma.fields.List(ma.fields.String(), required=True)
    framework = ma.fields.List(ma.fields.String(), required=True)


@blp.route("/facets", methods=["GET"])
@requires("models:read")
@blp.response(200, ModelFacetsSchema)
def model_facets():
    """The values present in the data for the list filters (department, region,
    status, type, framework), each sorted: what the web app's drop-downs offer."""
    return rpc("registry", "model_facets")


def _create_with_file(data: dict) -> dict:
    """Create the model, then stream and attach its file; undo the model on any failure."""
    part = file_part("file")
    model = rpc("registry", "create_model", data)
    if part is None:
        return model
    artifact = None
    try:
        artifact = store_file(part, metadata={"model_id": model["id"]})
        return rpc("registry", "attach_file", model["id"], artifact.to_dict(), artifact.filename)
    except BaseException:
        # Nothing half-written: a model created for this request goes away with its file.
        if artifact is not None:
            discard(artifact)
        _quietly(rpc, "registry", "delete_model", model["id"])
        raise


def _quietly(func, *args) -> None:
    try:
        func(*args)
    except Exception:
        log.warning("cleanup %s%r failed", getattr(func, "__name__", func), args, exc_info=True)


@blp.route("", methods=["POST"])
@requires("models:write")
@blp.doc(**_MULTIPART_CREATE)
@blp.response(201, ModelSchema)
def create_model():
    """Create a model from a JSON body, or multipart ``metadata`` (JSON) + ``file``.

    409 when (name, version) exists; 422 ``invalid_model_file`` when the file is
    rejected (the model is not kept); 413 beyond MAX_UPLOAD_MB.
    """
    schema = ModelCreateSchema()
    if is_multipart():
        raw = request.form.get("metadata")
        if raw is None and "metadata" in request.files:
            raw = request.files["metadata"].read()
        if raw is None:
            raise ValidationError(
                "a multipart 'metadata' part is required",
                {"metadata": ["Missing data for required field."]},
            )
        data = json_body(schema, raw=raw, field="metadata")
        return _create_with_file(data)
    if not request.mimetype or request.mimetype == "application/json" or request.is_json:
        return rpc("registry", "create_model", json_body(schema))
    raise UnsupportedMediaType(
        "send application/json or multipart/form-data", {"content_type": request.mimetype}
    )


@blp.route("/<model_id>", methods=["GET"])
@requires("models:read")
@blp.response(200, ModelSchema)
def get_model(model_id):
    """One model (404 when unknown)."""
    return rpc("registry", "get_model", model_id)


@blp.route("/<model_id>", methods=["PATCH"])
@requires("models:write")
@blp.arguments(ModelUpdateSchema(partial=True))
@blp.response(200, ModelSchema)
def update_model(changes, model_id):
    """Edit metadata, parameters, metrics, tags or status (only the fields sent change)."""
    return rpc("registry", "update_model", model_id, changes)


@blp.route("/<model_id>", methods=["DELETE"])
@requires("models:write")
@blp.response(204)
def delete_model(model_id):
    """Delete a model (409 while an active deployment uses it)."""
    rpc("registry", "delete_model", model_id)
    return None


@blp.route("/<model_id>/file", methods=["PUT"])
@requires("models:write")
@blp.doc(**_FILE_BODY)
@blp.response(200, ModelSchema)
def put_model_file(model_id):
    """Upload or replace the model file: multipart ``file`` or a raw body
    (``X-Filename`` header or ``?filename=``). 422 when the registry rejects it."""
    rpc("registry", "get_model", model_id)  # 404 before any byte is stored
    artifact = store_upload("file", metadata={"model_id": model_id})
    with discarded_on_failure(artifact):
        return rpc("registry", "attach_file", model_id, artifact.to_dict(), artifact.filename)


@blp.route("/<model_id>/file", methods=["GET"])
@requires("models:download")
@blp.doc(**_DOWNLOAD)
def get_model_file(model_id):
    """Download the model file (``Content-Disposition`` with the original name)."""
    info = rpc("registry", "get_file", model_id)
    return download_response(
        info["artifact_id"], info.get("filename") or "model.bin", info.get("content_type")
    )


@blp.route("/<model_id>/versions", methods=["GET"])
@requires("models:read")
@blp.response(200, ModelSchema(many=True))
def list_versions(model_id):
    """Every model with the same name, newest version first."""
    return rpc("registry", "list_versions", model_id)
