"""The Exécutions screens (guide 6): list and detail."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect


class ExecutionsListPage:
    def __init__(self, page: Page):
        self.page = page
        self.table = page.get_by_test_id("executions-table")

    def expect_loaded(self) -> ExecutionsListPage:
        expect(self.page.get_by_role("heading", name="Exécutions", exact=True)).to_be_visible(
            timeout=60_000
        )
        expect(self.table.locator(".ant-spin-spinning")).to_have_count(0, timeout=30_000)
        return self

    def filter(self, label: str, option: str, typed: str | None = None) -> None:
        """Pick ``option`` in a drop-down filter: type to narrow it, click the option."""
        box = self.page.get_by_role("combobox", name=label)
        box.click(force=True)
        box.fill(typed or option)
        # The visible option (Ant Design also renders a hidden list for screen readers).
        self.page.locator(f'.ant-select-item-option[title="{option}"]').click()

    def ids(self):
        return self.table.locator("tbody tr td:first-child a")

    def row(self, execution_id: str):
        return self.table.get_by_role("row").filter(has_text=execution_id)


class ExecutionDetailPage:
    def __init__(self, page: Page):
        self.page = page

    def expect_loaded(self, execution_id: str) -> ExecutionDetailPage:
        expect(self.page.get_by_role("heading", name="Exécution", exact=True)).to_be_visible(
            timeout=60_000
        )
        expect(self.general()).to_contain_text(execution_id)
        return self

    def general(self):
        return self.page.get_by_test_id("execution-general")

    def status(self):
        return self.general()

    def logs(self):
        return self.page.get_by_test_id("execution-logs")

    def preview(self):
        return self.page.get_by_test_id("results-preview")

    def action(self, label: str):
        """A button by its label (its icon's name may come first)."""
        return self.page.get_by_role("button", name=re.compile(rf"(^|\s){label}$"))

    def cancel(self) -> None:
        self.action("Annuler").click()
        dialog = self.page.get_by_role("dialog")
        expect(dialog).to_contain_text("Annuler l'exécution ?")
        dialog.get_by_role("button", name=re.compile(r"(^|\s)Annuler$")).click()
