"""The browser login over HTTP against the platform started as ``make run`` starts it
(the ``stack`` fixture: free ports, so the web client's redirect URI follows
PUBLIC_URL): login page, credentials, code + PKCE, the gateway accepting the
access token, refresh, logout, and the login page again."""

from __future__ import annotations

import pytest
import requests

from shared.testing.browser_login import LoginBrowser, parse_page

pytestmark = pytest.mark.e2e


def test_browser_login_then_the_api_then_logout(stack):
    callback = f"{stack.public_url}/auth/callback"
    browser = LoginBrowser(stack.issuer, callback)
    page = parse_page(browser.authorize())
    assert page.form.labels == {"username": "Nom d'utilisateur", "password": "Mot de passe"}
    assert page.response.headers["X-Frame-Options"] == "DENY"

    response = browser.submit(page, username="business", password="password123")
    tokens = browser.exchange(browser.code_from(response)).json()

    me = requests.get(stack.api("/me"), headers=stack.auth(tokens["access_token"]), timeout=15)
    assert me.status_code == 200, me.text
    assert me.json()["username"] == "business"
    assert me.json()["roles"] == ["business-user"]

    refreshed = browser.refresh(tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    me = requests.get(stack.api("/me"), headers=stack.auth(refreshed.json()["access_token"]),
                      timeout=15)
    assert me.status_code == 200

    out = browser.logout(tokens["id_token"], f"{stack.public_url}/", state="s1")
    assert (out.status_code, out.headers["Location"]) == (302, f"{stack.public_url}/?state=s1")
    assert browser.refresh(refreshed.json()["refresh_token"]).status_code == 400
    again = browser.authorize()
    assert again.status_code == 200 and "Se connecter" in again.text

    # The scripts' password grant (ml-platform-cli) is untouched.
    assert stack.token("viewer", "password123")


def test_open_redirect_attempts_are_refused(stack):
    for redirect_uri in ("http://evil.example/auth/callback", f"{stack.public_url}/evil",
                         f"{stack.base_url}/auth/callback"):
        response = LoginBrowser(stack.issuer, redirect_uri).authorize()
        assert response.status_code == 400 and "Location" not in response.headers
