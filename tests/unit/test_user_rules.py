"""Pure rules of user administration (shared/users.py), the gateway's token deny-list
and the role guard of every /api/v1/users route."""

from __future__ import annotations

import pytest

from services.gateway.revocation import DenyList, epoch
from shared import users
from shared.errors import Conflict, ValidationError

ADMIN = {"id": "a1", "role": "admin", "active": True}


@pytest.mark.parametrize("password, username, ok", [
    ("long-enough", "ana", True),
    ("short", "ana", False),
    ("AnaLopes12", "analopes12", False),  # the user name, whatever the case
    (" analopes12 ", "analopes12", False),
    ("", "ana", False),
])
def test_password_policy(password, username, ok):
    assert (users.password_errors(password, username, 8) == []) is ok


def test_password_policy_names_the_field_and_follows_the_length():
    with pytest.raises(ValidationError) as caught:
        users.check_password("abcdefghi", "ana", 12)
    assert list(caught.value.details) == ["password"]
    assert "12" in caught.value.details["password"][0]
    users.check_password("abcdefghijkl", "ana", 12)


@pytest.mark.parametrize("changes", [{"active": False}, {"role": "viewer"},
                                     {"role": "viewer", "active": True}])
def test_the_last_active_admin_cannot_leave(changes):
    with pytest.raises(Conflict):
        users.check_last_admin(ADMIN, changes, ["a1"])
    users.check_last_admin(ADMIN, changes, ["a1", "a2"])  # another admin remains


@pytest.mark.parametrize("user, changes", [
    (ADMIN, {"first_name": "Camille"}),
    (ADMIN, {"role": "admin", "active": True}),
    ({"id": "b", "role": "viewer", "active": True}, {"active": False}),
    ({"id": "b", "role": "admin", "active": False}, {"role": "viewer"}),  # already inactive
])
def test_other_changes_are_not_the_last_admin_rule(user, changes):
    users.check_last_admin(user, changes, ["a1"] if user is ADMIN else [])


@pytest.mark.parametrize("changes, revoked", [
    ({"active": False}, True), ({"role": "viewer"}, True), ({"role": "data-scientist"}, False),
    ({"email": "x@example.com"}, False), ({"active": True}, False),
])
def test_which_changes_revoke_tokens(changes, revoked):
    user = {"role": "data-scientist", "active": True}
    assert users.revokes_tokens(user, changes) is revoked


def test_list_filters():
    user = {"username": "alopes", "email": "ana@example.com", "first_name": "Ana",
            "last_name": "Lopes", "role": "viewer", "active": False}
    assert users.matches(user, "ana LOP", None, None)
    assert not users.matches(user, "ana smith", None, None)
    assert users.matches(user, None, "viewer", False)
    assert not users.matches(user, None, "admin", None)
    assert not users.matches(user, None, None, True)


def test_deny_list_refuses_tokens_issued_up_to_the_revocation():
    deny = DenyList()
    at = epoch("2026-01-01T10:00:00.500Z")
    deny.revoke("u1", at)
    assert deny.refuses({"sub": "u1", "iat": int(at) - 60})
    assert deny.refuses({"sub": "u1", "iat": int(at)})  # same second: refused
    assert not deny.refuses({"sub": "u1", "iat": int(at) + 1})
    assert deny.refuses({"sub": "u1"})  # no iat: cannot be proven newer
    assert not deny.refuses({"sub": "u2", "iat": 0})
    deny.revoke("u1", at - 100)  # an older event arriving late does not lower it
    assert deny.refuses({"sub": "u1", "iat": int(at)})


def test_every_users_route_is_admin_only():
    from services.gateway.app import create_app

    app = create_app({"REVOCATION_ENABLED": False})
    rules = [r for r in app.url_map.iter_rules() if r.rule.startswith("/api/v1/users")]
    assert len(rules) == 6
    for rule in rules:
        assert app.view_functions[rule.endpoint]._policy_action == "users:admin"
