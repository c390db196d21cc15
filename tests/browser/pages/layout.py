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

    def selected_entry(self) -> str:
        """The menu entry of the screen shown (highlighted)."""
        nav = self.page.get_by_role("navigation", name="Menu principal")
        return nav.locator(".ant-menu-item-selected").inner_text().strip()

    def expect_first_screen(self, app_url: str) -> AppShell:
        """After login at ``/`` every role lands on the Tableau de bord (first of guide 3.1)."""
        expect(self.page).to_have_url(f"{app_url}/dashboard", timeout=60_000)
        expect(self.page.get_by_role("heading", name="Tableau de bord", exact=True)).to_be_visible(
            timeout=60_000)
        assert self.selected_entry() == "Tableau de bord"
        return self

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
