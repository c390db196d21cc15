"""Guide 8.1 in a real browser: an admin creates a user with a role, that user signs in
in another browser, the admin deactivates them and the user's open session ends (their
next API call sends them back to the login page); the other roles neither see the menu
entry nor open /users."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.pages.layout import AppShell
from tests.browser.pages.login import LoginPage
from tests.browser.pages.models import ModelsListPage
from tests.browser.pages.users import UsersPage
from tests.browser.support import screen

pytestmark = pytest.mark.e2e


def test_admin_creates_a_user_who_signs_in_then_is_deactivated(signed_in, fresh_page, app_url):
    admin = signed_in("admin", "/users")
    users = UsersPage(admin).expect_loaded()
    assert "Utilisateurs" in AppShell(admin).menu_entries()
    screen(admin, "users-list")

    username = f"lea{uuid.uuid4().hex[:6]}"
    users.create(username=username, first_name="Léa", last_name="Girard",
                 email=f"{username}@example.com", role="Data Scientist",
                 password="Motdepasse-2026")
    row = users.row(username)
    expect(row).to_contain_text("Data Scientist")
    expect(row).to_contain_text("Actif")

    # The new user, in a browser of their own.
    page = fresh_page
    page.goto(f"{app_url}/models")
    LoginPage(page).expect_shown().sign_in(username, "Motdepasse-2026")
    shell = AppShell(page).expect_ready()
    ModelsListPage(page).expect_loaded()
    assert "Data Scientist" in shell.current_user()
    assert "Utilisateurs" not in shell.menu_entries()

    confirm = users.deactivate(username)
    expect(confirm).to_contain_text(f"Léa Girard ({username})")
    screen(admin, "users-deactivate-confirm")
    confirm.get_by_role("button", name="Désactiver").click()
    expect(users.row(username)).to_contain_text("Désactivé", timeout=30_000)

    # Their next API call (a search) is refused — revoked token, then the renewal with the
    # refresh token too: the app sends them to the login page.
    ModelsListPage(page).search("iris")
    LoginPage(page).expect_shown()
    screen(admin, "users-list-after-deactivation")


@pytest.mark.parametrize("username", ["viewer", "datascientist"])
def test_other_roles_neither_see_nor_open_users(signed_in, app_url, username):
    page = signed_in(username, "/users")
    expect(page.get_by_text("Accès refusé")).to_be_visible()
    assert "Utilisateurs" not in AppShell(page).menu_entries()
    if username == "viewer":
        screen(page, "users-forbidden")
