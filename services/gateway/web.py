"""What a blueprint author imports: the Blueprint class, the RPC and artifact helpers.

Example (see CORE_READY)::

    from services.gateway.web import Blueprint, rpc, json_body, store
    from services.gateway.policy import requires

    blp = Blueprint("deployments", __name__, url_prefix="/api/v1/deployments")

    @blp.route("/<deployment_id>", methods=["GET"])
    @requires("deployments:read")
    @blp.response(200, DeploymentSchema)
    def get_deployment(deployment_id):
        return rpc("deployer", "get_deployment", deployment_id)
"""

from __future__ import annotations

import json
import uuid
from typing import Any, NoReturn

import flask_smorest
import marshmallow as ma
from flask import current_app, g, request
from webargs import core as webargs_core
from webargs.flaskparser import FlaskParser

from shared.artifacts import ArtifactStore
from shared.errors import UnsupportedMediaType, ValidationError


def flatten_messages(messages: Any) -> dict[str, Any]:
    """webargs/marshmallow messages → ``{field: [messages]}`` (locations dropped)."""
    if not isinstance(messages, dict):
        return {"_schema": messages if isinstance(messages, list) else [str(messages)]}
    locations = {
        "json",
        "query",
        "querystring",
        "form",
        "files",
        "headers",
        "view_args",
        "path",
        "cookies",
        "json_or_form",
    }
    if messages and set(messages) <= locations:
        flat: dict[str, Any] = {}
        for value in messages.values():
            flat.update(value if isinstance(value, dict) else {"_schema": value})
        return flat
    return dict(messages)


def validation_failed(messages: Any) -> ValidationError:
    details = flatten_messages(messages)
    fields = ", ".join(sorted(details)) or "request"
    return ValidationError(f"invalid {fields}", details)


class Parser(FlaskParser):
    """webargs parser: 400 ``validation_error`` (not smorest's 422) and 415 for non-JSON."""

    DEFAULT_VALIDATION_STATUS = 400

    def _raw_load_json(self, req):
        if not webargs_core.is_json(req.mimetype):
            if req.content_length or req.mimetype:
                raise UnsupportedMediaType(
                    "the body must be application/json",
                    {"content_type": req.mimetype or None},
                )
            return webargs_core.missing
        return webargs_core.parse_json(req.get_data(cache=True))

    def _handle_invalid_json_error(self, error, req, *args, **kwargs) -> NoReturn:
        raise ValidationError("invalid JSON body", {"body": ["Invalid JSON body."]})

    def handle_error(self, error, req, schema, *, error_status_code, error_headers) -> NoReturn:
        raise validation_failed(error.messages)


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest Blueprint whose argument errors are our 400 envelope."""

    ARGUMENTS_PARSER = Parser()


# -- schemas shared by every blueprint -----------------------------------------


class ErrorBodySchema(ma.Schema):
    code = ma.fields.String(required=True, metadata={"example": "not_found"})
    message = ma.fields.String(required=True)
    details = ma.fields.Dict(metadata={"description": "validation_error: field → messages"})


class ErrorSchema(ma.Schema):
    """The error envelope of API.md (documentation only)."""

    error = ma.fields.Nested(ErrorBodySchema, required=True)


class PageQuerySchema(ma.Schema):
    """``page``, ``per_page`` (≤ 200) and ``sort``; extend it for a list endpoint."""

    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1))
    per_page = ma.fields.Integer(load_default=20, validate=ma.validate.Range(min=1, max=200))
    sort = ma.fields.String(validate=ma.validate.Length(max=64))


def page_schema(item_schema: type[ma.Schema], name: str) -> type[ma.Schema]:
    """``{"items": [...], "total", "page", "per_page"}`` around ``item_schema``."""
    return ma.Schema.from_dict(
        {
            "items": ma.fields.List(ma.fields.Nested(item_schema), required=True),
            "total": ma.fields.Integer(required=True),
            "page": ma.fields.Integer(required=True),
            "per_page": ma.fields.Integer(required=True),
        },
        name=name,
    )


# -- request helpers -----------------------------------------------------------


def state():
    """The gateway's per-app state (config, verifier, RPC pool, artifact store)."""
    return current_app.extensions["gateway"]


def rpc_context() -> dict[str, Any]:
    """The nameko context data of this request: request id, username, roles, client
    address, and ``request_uid`` (unique per request even when a client reuses an
    ``X-Request-ID``: the audit trail makes one entry per ``request_uid``)."""
    from services.gateway.client import client_address

    if "request_uid" not in g:
        g.request_uid = uuid.uuid4().hex
    context: dict[str, Any] = {
        "request_id": getattr(g, "request_id", None),
        "request_uid": g.request_uid,
        "client": client_address(state().config.get("TRUSTED_PROXIES")),
    }
    principal = getattr(g, "principal", None)
    if principal is not None:
        context["username"] = principal.username
        context["roles"] = list(principal.roles)
    return context


def rpc(service: str, method: str, *args: Any, **kwargs: Any) -> Any:
    """Call ``service.method(*args)`` as the current caller, through the pool.

    PlatformErrors of the service propagate (the error handler maps them);
    no answer in ``RPC_TIMEOUT_S`` → ``ServiceUnavailable`` (503).
    """
    return state().rpc.call(service, method, *args, context=rpc_context(), **kwargs)


def store() -> ArtifactStore:
    """The artifact store (GridFS), one pymongo client per process, opened lazily."""
    return state().store()


def is_json_request() -> bool:
    return webargs_core.is_json(request.mimetype)


def json_body(
    schema: ma.Schema | None = None, raw: str | bytes | None = None, field: str = "body"
) -> Any:
    """The JSON body (or ``raw`` JSON text, e.g. a multipart part), loaded by ``schema``.

    Non-JSON content type → 415; malformed JSON or schema errors → 400.
    """
    if raw is None:
        if not is_json_request():
            raise UnsupportedMediaType(
                "the body must be application/json", {"content_type": request.mimetype or None}
            )
        raw = request.get_data(cache=True)
    try:
        data = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise ValidationError("invalid JSON", {field: ["Invalid JSON."]}) from None
    if schema is None:
        return data
    try:
        return schema.load(data)
    except ma.ValidationError as exc:
        raise validation_failed(exc.messages) from None
