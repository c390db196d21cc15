"""The shipped Keycloak realm export describes the same realm as the embedded issuer.

Everything is compared with ``services/auth/domain.py``'s constants, so the
two identity providers cannot drift apart unnoticed.
"""

from __future__ import annotations

import json

import pytest

from services.auth import domain
from services.auth.lockout import LockoutPolicy
from shared.config import DEFAULTS, ROOT

EXPORT = ROOT / "deploy" / "keycloak" / "realm-ml-platform.json"


@pytest.fixture(scope="module")
def realm() -> dict:
    return json.loads(EXPORT.read_text(encoding="utf-8"))


def clients_of(realm: dict) -> dict[str, dict]:
    return {client["clientId"]: client for client in realm["clients"]}


def test_realm_name_and_roles(realm):
    assert realm["realm"] == domain.REALM
    assert realm["enabled"] is True
    assert [role["name"] for role in realm["roles"]["realm"]] == list(domain.ROLES)


def test_token_lifetimes_match_the_embedded_defaults(realm):
    assert realm["accessTokenLifespan"] == int(DEFAULTS["ACCESS_TOKEN_TTL_S"])
    assert realm["ssoSessionIdleTimeout"] == int(DEFAULTS["REFRESH_TOKEN_TTL_S"])
    assert realm["ssoSessionMaxLifespan"] == domain.SESSION_MAX_S
    assert realm["defaultSignatureAlgorithm"] == domain.ALGORITHM


def test_clients_match(realm):
    clients = clients_of(realm)
    assert set(clients) == set(domain.CLIENTS)
    for client_id, expected in domain.CLIENTS.items():
        client = clients[client_id]
        assert client["publicClient"] is True, client_id
        assert client["protocol"] == "openid-connect"
        assert client["standardFlowEnabled"] is expected.standard_flow, client_id
        assert client["directAccessGrantsEnabled"] is expected.direct_access_grants, client_id
        assert client["implicitFlowEnabled"] is False
        assert client["serviceAccountsEnabled"] is False
        assert client["redirectUris"] == list(expected.redirect_uris)
        assert client["webOrigins"] == list(expected.web_origins)
        post_logout = client["attributes"].get("post.logout.redirect.uris", "")
        # Keycloak separates several URIs with "##".
        assert [uri for uri in post_logout.split("##") if uri] == list(
            expected.post_logout_redirect_uris)


def test_web_client_uses_pkce_s256_and_the_exact_uris_of_contract_c1(realm):
    web = clients_of(realm)[domain.CLIENT_WEB]
    public = DEFAULTS["PUBLIC_URL"] or f"http://localhost:{DEFAULTS['GATEWAY_PORT']}"
    assert public == domain.DEFAULT_PUBLIC_URL
    assert web["attributes"]["pkce.code.challenge.method"] == "S256"
    assert domain.PKCE_METHODS == ("S256",)
    assert web["publicClient"] is True and web["standardFlowEnabled"] is True
    assert web["directAccessGrantsEnabled"] is False  # code + PKCE only
    assert web["redirectUris"] == [f"{public}{domain.WEB_CALLBACK_PATH}"]
    assert web["webOrigins"] == [public]
    assert web["attributes"]["post.logout.redirect.uris"] == f"{public}/"
    assert not any("*" in uri for uri in web["redirectUris"] + web["webOrigins"])
    cli = clients_of(realm)[domain.CLIENT_CLI]
    assert cli["directAccessGrantsEnabled"] is True


def test_brute_force_detection_matches_the_lockout_policy(realm):
    policy = LockoutPolicy()  # the built-in issuer's defaults
    assert realm["bruteForceProtected"] is True
    assert realm["permanentLockout"] is False
    assert realm["failureFactor"] == policy.max_failures
    assert realm["waitIncrementSeconds"] == policy.base_wait_s
    assert realm["maxFailureWaitSeconds"] == policy.max_wait_s
    assert realm["maxDeltaTimeSeconds"] == policy.reset_after_s
    assert realm["accessCodeLifespan"] == int(DEFAULTS["AUTH_CODE_TTL_S"])


def test_every_client_adds_the_api_audience_to_access_tokens(realm):
    # Without the mapper Keycloak's tokens carry only aud "account" (TRAPS.md),
    # and the gateway, which requires ml-platform-api, would refuse them all.
    for client_id, client in clients_of(realm).items():
        mappers = [
            m for m in client["protocolMappers"] if m["protocolMapper"] == "oidc-audience-mapper"
        ]
        assert len(mappers) == 1, client_id
        config = mappers[0]["config"]
        assert config["included.custom.audience"] == domain.DEFAULT_AUDIENCE
        assert config["access.token.claim"] == "true"
        # roles, profile and email put realm_access and the names in the token;
        # since Keycloak 25 even ``sub`` comes from the "basic" scope.
        assert {"basic", "roles", "profile", "email"} <= set(client["defaultClientScopes"])


def test_demo_users_match(realm):
    users = {user["username"]: user for user in realm["users"]}
    assert list(users) == [demo.username for demo in domain.DEMO_USERS]
    for demo in domain.DEMO_USERS:
        user = users[demo.username]
        assert user["enabled"] is True
        assert user["realmRoles"] == [demo.role]
        assert (user["email"], user["firstName"], user["lastName"]) == (
            demo.email,
            demo.first_name,
            demo.last_name,
        )
        assert user["credentials"] == [
            {"type": "password", "value": demo.password, "temporary": False}
        ]
