"""The Administration screens of guide 8.2 built here: « Paramètres globaux » and the
« Journal d'audit »."""

from __future__ import annotations

from playwright.sync_api import Page, expect


def open_admin_entry(page: Page, label: str) -> None:
    """Open an entry of the Administration sub-menu from the side menu."""
    nav = page.get_by_role("navigation", name="Menu principal")
    link = nav.get_by_role("link", name=label, exact=True)
    if not link.is_visible():
        nav.get_by_role("menuitem", name="Administration").click()
    link.click()


class SettingsPage:
    def __init__(self, page: Page):
        self.page = page

    def expect_loaded(self) -> SettingsPage:
        heading = self.page.get_by_role("heading", name="Paramètres globaux", exact=True)
        expect(heading).to_be_visible(timeout=60_000)
        expect(self.page.get_by_role("button", name="Enregistrer")).to_be_visible(timeout=30_000)
        return self

    def field(self, label: str):
        return self.page.get_by_label(label, exact=True)

    def set_number(self, label: str, value) -> None:
        box = self.field(label)
        box.fill(str(value))
        box.blur()

    def save(self) -> None:
        self.page.get_by_role("button", name="Enregistrer").click()

    def error_of(self, label: str):
        item = self.page.locator(".ant-form-item").filter(has=self.field(label))
        return item.locator(".ant-form-item-explain")

    def settle_messages(self) -> None:
        """antd slides a field's message in with a CSS class motion (rc-motion), which
        the animations check does not see: let it end before a screenshot."""
        expect(self.page.locator("[class*='ant-show-help'][class*='-active']")).to_have_count(0)
        self.page.wait_for_timeout(300)

    def saved(self):
        return self.page.get_by_role("status").filter(has_text="Paramètres enregistrés")


class AuditPage:
    def __init__(self, page: Page):
        self.page = page
        self.table = page.get_by_test_id("audit-table")

    def expect_loaded(self) -> AuditPage:
        expect(self.page.get_by_role("heading", name="Journal d'audit", exact=True)).to_be_visible(
            timeout=60_000)
        expect(self.table.locator(".ant-spin-spinning")).to_have_count(0, timeout=30_000)
        return self

    def filter_object_type(self, label: str) -> None:
        box = self.page.get_by_role("combobox", name="Type d'objet")
        box.click(force=True)
        self.page.locator(f'.ant-select-item-option[title="{label}"]').click()

    def filter_object_id(self, value: str) -> None:
        self.page.get_by_label("ID de l'objet").fill(value)

    def rows(self):
        return self.table.locator("tbody tr")

    def export(self):
        return self.page.get_by_role("button", name="Exporter")
