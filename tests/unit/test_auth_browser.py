"""Pure logic of the browser login: authorization requests, redirect-URI matching,
PKCE, the password policy and the brute-force lockout maths."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from services.auth import browser, domain
from services.auth.browser import AuthorizeError
from services.auth.lockout import LockoutPolicy, french_wait, locked_message, retry_after_s
from services.auth.login_store import IssuedCode

PUBLIC = "https://ml.example.com"
CLIENTS = domain.clients_for(PUBLIC)
WEB = CLIENTS[domain.CLIENT_WEB]
CALLBACK = f"{PUBLIC}/auth/callback"
# RFC 7636 appendix B.
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def query(**overrides):
    params = {
        "client_id": domain.CLIENT_WEB,
        "redirect_uri": CALLBACK,
        "response_type": "code",
        "scope": "openid profile email",
        "state": "st",
        "nonce": "nn",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
        **overrides,
    }
    return {k: v for k, v in params.items() if v is not None}


def refused(**overrides) -> AuthorizeError:
    with pytest.raises(AuthorizeError) as info:
        browser.parse_authorize(query(**overrides), CLIENTS)
    return info.value


# -- clients (contract C1) -------------------------------------------------------------


def test_web_client_uris_come_from_the_public_url():
    assert WEB.redirect_uris == (CALLBACK,)
    assert WEB.post_logout_redirect_uris == (f"{PUBLIC}/",)
    assert WEB.web_origins == (PUBLIC,)
    assert domain.clients_for("http://localhost:4321/")[domain.CLIENT_WEB].redirect_uris == (
        "http://localhost:4321/auth/callback",)
    assert WEB.grant_types == ("authorization_code", "refresh_token")
    assert CLIENTS[domain.CLIENT_CLI].grant_types == ("password", "refresh_token")
    assert domain.origin_of("http://h:1/a/b?c") == "http://h:1"


# -- the authorization request ------------------------------------------------------------


def test_a_valid_request():
    auth = browser.parse_authorize(query(), CLIENTS)
    assert (auth.client, auth.redirect_uri, auth.state, auth.nonce) == (WEB, CALLBACK, "st", "nn")
    assert auth.scope == "openid profile email"
    assert auth.code_challenge == CHALLENGE
    location = auth.redirect(code="abc")
    assert parse_qs(urlsplit(location).query) == {"code": ["abc"], "state": ["st"]}


@pytest.mark.parametrize("uri", [
    "https://evil.example/auth/callback",
    f"{CALLBACK}/",
    f"{CALLBACK}?x=1",
    f"{CALLBACK}#frag",
    CALLBACK.upper(),
    f"{PUBLIC}/auth/callback/../evil",
    "https://ml.example.com.evil.example/auth/callback",
    f"{PUBLIC}/*",
    "",
    None,
])
def test_redirect_uri_must_match_exactly_or_no_redirect_at_all(uri):
    error = refused(redirect_uri=uri)
    assert error.redirect_to is None  # an error page, never a redirect
    assert error.error == "invalid_redirect_uri"


@pytest.mark.parametrize("client_id", ["nope", "", None, domain.CLIENT_CLI])
def test_unknown_client_or_one_without_browser_flow_gets_an_error_page(client_id):
    error = refused(client_id=client_id)
    assert error.redirect_to is None
    assert error.error in ("invalid_client", "unauthorized_client")


@pytest.mark.parametrize(("overrides", "error", "description"), [
    ({"response_type": "token"}, "unsupported_response_type", None),
    ({"response_type": None}, "unsupported_response_type", None),
    ({"response_mode": "fragment"}, "invalid_request", "Invalid parameter: response_mode"),
    ({"code_challenge_method": "plain"}, "invalid_request",
     "Invalid parameter: code_challenge_method"),
    ({"code_challenge_method": None}, "invalid_request",
     "Missing parameter: code_challenge_method"),
    ({"code_challenge": None}, "invalid_request", "Missing parameter: code_challenge"),
    ({"code_challenge": "a" * 42}, "invalid_request", "Invalid parameter: code_challenge"),
    ({"code_challenge": "a" * 42 + "!"}, "invalid_request",
     "Invalid parameter: code_challenge"),
    ({"prompt": "consent"}, "invalid_request", "Invalid parameter: prompt"),
    ({"nonce": "n" * 3000}, "invalid_request", "Invalid parameter: nonce"),
])
def test_later_errors_go_back_to_the_trusted_redirect_uri(overrides, error, description):
    refusal = refused(**overrides)
    assert refusal.error == error
    sent = urlsplit(refusal.redirect_to)
    assert f"{sent.scheme}://{sent.netloc}{sent.path}" == CALLBACK
    params = parse_qs(sent.query)
    assert params["error"] == [error] and params["state"] == ["st"]
    if description:
        assert params["error_description"] == [description]


def test_an_oversized_state_is_never_echoed():
    refusal = refused(state="s" * 5000, response_type="token")
    assert "state" not in parse_qs(urlsplit(refusal.redirect_to).query)


def test_post_logout_uri_matches_exactly():
    assert browser.post_logout_uri_allowed(f"{PUBLIC}/", WEB)
    for uri in (PUBLIC, f"{PUBLIC}/x", "https://evil.example/", ""):
        assert not browser.post_logout_uri_allowed(uri, WEB)


def test_add_query_keeps_an_existing_query():
    assert browser.add_query("http://a/b?x=1", y="2", z=None) == "http://a/b?x=1&y=2"


# -- PKCE ---------------------------------------------------------------------------------


def test_pkce_s256_of_rfc_7636():
    assert browser.s256(VERIFIER) == CHALLENGE
    assert browser.pkce_error(VERIFIER, CHALLENGE) is None


@pytest.mark.parametrize(("verifier", "reason"), [
    ("", "PKCE code verifier not specified"),
    ("short", "PKCE invalid code verifier"),
    ("a" * 129, "PKCE invalid code verifier"),
    (VERIFIER[:-1] + "!", "PKCE invalid code verifier"),
    (VERIFIER[:-1] + "l", "PKCE verification failed: Code mismatch"),
    (CHALLENGE, "PKCE verification failed: Code mismatch"),  # "plain" is not accepted
])
def test_pkce_refusals(verifier, reason):
    assert browser.pkce_error(verifier, CHALLENGE) == reason


def code(**overrides):
    fields = dict(client_id=domain.CLIENT_WEB, redirect_uri=CALLBACK, code_challenge=CHALLENGE,
                  user_id="u", sid="s", scope="openid", nonce="n",
                  expires_at=NOW + timedelta(seconds=60))
    return IssuedCode(**{**fields, **overrides})


def redeem(issued, **overrides):
    args = dict(client_id=domain.CLIENT_WEB, redirect_uri=CALLBACK, code_verifier=VERIFIER,
                now=NOW)
    return browser.code_refusal(issued, **{**args, **overrides})


def test_a_code_is_bound_to_client_redirect_uri_and_challenge_and_expires():
    assert redeem(code()) is None
    assert redeem(code(), client_id=domain.CLIENT_CLI) == "Code not valid"
    assert redeem(code(), redirect_uri=f"{PUBLIC}/") == "Incorrect redirect_uri"
    assert redeem(code(), code_verifier=VERIFIER[::-1]) == (
        "PKCE verification failed: Code mismatch")
    assert redeem(code(), code_verifier="") == "PKCE code verifier not specified"
    assert redeem(code(), now=NOW + timedelta(seconds=59)) is None
    assert redeem(code(), now=NOW + timedelta(seconds=60)) == "Code not valid"


# -- password policy ---------------------------------------------------------------------------


def test_password_policy():
    ok = browser.password_policy_errors("Tout-Neuf-1", "Tout-Neuf-1", username="léa",
                                        min_length=8)
    assert ok == []
    errors = browser.password_policy_errors("abc", "abd", username="x", min_length=8)
    assert errors == ["Le mot de passe doit contenir au moins 8 caractères.",
                      "Les mots de passe ne correspondent pas."]
    same = browser.password_policy_errors("Administrateur", "Administrateur",
                                          username="administrateur", min_length=8)
    assert same == ["Le mot de passe ne doit pas être identique au nom d'utilisateur."]
    assert browser.password_policy_errors("", "", username="x", min_length=8) == [
        "Saisissez un nouveau mot de passe."]
    assert browser.password_policy_errors("abcd", "abcd", username="x", min_length=4) == []


# -- lockout maths -----------------------------------------------------------------------------


def test_wait_doubles_from_the_threshold_and_is_capped():
    policy = LockoutPolicy(max_failures=5, base_wait_s=60, max_wait_s=900)
    assert [policy.wait_after(n) for n in range(0, 5)] == [0, 0, 0, 0, 0]
    assert [policy.wait_after(n) for n in range(5, 11)] == [60, 120, 240, 480, 900, 900]
    assert policy.wait_after(10_000) == 900  # no overflow
    assert policy.locked_until(4, NOW) is None
    assert policy.locked_until(6, NOW) == NOW + timedelta(seconds=120)


def test_old_failures_are_forgotten():
    policy = LockoutPolicy(reset_after_s=3600)
    assert policy.forgotten(None, NOW)
    assert not policy.forgotten(NOW - timedelta(seconds=3599), NOW)
    assert policy.forgotten(NOW - timedelta(seconds=3601), NOW)


def test_policy_from_config_and_its_defaults():
    assert LockoutPolicy.from_config({}) == LockoutPolicy(5, 60, 900, 43200)
    policy = LockoutPolicy.from_config({"LOGIN_MAX_FAILURES": "3", "LOGIN_LOCKOUT_S": "0.5",
                                        "LOGIN_LOCKOUT_MAX_S": 2, "LOGIN_FAILURE_RESET_S": ""})
    assert policy == LockoutPolicy(3, 0.5, 2, 43200)
    with pytest.raises(ValueError):
        LockoutPolicy(max_failures=0)
    with pytest.raises(ValueError):
        LockoutPolicy(base_wait_s=10, max_wait_s=5)


def test_wait_messages_in_french():
    assert retry_after_s(NOW + timedelta(seconds=0.2), NOW) == 1
    assert retry_after_s(NOW + timedelta(seconds=59.5), NOW) == 60
    assert french_wait(1) == "1 seconde"
    assert french_wait(42) == "42 secondes"
    assert french_wait(60) == "1 minute"
    assert french_wait(150) == "2 minutes et 30 secondes"
    assert locked_message(120) == ("Trop de tentatives de connexion échouées. "
                                   "Veuillez patienter 2 minutes avant de réessayer.")
