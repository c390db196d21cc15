"""The « Sauvegarde et restauration » screen (guide 8.2): list, creation, download,
restore from a listed backup or a file, each behind its confirmation."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect


class BackupsPage:
    def __init__(self, page: Page):
        self.page = page
        self.table = page.get_by_test_id("backups-table")

    def expect_loaded(self) -> BackupsPage:
        expect(self.page.get_by_role("heading", name="Sauvegarde et restauration")).to_be_visible(
            timeout=60_000)
        expect(self.table.locator(".ant-spin-spinning")).to_have_count(0, timeout=30_000)
        expect(self.table).not_to_contain_text("Chargement", timeout=30_000)
        return self

    def rows(self):
        """The backups' rows (the empty-list row has a single cell)."""
        return self.table.locator("tbody tr:has(td + td)")

    def create(self) -> None:
        self.page.get_by_role("button", name="Créer une sauvegarde").click()

    def wait_newest_succeeded(self, count_before: int, timeout_ms: int = 120_000):
        """The newest row once there is one more than before and it has succeeded."""
        expect(self.rows()).to_have_count(count_before + 1, timeout=timeout_ms)
        newest = self.rows().first
        expect(newest).to_contain_text("Réussie", timeout=timeout_ms)
        return newest

    def restore_row(self, row):
        """Click « Restaurer » on a row; the confirmation (not yet accepted)."""
        row.get_by_role("button", name="Restaurer").click()
        return self.confirmation()

    def restore_file(self, path: str):
        self.page.locator("input[type=file]").set_input_files(path)
        return self.confirmation()

    def confirmation(self):
        dialog = self.page.get_by_role("dialog").filter(
            has_text=re.compile(r"Restaurer la plateforme\s\?"))
        expect(dialog).to_be_visible()
        return dialog

    def accept(self, dialog) -> None:
        """Confirm; returns once the dialog has closed (the API answered)."""
        dialog.get_by_role("button", name="Restaurer", exact=True).click()
        expect(dialog).to_be_hidden(timeout=60_000)

    def restore_status(self):
        return self.page.get_by_test_id("restore-status")
