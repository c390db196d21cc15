"""Integrations (outgoing webhooks) of API.md, admin only. The admin service checks the
target URL against server-side request forgery, keeps the secret (shown once, at
creation) and sends the signed deliveries off the request path."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from services.admin.domain import TEST_EVENT, WEBHOOK_EVENTS
from services.gateway.policy import requires
from services.gateway.web import Blueprint, PageQuerySchema, page_schema, rpc

blp = Blueprint("integrations", __name__, url_prefix="/api/v1/integrations",
                description="Outgoing webhooks signed per Standard Webhooks (admin only)")

_DT = {"allow_none": True, "metadata": {"format": "date-time"}}


class IntegrationSchema(ma.Schema):
    id = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    description = ma.fields.String(allow_none=True)
    url = ma.fields.String(metadata={"example": "https://hooks.example.com/ml"})
    events = ma.fields.List(ma.fields.String(metadata={"enum": list(WEBHOOK_EVENTS)}))
    department = ma.fields.String(allow_none=True)
    active = ma.fields.Boolean()
    created_by = ma.fields.String(allow_none=True)
    created_at = ma.fields.String(**_DT)
    updated_at = ma.fields.String(**_DT)


class IntegrationCreatedSchema(IntegrationSchema):
    secret = ma.fields.String(metadata={
        "description": "whsec_ + base64: the HMAC key of webhook-signature. Shown only "
                       "in this answer; keep it."})


IntegrationPageSchema = page_schema(IntegrationSchema, "IntegrationPage")


class IntegrationWriteSchema(ma.Schema):
    name = ma.fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = ma.fields.String(validate=validate.Length(max=2000))
    url = ma.fields.String(required=True, validate=validate.Length(min=1, max=2000),
                           metadata={"description": "http(s); a non-public address only when "
                                                    "webhook_allowed_hosts names the host"})
    events = ma.fields.List(ma.fields.String(validate=validate.OneOf(WEBHOOK_EVENTS)),
                            required=True, validate=validate.Length(min=1))
    department = ma.fields.String(allow_none=True, validate=validate.Length(max=200),
                                  metadata={"description": "only this department's events"})
    active = ma.fields.Boolean()


class IntegrationUpdateSchema(IntegrationWriteSchema):
    """The fields of a PATCH: any subset of the writable ones."""


class AttemptSchema(ma.Schema):
    attempt = ma.fields.Integer()
    at = ma.fields.String(**_DT)
    status_code = ma.fields.Integer(allow_none=True)
    duration_ms = ma.fields.Float()
    error = ma.fields.String(allow_none=True)


class DeliverySchema(ma.Schema):
    id = ma.fields.String(required=True)
    integration_id = ma.fields.String()
    webhook_id = ma.fields.String(metadata={"description": "the webhook-id header"})
    event_type = ma.fields.String(metadata={"enum": [*WEBHOOK_EVENTS, TEST_EVENT]})
    status = ma.fields.String(metadata={"enum": ["pending", "sending", "delivered", "failed"]})
    attempt_count = ma.fields.Integer()
    attempts = ma.fields.List(ma.fields.Nested(AttemptSchema))
    created_at = ma.fields.String(**_DT)
    next_attempt_at = ma.fields.String(**_DT)
    delivered_at = ma.fields.String(**_DT)


DeliveryPageSchema = page_schema(DeliverySchema, "DeliveryPage")


@blp.route("", methods=["GET"])
@requires("integrations:admin")
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, IntegrationPageSchema)
def list_integrations(args):
    """Every integration, newest first (never a secret)."""
    args.pop("sort", None)
    return rpc("admin", "list_integrations", args)


@blp.route("", methods=["POST"])
@requires("integrations:admin")
@blp.arguments(IntegrationWriteSchema)
@blp.response(201, IntegrationCreatedSchema)
def create_integration(data):
    """Create a webhook; the answer holds its ``secret``, shown this once. 400 names a
    refused ``url`` (not http(s); loopback, private, link-local or metadata address)."""
    return rpc("admin", "create_integration", data)


@blp.route("/<integration_id>", methods=["GET"])
@requires("integrations:admin")
@blp.response(200, IntegrationSchema)
def get_integration(integration_id):
    """One integration (404 when unknown)."""
    return rpc("admin", "get_integration", integration_id)


@blp.route("/<integration_id>", methods=["PATCH"])
@requires("integrations:admin")
@blp.arguments(IntegrationUpdateSchema(partial=True))
@blp.response(200, IntegrationSchema)
def update_integration(changes, integration_id):
    """Edit name, url (checked again), events, department, active."""
    return rpc("admin", "update_integration", integration_id, changes)


@blp.route("/<integration_id>", methods=["DELETE"])
@requires("integrations:admin")
@blp.response(204)
def delete_integration(integration_id):
    """Delete an integration, its pending deliveries and its delivery log."""
    rpc("admin", "delete_integration", integration_id)
    return None


@blp.route("/<integration_id>/test", methods=["POST"])
@requires("integrations:admin")
@blp.response(202, DeliverySchema)
def test_integration(integration_id):
    """« Tester »: queue a signed ``integration_test`` event; follow it in the deliveries."""
    return rpc("admin", "test_integration", integration_id)


@blp.route("/<integration_id>/deliveries", methods=["GET"])
@requires("integrations:admin")
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, DeliveryPageSchema)
def list_deliveries(args, integration_id):
    """The delivery log: each delivery with every attempt (status code, duration, error)."""
    args.pop("sort", None)
    return rpc("admin", "list_deliveries", integration_id, args)
