"""The app's frame (guide 3.1): side menu, header with the user, role, language, logout."""

from __future__ import annotations

from playwright.sync_api import Page, expect


class AppShell:
    def __init__(self, page: Page):
        self.page = page

    def expect_ready(self) -> AppShell:
        expect(self.page.get_by_role("button", name="Se déconnecter")).to_be_visible(timeout=60_000)
        return self

    def menu_entries(self) -> list[str]:
        nav = self.page.get_by_role("navigation", name="Menu principal")
        return [text.strip() for text in nav.get_by_role("menuitem").all_inner_texts()]

    def open_section(self, label: str) -> None:
        self.page.get_by_role("navigation", name="Menu principal").get_by_role(
            "link", name=label
        ).click()

    def current_user(self) -> str:
        return self.page.get_by_test_id("current-user").inner_text()

    def logout(self) -> None:
        self.page.get_by_role("button", name="Se déconnecter").click()

    def switch_language(self, short: str) -> None:
        self.page.get_by_text(short, exact=True).click()
