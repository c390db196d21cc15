"""Shapes of the auth service's data at its boundaries."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from services.auth.domain import User
from shared.mongo import isoformat


class UserSchema(Schema):
    """A user as it leaves the service (RPC): never the password hash."""

    id = fields.String()
    username = fields.String()
    email = fields.String()
    first_name = fields.String()
    last_name = fields.String()
    role = fields.String()
    roles = fields.List(fields.String())
    active = fields.Boolean()
    #: The password must be replaced at the next browser login (Keycloak's temporary).
    password_temporary = fields.Boolean()
    created_at = fields.Function(lambda user: isoformat(user.created_at))
    updated_at = fields.Function(lambda user: isoformat(user.updated_at))


_user_schema = UserSchema()


def dump_user(user: User) -> dict[str, Any]:
    return _user_schema.dump(user)
