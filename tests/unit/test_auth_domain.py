"""Pure logic of the embedded issuer: grant parameters, claims, tokens."""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwk, jwt
from jose.exceptions import JOSEError

from services.auth import domain
from services.auth.domain import IssuerSettings, OAuthError, PasswordGrant, RefreshGrant, User

ISSUER = "http://issuer.test/realms/ml-platform"
SETTINGS = IssuerSettings(
    issuer=ISSUER,
    audience="ml-platform-api",
    access_ttl_s=300,
    refresh_ttl_s=1800,
    session_max_s=36000,
)


@pytest.fixture(scope="module")
def key():
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return jwk.construct(pem, "RS256")


def make_user(**overrides) -> User:
    fields = dict(
        id="65a000000000000000000001",
        username="alice",
        email="alice@example.com",
        first_name="Alice",
        last_name="Durand",
        role="data-scientist",
        active=True,
        password_hash="$argon2id$...",
    )
    return User(**{**fields, **overrides})


def refused(form) -> OAuthError:
    with pytest.raises(OAuthError) as info:
        domain.parse_token_request(form)
    return info.value


# -- token request parameters ------------------------------------------------------


def test_password_grant_is_parsed_for_the_cli_only():
    # The web client signs in through the login page (code + PKCE), never with a password.
    error = refused({"grant_type": "password", "client_id": domain.CLIENT_WEB,
                         "username": "admin", "password": "x"})
    assert error.error == "unsupported_grant_type"
    for client_id in (domain.CLIENT_CLI,):
        grant = domain.parse_token_request(
            {
                "grant_type": "password",
                "client_id": client_id,
                "username": " Admin ",
                "password": "x y",
            }
        )
        assert isinstance(grant, PasswordGrant)
        assert grant.client.client_id == client_id
        assert grant.username == "admin"  # Keycloak usernames are case-insensitive
        assert grant.password == "x y"  # passwords are taken verbatim
        assert grant.scope == "profile email"


def test_refresh_grant_is_parsed():
    grant = domain.parse_token_request(
        {"grant_type": "refresh_token", "client_id": domain.CLIENT_CLI, "refresh_token": "abc"}
    )
    assert isinstance(grant, RefreshGrant)
    assert grant.refresh_token == "abc"


@pytest.mark.parametrize("missing", ["grant_type", "client_id", "username", "password"])
def test_missing_password_grant_parameter_is_invalid_request(missing):
    form = {
        "grant_type": "password",
        "client_id": domain.CLIENT_CLI,
        "username": "a",
        "password": "b",
    }
    form[missing] = ""
    exc = refused(form)
    assert (exc.status, exc.error) == (400, "invalid_request")
    assert missing in exc.description


def test_missing_refresh_token_is_invalid_request():
    exc = refused({"grant_type": "refresh_token", "client_id": domain.CLIENT_CLI})
    assert (exc.status, exc.error) == (400, "invalid_request")


def test_unknown_client_is_invalid_client_401():
    exc = refused({"grant_type": "password", "client_id": "evil", "username": "a", "password": "b"})
    assert (exc.status, exc.error) == (401, "invalid_client")


@pytest.mark.parametrize("grant_type", ["client_credentials", "authorization_code", "implicit"])
def test_other_grants_are_unsupported(grant_type):
    exc = refused({"grant_type": grant_type, "client_id": domain.CLIENT_CLI})
    assert (exc.status, exc.error) == (400, "unsupported_grant_type")
    assert exc.body() == {
        "error": "unsupported_grant_type",
        "error_description": "Unsupported grant_type",
    }


def test_grant_type_label_is_bounded():
    assert domain.grant_type_label({"grant_type": "password"}) == "password"
    assert domain.grant_type_label({}) == "none"
    assert domain.grant_type_label({"grant_type": "x" * 500}) == "unsupported"


def test_bad_credentials_answer_is_keycloaks():
    exc = domain.invalid_credentials()
    assert exc.status == 401
    assert exc.body() == {"error": "invalid_grant", "error_description": "Invalid user credentials"}


def test_openid_scope_is_kept():
    assert domain.effective_scope("openid profile") == "openid profile email"
    assert domain.effective_scope("admin superpowers") == "profile email"


# -- claims ------------------------------------------------------------------------


def test_access_claims_are_keycloaks():
    claims = domain.access_claims(make_user(), domain.CLIENT_CLI, SETTINGS, now=1000, sid="s1")
    assert claims["iss"] == ISSUER
    assert claims["aud"] == ["ml-platform-api", "account"]
    assert claims["sub"] == "65a000000000000000000001"
    assert claims["azp"] == domain.CLIENT_CLI
    assert claims["typ"] == "Bearer"
    assert (claims["iat"], claims["exp"]) == (1000, 1300)
    assert claims["realm_access"] == {"roles": ["data-scientist"]}
    assert claims["preferred_username"] == "alice"
    assert claims["email"] == "alice@example.com"
    assert (claims["given_name"], claims["family_name"], claims["name"]) == (
        "Alice",
        "Durand",
        "Alice Durand",
    )
    assert claims["sid"] == "s1"
    other = domain.access_claims(make_user(), domain.CLIENT_CLI, SETTINGS, now=1000, sid="s1")
    assert other["jti"] != claims["jti"]


def test_refresh_claims_slide_but_stop_at_session_max():
    user = make_user()
    claims = domain.refresh_claims(
        user, domain.CLIENT_CLI, SETTINGS, now=1000, sid="s", session_started=1000
    )
    assert claims["typ"] == "Refresh"
    assert claims["aud"] == ISSUER
    assert claims["exp"] == 2800
    late = domain.refresh_claims(
        user, domain.CLIENT_CLI, SETTINGS, now=1000 + 35000, sid="s", session_started=1000
    )
    assert late["exp"] == 1000 + 36000
    assert "realm_access" not in claims  # a refresh token carries no authority


def test_token_response_shape():
    body = domain.token_response("a", "r", 2800, SETTINGS, now=1000, sid="s", scope="profile email")
    assert body["token_type"] == "Bearer"
    assert (body["expires_in"], body["refresh_expires_in"]) == (300, 1800)
    assert {"access_token", "refresh_token", "scope"} <= body.keys()
    assert "id_token" not in body


def test_discovery_urls_are_built_from_the_issuer():
    doc = domain.openid_configuration(ISSUER)
    assert doc["issuer"] == ISSUER
    oidc = f"{ISSUER}/protocol/openid-connect"
    assert doc["token_endpoint"] == f"{oidc}/token"
    assert doc["jwks_uri"] == f"{oidc}/certs"
    assert doc["userinfo_endpoint"] == f"{oidc}/userinfo"
    assert doc["authorization_endpoint"] == f"{oidc}/auth"
    assert doc["end_session_endpoint"] == f"{oidc}/logout"
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert set(doc["grant_types_supported"]) == {
        "authorization_code", "password", "refresh_token"}
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["response_types_supported"] == ["code"]


def test_userinfo_has_no_token_internals():
    info = domain.userinfo(make_user(role="viewer"))
    assert info["sub"] == "65a000000000000000000001"
    assert info["realm_access"] == {"roles": ["viewer"]}
    assert "password_hash" not in info and "exp" not in info


def test_demo_users_cover_every_role_once():
    assert sorted(u.role for u in domain.DEMO_USERS) == sorted(domain.ROLES)
    assert [u.username for u in domain.DEMO_USERS] == [
        "admin",
        "datascientist",
        "business",
        "viewer",
    ]
    assert all(u.email.endswith("@example.com") for u in domain.DEMO_USERS)


# -- keys and tokens -------------------------------------------------------------------


def test_rfc7638_thumbprint():
    # The example of RFC 7638 section 3.1.
    example = {
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6"
        "tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v"
        "-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08q"
        "NLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8aw"
        "apJzKnqDKgw",
        "e": "AQAB",
    }
    assert domain.jwk_thumbprint(example) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_signed_token_verifies_and_carries_kid(key):
    claims = domain.access_claims(
        make_user(), domain.CLIENT_CLI, SETTINGS, now=int(time.time()), sid="s"
    )
    token = domain.sign(claims, key, "kid-1")
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "RS256", "kid": "kid-1", "typ": "JWT"}
    assert domain.unverified_kid(token) == "kid-1"
    got = domain.verify(
        token, key.public_key(), issuer=ISSUER, audience="ml-platform-api", typ="Bearer"
    )
    assert got["sub"] == claims["sub"]


def test_verify_rejects_wrong_type_issuer_audience_and_expiry(key):
    now = int(time.time())
    user = make_user()
    access = domain.sign(domain.access_claims(user, "c", SETTINGS, now=now, sid="s"), key, "k")
    public = key.public_key()
    with pytest.raises(JOSEError):  # an access token is not a refresh token
        domain.verify(access, public, issuer=ISSUER, audience=None, typ="Refresh")
    with pytest.raises(JOSEError):
        domain.verify(access, public, issuer="http://other", audience=None, typ="Bearer")
    with pytest.raises(JOSEError):
        domain.verify(access, public, issuer=ISSUER, audience="someone-else", typ="Bearer")
    expired = domain.sign(
        domain.access_claims(user, "c", SETTINGS, now=now - 400, sid="s"), key, "k"
    )
    with pytest.raises(JOSEError):
        domain.verify(expired, public, issuer=ISSUER, audience=None, typ="Bearer")


def test_verify_requires_exp_and_aud(key):
    # python-jose accepts both missing unless told (TRAPS.md): we tell it.
    now = int(time.time())
    base = {"iss": ISSUER, "sub": "x", "iat": now, "typ": "Bearer"}
    no_exp = domain.sign({**base, "aud": "ml-platform-api"}, key, "k")
    with pytest.raises(JOSEError):
        domain.verify(
            no_exp, key.public_key(), issuer=ISSUER, audience="ml-platform-api", typ="Bearer"
        )
    no_aud = domain.sign({**base, "exp": now + 60}, key, "k")
    with pytest.raises(JOSEError):
        domain.verify(
            no_aud, key.public_key(), issuer=ISSUER, audience="ml-platform-api", typ="Bearer"
        )


def test_verify_rejects_other_key_and_hs256(key):
    now = int(time.time())
    claims = domain.access_claims(make_user(), "c", SETTINGS, now=now, sid="s")
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other_pem = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    forged = domain.sign(claims, jwk.construct(other_pem, "RS256"), "k")
    with pytest.raises(JOSEError):
        domain.verify(forged, key.public_key(), issuer=ISSUER, audience=None, typ="Bearer")
    hs = jwt.encode(claims, "secret", algorithm="HS256", headers={"kid": "k"})
    assert domain.unverified_kid(hs) is None
    assert domain.unverified_kid("not a token") is None


def test_roles_and_origins():
    assert domain.check_role("viewer") == "viewer"
    with pytest.raises(ValueError):
        domain.check_role("root")
    assert domain.WEB_ORIGINS == ("http://localhost:3000",)
    assert domain.parse_origins(" https://a.example/ , http://b:3000,") == (
        "https://a.example",
        "http://b:3000",
    )
