"""``GET /api/v1/me``: who the token says the caller is."""

from __future__ import annotations

import marshmallow as ma

from services.gateway.policy import current_principal, requires
from services.gateway.web import Blueprint

blp = Blueprint("me", __name__, url_prefix="/api/v1", description="The current user")


class MeSchema(ma.Schema):
    username = ma.fields.String(required=True)
    email = ma.fields.String(allow_none=True)
    first_name = ma.fields.String(allow_none=True)
    last_name = ma.fields.String(allow_none=True)
    roles = ma.fields.List(ma.fields.String(), required=True)


@blp.route("/me", methods=["GET"])
@requires("me:read")
@blp.response(200, MeSchema)
def me():
    """The caller's username, email, names and realm roles, from the access token."""
    return current_principal().to_dict()
