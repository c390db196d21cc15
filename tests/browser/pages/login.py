"""The issuer's login page (auth service, Keycloak's layout)."""

from __future__ import annotations

from playwright.sync_api import Page, expect


class LoginPage:
    def __init__(self, page: Page):
        self.page = page

    def expect_shown(self) -> LoginPage:
        expect(self.page.get_by_role("button", name="Se connecter")).to_be_visible()
        assert "/protocol/openid-connect/auth" in self.page.url or "login" in self.page.url
        return self

    def sign_in(self, username: str, password: str) -> None:
        self.page.get_by_label("Nom d'utilisateur").fill(username)
        self.page.get_by_label("Mot de passe").fill(password)
        self.page.get_by_role("button", name="Se connecter").click()

    def error(self):
        return self.page.get_by_role("alert")
