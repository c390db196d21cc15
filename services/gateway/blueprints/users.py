"""``/api/v1/users`` (API.md "Administration", admin only): the user directory.

The views validate the shapes; the directory (``services.gateway.users_directory``:
the built-in issuer by default, or Keycloak's Admin REST API) applies the rules
(password policy, last active admin, unique username). Passwords are accepted,
never returned, never logged.
"""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from services.gateway.policy import requires
from services.gateway.users_directory import directory
from services.gateway.web import Blueprint, PageQuerySchema, page_schema

blp = Blueprint("users", __name__, url_prefix="/api/v1/users",
                description="Utilisateurs: the user directory (admin only)")

ROLES = ("admin", "data-scientist", "business-user", "viewer")
_DT = {"metadata": {"format": "date-time"}}
_NAME = validate.Length(max=100)


class UserSchema(ma.Schema):
    id = ma.fields.String(required=True)
    username = ma.fields.String(required=True)
    email = ma.fields.String(allow_none=True)
    first_name = ma.fields.String(allow_none=True)
    last_name = ma.fields.String(allow_none=True)
    role = ma.fields.String(required=True, metadata={"enum": list(ROLES)})
    active = ma.fields.Boolean(required=True)
    password_temporary = ma.fields.Boolean(
        metadata={"description": "must choose a new password at the next login"})
    locked = ma.fields.Boolean(metadata={"description": "locked by the brute-force protection"})
    locked_until = ma.fields.String(allow_none=True, **_DT)
    failures = ma.fields.Integer(metadata={"description": "recent failed logins"})
    created_at = ma.fields.String(allow_none=True, **_DT)
    updated_at = ma.fields.String(allow_none=True, **_DT)


UserPageSchema = page_schema(UserSchema, "UserPage")


class UserQuerySchema(PageQuerySchema):
    q = ma.fields.String(validate=validate.Length(max=200),
                         metadata={"description": "words of the username, names or e-mail"})
    role = ma.fields.String(validate=validate.OneOf(ROLES))
    active = ma.fields.Boolean()


class UserCreateSchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    username = ma.fields.String(required=True, validate=validate.Regexp(
        r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$",
        error="letters, digits, '.', '_', '-', '@' (at most 100)"))
    email = ma.fields.Email(load_default="")
    first_name = ma.fields.String(load_default="", validate=_NAME)
    last_name = ma.fields.String(load_default="", validate=_NAME)
    role = ma.fields.String(required=True, validate=validate.OneOf(ROLES))
    password = ma.fields.String(required=True, load_only=True, validate=validate.Length(max=256))
    temporary = ma.fields.Boolean(load_default=False, metadata={
        "description": "the user chooses a new password at the first login"})


class UserUpdateSchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    email = ma.fields.Email()
    first_name = ma.fields.String(validate=_NAME)
    last_name = ma.fields.String(validate=_NAME)
    role = ma.fields.String(validate=validate.OneOf(ROLES))
    active = ma.fields.Boolean(metadata={"description": "false: deactivated; their live "
                                                         "tokens stop working within seconds"})


class PasswordResetSchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    password = ma.fields.String(required=True, load_only=True, validate=validate.Length(max=256))
    temporary = ma.fields.Boolean(load_default=False)


@blp.route("", methods=["GET"])
@requires("users:admin")
@blp.arguments(UserQuerySchema, location="query")
@blp.response(200, UserPageSchema)
def list_users(args):
    """Users sorted by username; filters ``q``, ``role``, ``active``."""
    args.pop("sort", None)
    return directory().find(args)


@blp.route("", methods=["POST"])
@requires("users:admin")
@blp.arguments(UserCreateSchema)
@blp.response(201, UserSchema)
def create_user(data):
    """Create a user with a role and an initial password (``temporary``: changed at the
    first login). 400 names a bad field (password policy: ``PASSWORD_MIN_LENGTH``
    characters, not the username); 409 when the username is taken."""
    return directory().create(data)


@blp.route("/<user_id>", methods=["GET"])
@requires("users:admin")
@blp.response(200, UserSchema)
def get_user(user_id):
    """One user, with its lockout state (``locked``, ``locked_until``)."""
    return directory().get(user_id)


@blp.route("/<user_id>", methods=["PATCH"])
@requires("users:admin")
@blp.arguments(UserUpdateSchema)
@blp.response(200, UserSchema)
def update_user(changes, user_id):
    """Edit names, e-mail, ``role``, ``active``. Deactivating or changing the role ends
    the user's live sessions within seconds. 409: the last active admin."""
    return directory().update(user_id, changes)


@blp.route("/<user_id>/reset-password", methods=["POST"])
@requires("users:admin")
@blp.arguments(PasswordResetSchema)
@blp.response(200, UserSchema)
def reset_password(data, user_id):
    """Set a new password (``temporary``: to be changed at the next login)."""
    return directory().reset_password(user_id, data)


@blp.route("/<user_id>/unlock", methods=["POST"])
@requires("users:admin")
@blp.response(200, UserSchema)
def unlock_user(user_id):
    """Lift the brute-force lockout of the user."""
    return directory().unlock(user_id)
