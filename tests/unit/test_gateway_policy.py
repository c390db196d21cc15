"""The role matrix of API.md, and 401 vs 403 through the decorator."""

from __future__ import annotations

import pytest
from flask import Flask

from services.gateway import errors
from services.gateway.auth import JwtVerifier
from services.gateway.policy import POLICY, ROLES, allowed, requires
from shared.testing.tokens import TokenIssuer

# API.md's matrix, row by row: (action, admin, data-scientist, business-user, viewer).
MATRIX = [
    ("models:read", True, True, True, True),
    ("deployments:read", True, True, True, True),
    ("executions:read", True, True, True, True),
    ("dashboard:read", True, True, True, True),
    ("reports:read", True, True, True, True),
    ("models:download", True, True, False, False),
    ("models:write", True, True, False, False),
    ("deployments:write", True, True, False, False),
    ("executions:run", True, True, True, False),
    ("admin", True, False, False, False),
    ("users:admin", True, False, False, False),
    ("backups:admin", True, False, False, False),
]


@pytest.mark.parametrize("row", MATRIX, ids=[row[0] for row in MATRIX])
def test_role_matrix(row):
    action, *expected = row
    assert ROLES == ("admin", "data-scientist", "business-user", "viewer")
    assert [allowed(action, [role]) for role in ROLES] == expected


def test_no_role_and_unknown_roles_get_nothing():
    for action in POLICY:
        assert not allowed(action, [])
        assert not allowed(action, ["offline_access", "uma_authorization"])
    assert not allowed("no-such-action", ["admin"])


def test_unknown_action_fails_at_decoration():
    with pytest.raises(KeyError):
        requires("models:wrte")


@pytest.fixture(scope="module")
def issuer():
    return TokenIssuer(serve=False)


@pytest.fixture
def client(issuer):
    app = Flask(__name__)

    class State:
        verifier = JwtVerifier(issuer.issuer, issuer.audience, fetch=lambda url: issuer.jwks())

    app.extensions["gateway"] = State()
    errors.init_app(app)

    @app.post("/write")
    @requires("models:write")
    def write():
        return {"ok": True}

    return app.test_client()


def test_401_without_or_with_a_bad_token(client, issuer):
    for headers in (
        {},
        {"Authorization": "Bearer junk"},
        {"Authorization": f"Bearer {issuer.issue_token('a', ['admin'], exp=1)}"},
    ):
        response = client.post("/write", headers=headers)
        assert response.status_code == 401
        assert response.json["error"]["code"] == "unauthorized"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "role,status",
    [("admin", 200), ("data-scientist", 200), ("business-user", 403), ("viewer", 403)],
)
def test_403_for_a_valid_token_without_the_role(client, issuer, role, status):
    token = issuer.issue_token("u", [role])
    response = client.post("/write", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == status
    if status == 403:
        assert response.json["error"]["code"] == "forbidden"
        assert response.json["error"]["details"]["required_roles"] == ["admin", "data-scientist"]
