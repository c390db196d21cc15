"""The gateway's JWT verifier: every forged, stale or misdirected token is a 401."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest

from services.gateway.auth import JwtVerifier, Principal, bearer_token
from shared.errors import ServiceUnavailable, Unauthorized
from shared.testing.tokens import TokenIssuer, generate_rsa_key


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(obj) -> str:
    return b64(json.dumps(obj, separators=(",", ":")).encode())


def unb64json(segment: str):
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture(scope="module")
def issuer():
    return TokenIssuer(serve=False)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def fetches():
    return []


@pytest.fixture
def verifier(issuer, clock, fetches):
    def fetch(url):
        fetches.append(url)
        return issuer.jwks()

    return JwtVerifier(issuer.issuer, issuer.audience, fetch=fetch, clock=clock)


def rejected(verifier, token, reason=""):
    with pytest.raises(Unauthorized) as info:
        verifier.verify(token)
    assert reason in info.value.message
    return info.value


def test_valid_token_gives_the_principal(verifier, issuer, fetches):
    token = issuer.issue_token("alice", ["data-scientist", "offline_access"])
    principal = verifier.principal(token)
    assert principal == Principal(
        "alice", "alice@example.org", "Alice", "Test", ("data-scientist", "offline_access")
    )
    verifier.principal(token)
    assert fetches == [issuer.jwks_url]  # the JWKS is cached


def test_no_token():
    with pytest.raises(Unauthorized):
        bearer_token(None)
    with pytest.raises(Unauthorized):
        bearer_token("Basic dXNlcjpwYXNz")
    with pytest.raises(Unauthorized):
        bearer_token("Bearer ")
    assert bearer_token("Bearer abc.def.ghi") == "abc.def.ghi"


def test_garbage_and_empty_tokens(verifier):
    rejected(verifier, "")
    rejected(verifier, "not-a-jwt")
    rejected(verifier, "a.b.c")


def test_expired(verifier, issuer):
    token = issuer.issue_token("alice", ["admin"], exp=int(time.time()) - 5)
    rejected(verifier, token, "expired")


def test_not_yet_valid(verifier, issuer):
    token = issuer.issue_token("alice", ["admin"], nbf=int(time.time()) + 600)
    rejected(verifier, token)


def test_signed_by_another_key_with_a_known_kid(verifier, issuer):
    other_private, _ = generate_rsa_key()
    token = issuer.issue_token("alice", ["admin"], signing_key=other_private)
    rejected(verifier, token, "invalid token")


def test_alg_none(verifier, issuer):
    claims = issuer.claims("alice", ["admin"])
    for alg in ("none", "None", "NONE"):
        token = f"{b64json({'alg': alg, 'typ': 'JWT', 'kid': issuer.kid})}.{b64json(claims)}."
        rejected(verifier, token, "RS256")


def test_hs256_signed_with_the_public_key(verifier, issuer):
    header = b64json({"alg": "HS256", "typ": "JWT", "kid": issuer.kid})
    payload = b64json(issuer.claims("alice", ["admin"]))
    signing_input = f"{header}.{payload}".encode()
    signature = hmac.new(issuer.public_pem.encode(), signing_input, hashlib.sha256).digest()
    rejected(verifier, f"{header}.{payload}.{b64(signature)}", "RS256")


def test_hs256_header_swapped_onto_an_rs256_token(verifier, issuer):
    _, payload, signature = issuer.issue_token("alice", ["viewer"]).split(".")
    header = b64json({"alg": "HS256", "kid": issuer.kid})
    rejected(verifier, f"{header}.{payload}.{signature}")


def test_tampered_payload(verifier, issuer):
    header, payload, signature = issuer.issue_token("mallory", ["viewer"]).split(".")
    claims = unb64json(payload)
    claims["realm_access"]["roles"] = ["admin"]
    rejected(verifier, f"{header}.{b64json(claims)}.{signature}", "invalid token")


def test_wrong_audience(verifier, issuer):
    rejected(verifier, issuer.issue_token("alice", ["admin"], aud="account"), "claims")
    # an audience list must contain ours
    ok = issuer.issue_token("alice", ["admin"], aud=["account", issuer.audience])
    assert verifier.verify(ok)["preferred_username"] == "alice"


def test_refresh_and_id_tokens_do_not_open_the_api(verifier, issuer):
    for typ in ("Refresh", "ID"):
        rejected(verifier, issuer.issue_token("alice", ["admin"], typ=typ))
    assert verifier.verify(issuer.issue_token("alice", ["admin"], typ="Bearer"))


def test_missing_aud_exp_iat(verifier, issuer):
    for claim in ("aud", "exp", "iat"):
        rejected(verifier, issuer.issue_token("alice", ["admin"], **{claim: None}))


def test_wrong_issuer(verifier, issuer):
    rejected(verifier, issuer.issue_token("alice", ["admin"], iss="http://evil/realms/x"), "claims")
    rejected(verifier, issuer.issue_token("alice", ["admin"], iss=None))


def test_no_kid(verifier, issuer):
    rejected(verifier, issuer.issue_token("alice", ["admin"], headers={"kid": None}), "kid")


def test_unknown_kid_refetches_once_then_401(verifier, issuer, fetches, clock):
    verifier.verify(issuer.issue_token("alice", ["viewer"]))
    assert len(fetches) == 1
    clock.now += 60
    rejected(
        verifier, issuer.issue_token("alice", ["viewer"], headers={"kid": "ghost"}), "unknown key"
    )
    assert len(fetches) == 2  # refetched once
    clock.now += 1
    rejected(verifier, issuer.issue_token("alice", ["viewer"], headers={"kid": "ghost2"}))
    assert len(fetches) == 2  # rate-limited: no second fetch within the interval


def test_rotated_key_is_picked_up(issuer, clock, fetches):
    local = TokenIssuer(serve=False)
    verifier = JwtVerifier(
        local.issuer,
        local.audience,
        clock=clock,
        fetch=lambda url: fetches.append(url) or local.jwks(),
    )
    verifier.verify(local.issue_token("alice", ["viewer"]))
    clock.now += 11
    local.rotate()
    assert verifier.principal(local.issue_token("bob", ["viewer"])).username == "bob"
    assert len(fetches) == 2


def test_issuer_unreachable_then_back(issuer, clock):
    state = {"up": False}

    def fetch(url):
        if not state["up"]:
            raise ConnectionError("refused")
        return issuer.jwks()

    verifier = JwtVerifier(issuer.issuer, issuer.audience, fetch=fetch, clock=clock)
    token = issuer.issue_token("alice", ["viewer"])
    with pytest.raises(ServiceUnavailable):
        verifier.verify(token)
    state["up"] = True
    clock.now += 11
    assert verifier.verify(token)["preferred_username"] == "alice"


def test_token_without_username_is_rejected(verifier, issuer):
    token = issuer.issue_token("alice", ["viewer"], preferred_username=None, sub=None)
    with pytest.raises(Unauthorized):
        verifier.principal(token)


def test_over_http_against_a_local_jwks(token_issuer):
    verifier = JwtVerifier(token_issuer.issuer, token_issuer.audience)
    before = token_issuer.jwks_requests
    principal = verifier.principal(token_issuer.issue_token("carol", ["business-user"]))
    assert principal.username == "carol" and principal.roles == ("business-user",)
    assert token_issuer.jwks_requests == before + 1
