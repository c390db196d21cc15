"""The browser login of the auth service, over HTTP, against a running container
(real RabbitMQ, real embedded database): login page, code + PKCE, SSO session,
logout, temporary passwords, brute-force lockout, events."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from jose import jwt
from nameko.testing.utils import get_extension
from prometheus_client import REGISTRY

from services.auth import domain
from services.auth.dependencies import UserRepository
from shared.testing.browser_login import LoginBrowser, parse_page
from tests.service.test_auth_service import Issuer, start_issuer  # noqa: F401  (fixture)

pytestmark = pytest.mark.service

PUBLIC = "http://localhost:3999"
CALLBACK = f"{PUBLIC}/auth/callback"
INVALID = "Nom d'utilisateur ou mot de passe invalide"


@pytest.fixture
def web_issuer(start_issuer) -> Issuer:  # noqa: F811
    return start_issuer(
        PUBLIC_URL=PUBLIC, AUTH_CODE_TTL_S=2, LOGIN_MAX_FAILURES=3, LOGIN_LOCKOUT_S=1,
        LOGIN_LOCKOUT_MAX_S=2,
    )


def browser_for(issuer: Issuer, redirect_uri: str = CALLBACK) -> LoginBrowser:
    return LoginBrowser(f"{issuer.base}{domain.REALM_PATH}", redirect_uri)


def sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def users_of(issuer: Issuer) -> UserRepository:
    return get_extension(issuer.container, UserRepository)


# -- the page --------------------------------------------------------------------------


def test_login_page_is_french_accessible_and_refuses_framing(web_issuer):
    browser = browser_for(web_issuer)
    response = browser.authorize()
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.headers["X-Frame-Options"] == "DENY"
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
    assert "form-action 'self' http://localhost:3999" in csp
    assert "no-store" in response.headers["Cache-Control"]
    assert '<html lang="fr">' in response.text
    assert "http" not in response.text.split("<body>")[0].replace('content="', "")  # no assets
    page = parse_page(response)
    assert "Plateforme Centralisée de Modèles ML" in page.title
    form = page.form
    assert form.labels == {"username": "Nom d'utilisateur", "password": "Mot de passe"}
    assert "Se connecter" in response.text
    assert form.fields["csrf_token"] == browser.session.cookies["ML_LOGIN_CSRF"]
    cookie = next(c for c in browser.session.cookies if c.name == "ML_LOGIN_CSRF")
    assert cookie.path == domain.REALM_PATH and cookie.has_nonstandard_attr("HttpOnly")


# -- the whole flow ------------------------------------------------------------------------


def test_code_flow_with_pkce_sso_refresh_and_logout(web_issuer):
    browser = browser_for(web_issuer)
    before = sample("ml_auth_login_successes_total", {"client_id": domain.CLIENT_WEB})
    response = browser.login("datascientist", "password123")
    sso = next(c for c in browser.session.cookies if c.name == "ML_PLATFORM_SSO")
    assert sso.path == domain.REALM_PATH and sso.has_nonstandard_attr("HttpOnly")
    assert "samesite=lax" in response.headers["Set-Cookie"].lower()
    code = browser.code_from(response)
    tokens = browser.exchange(code).json()
    assert {"access_token", "refresh_token", "id_token"} <= set(tokens)
    access = web_issuer.verify(tokens["access_token"])
    assert access["typ"] == "Bearer" and access["azp"] == domain.CLIENT_WEB
    assert access["realm_access"] == {"roles": ["data-scientist"]}
    id_claims = web_issuer.verify(tokens["id_token"], audience=domain.CLIENT_WEB)
    assert id_claims["nonce"] == browser.nonce
    assert sample("ml_auth_login_successes_total", {"client_id": domain.CLIENT_WEB}) == before + 1

    # The code is single-use: a replay fails and ends the session it opened.
    replay = browser.exchange(code)
    assert (replay.status_code, replay.json()["error"]) == (400, "invalid_grant")
    assert browser.refresh(tokens["refresh_token"]).status_code == 400

    # A new authorize within the SSO session? The session was revoked by the
    # replay, so the login page shows again.
    again = browser.authorize()
    assert again.status_code == 200 and "Se connecter" in again.text

    # Sign in again; this time the SSO session gives a code without the page.
    tokens = browser.sign_in("datascientist", "password123")
    silent = browser.authorize(state=browser.state, nonce="second-nonce")
    second = browser.exchange(browser.code_from(silent))
    assert second.status_code == 200
    second_id = web_issuer.verify(second.json()["id_token"], audience=domain.CLIENT_WEB)
    assert second_id["nonce"] == "second-nonce"
    assert second_id["sid"] == jwt.get_unverified_claims(tokens["id_token"])["sid"]

    # Refresh works for the web client (same auth_time, the session's nonce).
    refreshed = browser.refresh(tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    new_id = jwt.get_unverified_claims(refreshed.json()["id_token"])
    assert new_id["auth_time"] == jwt.get_unverified_claims(tokens["id_token"])["auth_time"]
    info = web_issuer.userinfo(refreshed.json()["access_token"])
    assert info.status_code == 200 and info.json()["preferred_username"] == "datascientist"

    # Logout with id_token_hint and the exact post-logout URI: back to the app with state.
    out = browser.logout(tokens["id_token"], f"{PUBLIC}/", state="bye")
    assert out.status_code == 302
    assert out.headers["Location"] == f"{PUBLIC}/?state=bye"
    assert "ML_PLATFORM_SSO" not in browser.session.cookies
    # The session's refresh tokens are dead; a new authorize shows the login page.
    assert browser.refresh(refreshed.json()["refresh_token"]).status_code == 400
    again = browser.authorize()
    assert again.status_code == 200 and "Se connecter" in again.text


def test_code_is_bound_to_redirect_uri_verifier_client_and_expires(web_issuer):
    browser = browser_for(web_issuer)
    code = browser.code_from(browser.login("viewer", "password123"))
    wrong = browser.exchange(code, code_verifier="x" * 50)
    assert wrong.json() == {"error": "invalid_grant",
                            "error_description": "PKCE verification failed: Code mismatch"}
    # The failed attempt spent the code.
    assert browser.exchange(code).json()["error"] == "invalid_grant"

    browser = browser_for(web_issuer)
    code = browser.code_from(browser.login("viewer", "password123"))
    assert browser.exchange(code, redirect_uri=f"{PUBLIC}/other").json()["error_description"] \
        == "Incorrect redirect_uri"

    browser = browser_for(web_issuer)
    code = browser.code_from(browser.login("viewer", "password123"))
    other = browser.exchange(code, client_id=domain.CLIENT_CLI)
    assert other.json()["error"] == "unsupported_grant_type"  # the CLI has no code flow
    missing = browser.exchange(code, code_verifier="")
    assert missing.json()["error_description"] == "PKCE code verifier not specified"

    browser = browser_for(web_issuer)
    code = browser.code_from(browser.login("viewer", "password123"))
    time.sleep(2.5)  # AUTH_CODE_TTL_S=2
    late = browser.exchange(code)
    assert (late.status_code, late.json()["error"]) == (400, "invalid_grant")


@pytest.mark.parametrize("params", [
    {"redirect_uri": "http://evil.example/auth/callback"},
    {"redirect_uri": f"{CALLBACK}/../../evil"},
    {"redirect_uri": f"{CALLBACK}?next=http://evil.example"},
    {"redirect_uri": f"{PUBLIC}/*"},
    {"redirect_uri": None},
    {"client_id": "evil-client"},
    {"client_id": domain.CLIENT_CLI},
])
def test_unknown_client_or_redirect_uri_gets_an_error_page_never_a_redirect(web_issuer, params):
    response = browser_for(web_issuer).authorize(**params)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "evil" not in response.text


@pytest.mark.parametrize(("params", "error"), [
    ({"code_challenge_method": "plain"}, "Invalid parameter: code_challenge_method"),
    ({"code_challenge_method": None}, "Missing parameter: code_challenge_method"),
    ({"code_challenge": None}, "Missing parameter: code_challenge"),
    ({"code_challenge": "short"}, "Invalid parameter: code_challenge"),
    ({"response_type": "token"}, None),
])
def test_bad_authorize_parameters_go_back_to_the_client(web_issuer, params, error):
    browser = browser_for(web_issuer)
    response = browser.authorize(**params)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(CALLBACK + "?")
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == [browser.state]
    assert "code" not in query
    if error:
        assert query["error"] == ["invalid_request"] and query["error_description"] == [error]
    else:
        assert query["error"] == ["unsupported_response_type"]


def test_prompt_none_without_session_answers_login_required(web_issuer):
    browser = browser_for(web_issuer)
    response = browser.authorize(prompt="none")
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["error"] == ["login_required"] and query["state"] == [browser.state]


def test_discovery_lists_the_browser_endpoints(web_issuer):
    doc = requests.get(f"{web_issuer.issuer}/.well-known/openid-configuration", timeout=10).json()
    oidc = f"{web_issuer.issuer}/protocol/openid-connect"
    assert doc["authorization_endpoint"] == f"{oidc}/auth"
    assert doc["end_session_endpoint"] == f"{oidc}/logout"
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["response_types_supported"] == ["code"]
    assert {"authorization_code", "refresh_token", "password"} <= set(
        doc["grant_types_supported"])
    # The web client's origin (from PUBLIC_URL) may read the issuer's answers.
    cors = requests.get(f"{oidc}/certs", headers={"Origin": PUBLIC}, timeout=10)
    assert cors.headers["Access-Control-Allow-Origin"] == PUBLIC


def test_logout_without_id_token_hint_asks_first_then_ends_the_session(web_issuer):
    browser = browser_for(web_issuer)
    tokens = browser.sign_in("admin", "admin123")
    oidc = f"{web_issuer.base}{domain.REALM_PATH}/protocol/openid-connect"
    # A bare link (e.g. an <img> on another site) does not sign anyone out.
    ask = browser.session.get(f"{oidc}/logout", timeout=10, allow_redirects=False, params={
        "client_id": domain.CLIENT_WEB, "post_logout_redirect_uri": f"{PUBLIC}/",
        "state": "s2"})
    assert ask.status_code == 200 and ask.headers["X-Frame-Options"] == "DENY"
    page = parse_page(ask)
    assert "Se déconnecter" in ask.text
    assert browser.refresh(tokens["refresh_token"]).status_code == 200
    # The confirmation without the CSRF token is refused.
    forged = browser.submit(page, csrf_token="forged-forged-forged-forged")
    assert forged.status_code == 400
    done = browser.submit(page)
    assert (done.status_code, done.headers["Location"]) == (302, f"{PUBLIC}/?state=s2")
    assert browser.refresh(tokens["refresh_token"]).status_code == 400
    assert "Se connecter" in browser.authorize().text


@pytest.mark.parametrize("params", [
    {"post_logout_redirect_uri": "http://evil.example/"},
    {"post_logout_redirect_uri": f"{PUBLIC}/evil"},
    {"post_logout_redirect_uri": f"{PUBLIC}/", "client_id": "nope"},
    {"post_logout_redirect_uri": f"{PUBLIC}/", "client_id": domain.CLIENT_CLI},
    {"id_token_hint": "not-a-token"},
])
def test_logout_refuses_unknown_redirects_and_bad_hints(web_issuer, params):
    browser = browser_for(web_issuer)
    tokens = browser.sign_in("viewer", "password123")
    query = {"client_id": domain.CLIENT_WEB, "id_token_hint": tokens["id_token"], **params}
    response = browser.session.get(
        f"{web_issuer.base}{domain.REALM_PATH}/protocol/openid-connect/logout", params=query,
        timeout=10, allow_redirects=False)
    assert response.status_code == 400 and "Location" not in response.headers
    assert "evil" not in response.text
    # Nothing was ended.
    assert browser.refresh(tokens["refresh_token"]).status_code == 200


def test_the_access_token_is_not_an_id_token_hint(web_issuer):
    browser = browser_for(web_issuer)
    tokens = browser.sign_in("viewer", "password123")
    response = browser.logout(tokens["access_token"])
    assert response.status_code == 400
    assert browser.refresh(tokens["refresh_token"]).status_code == 200
