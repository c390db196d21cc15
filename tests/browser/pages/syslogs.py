"""The « Journaux système » screen (guide 8.2): filters, the lines table, live follow."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect


class SystemLogsPage:
    def __init__(self, page: Page):
        self.page = page
        self.table = page.get_by_test_id("syslogs-table")

    def open(self, base_url: str, query: str = "") -> SystemLogsPage:
        self.page.goto(f"{base_url}/admin/logs{query}")
        return self.expect_loaded()

    def expect_loaded(self) -> SystemLogsPage:
        expect(self.page.get_by_role("heading", name="Journaux système")).to_be_visible(
            timeout=60_000)
        self.expect_idle()
        return self

    def expect_idle(self) -> None:
        expect(self.table.locator(".ant-spin-spinning")).to_have_count(0, timeout=30_000)

    def search_request_id(self, request_id: str) -> None:
        self.page.get_by_label("Identifiant de requête", exact=True).fill(request_id)
        expect(self.page).to_have_url(re.compile(f"request_id={re.escape(request_id)}"))
        self.expect_idle()

    def search_text(self, text: str) -> None:
        self.page.get_by_role("searchbox", name="Rechercher dans les messages").fill(text)
        expect(self.page).to_have_url(re.compile(f"q={re.escape(text)}"))
        self.expect_idle()

    def rows(self):
        """The body rows (the header row left out)."""
        return self.table.locator("tbody tr")

    def row_with(self, text: str):
        return self.rows().filter(has_text=text)

    def follow_live(self) -> None:
        self.page.get_by_role("switch", name="Suivre en direct").click()
        expect(self.page.get_by_test_id("syslogs-live-status")).to_be_visible()
