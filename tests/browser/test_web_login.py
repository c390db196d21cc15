"""Guide section 2 in a real browser: signing in through the issuer's login page as
each demo user, what the header and menu show, wrong password, lockout, logout and
an expired session (the platform's access tokens live 20 s here)."""

from __future__ import annotations

import json
import re
import time

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DEMO_USERS, sign_in_through_login_page
from tests.browser.pages.layout import AppShell
from tests.browser.pages.login import LoginPage
from tests.browser.pages.models import ModelsListPage
from tests.browser.support import screen

pytestmark = pytest.mark.e2e

#: Guide 3.1's sections, then the administration interface of guide 8.2 (a sub-menu).
GUIDE_MENU = ["Tableau de bord", "Modèles", "Déploiements", "Exécutions", "Utilisateurs",
              "Rapports", "Intégrations", "Administration"]
ROLE_LABELS = {"admin": "Admin", "datascientist": "Data Scientist",
               "business": "Business User", "viewer": "Viewer"}
INVALID = "Nom d'utilisateur ou mot de passe invalide"


def oidc_user(page) -> dict:
    raw = page.evaluate(
        "Object.keys(sessionStorage).filter(k => k.startsWith('oidc.user:'))"
        ".map(k => sessionStorage.getItem(k))[0] || null"
    )
    return json.loads(raw) if raw else {}


@pytest.mark.parametrize("username", list(DEMO_USERS))
def test_each_demo_user_signs_in_and_comes_back_to_the_page_asked_for(
    fresh_page, app_url, username
):
    page = fresh_page
    page.goto(f"{app_url}/models?q=iris")
    login = LoginPage(page).expect_shown()
    if username == "admin":
        screen(page, "login-page")
    login.sign_in(username, DEMO_USERS[username])
    shell = AppShell(page).expect_ready()
    # back on the page asked for, with its query; nothing of the login in the URL
    expect(page).to_have_url(f"{app_url}/models?q=iris")
    ModelsListPage(page).expect_loaded()
    assert ROLE_LABELS[username] in shell.current_user()
    entries = shell.menu_entries()
    assert "Modèles" in entries
    # every role reads the dashboard and the reports; the dashboard comes first
    assert entries[0] == "Tableau de bord" and "Rapports" in entries
    assert entries == [label for label in GUIDE_MENU if label in entries]  # the guide's order
    if username != "admin":
        assert not {"Utilisateurs", "Intégrations", "Administration"} & set(entries)
    # tokens only in sessionStorage, never in localStorage
    assert not [k for k in page.evaluate("Object.keys(localStorage)") if k != "ml-platform.lang"]
    assert oidc_user(page).get("access_token")
    screen(page, f"models-list-{username}")
    page.console_watch.assert_clean()


def test_wrong_password_and_unknown_user_get_the_same_message(fresh_page, app_url):
    page = fresh_page
    page.goto(f"{app_url}/")
    login = LoginPage(page).expect_shown()
    login.sign_in("datascientist", "not-the-password")
    expect(login.error()).to_contain_text(INVALID)
    screen(page, "login-wrong-password")
    login.sign_in("nobody-at-all", "whatever-123")
    expect(login.error()).to_contain_text(INVALID)
    # still on the login page, then the right password goes through, to the first screen
    login.sign_in("datascientist", DEMO_USERS["datascientist"])
    AppShell(page).expect_ready().expect_first_screen(app_url)


def test_lockout_after_repeated_failures_then_the_wait_is_over(fresh_page, app_url):
    """LOGIN_MAX_FAILURES=3, LOGIN_LOCKOUT_S=3 on this platform."""
    page = fresh_page
    page.goto(f"{app_url}/models")
    login = LoginPage(page).expect_shown()
    for _ in range(3):
        login.sign_in("business", "wrong-password")
    # locked: even the right password is refused, and the page says to wait
    login.sign_in("business", DEMO_USERS["business"])
    expect(login.error()).to_contain_text("patienter")
    screen(page, "login-locked")
    # an unknown name is told the same (no hint whether the user exists)
    for _ in range(4):
        login.sign_in("ghost-user-x", "wrong-password")
    expect(login.error()).to_contain_text("patienter")
    time.sleep(3.5)
    login.sign_in("business", DEMO_USERS["business"])
    AppShell(page).expect_ready()
    expect(page).to_have_url(re.compile(r"/models$"))


def test_logout_really_signs_out(fresh_page, app_url):
    page = fresh_page
    sign_in_through_login_page(page, app_url, "viewer", "/models")
    AppShell(page).logout()
    LoginPage(page).expect_shown()
    assert oidc_user(page) == {}
    # the back button does not bring the session back
    page.go_back()
    page.wait_for_load_state()
    LoginPage(page).expect_shown()
    # and opening the app again asks for the password (the SSO session is closed)
    page.goto(f"{app_url}/models")
    LoginPage(page).expect_shown()


def test_tokens_are_renewed_then_an_expired_session_goes_through_the_login_and_back(
    fresh_page, app_url
):
    page = fresh_page
    sign_in_through_login_page(page, app_url, "datascientist", "/models")
    models = ModelsListPage(page).expect_loaded()
    first = oidc_user(page)["access_token"]

    # 1. Idle for longer than the access token lives (20 s): renewed with the refresh token.
    time.sleep(22)
    assert oidc_user(page)["access_token"] != first
    models.search("renouvel")
    expect(page).to_have_url(re.compile(r"q=renouvel"))
    models.expect_loaded()
    AppShell(page).expect_ready()

    # 2. The session ends: the issuer now refuses the refresh token, as it does for an
    # expired one, and the SSO cookie is gone. The next call gets a 401: the app sends
    # the user through the login page, then back to the same view.
    def refuse_refresh(route):
        if "grant_type=refresh_token" in (route.request.post_data or ""):
            route.fulfill(status=400, content_type="application/json",
                          body='{"error": "invalid_grant", "error_description": "expired"}')
        else:
            route.continue_()

    page.route("**/protocol/openid-connect/token", refuse_refresh)
    page.context.clear_cookies()
    time.sleep(22)  # the access token in memory expires
    models.search("expire")
    login = LoginPage(page).expect_shown()
    page.unroute("**/protocol/openid-connect/token")
    login.sign_in("datascientist", DEMO_USERS["datascientist"])
    AppShell(page).expect_ready()
    expect(page).to_have_url(re.compile(r"/models\?q=expire"))
    models.expect_loaded()
    page.console_watch.assert_clean()
