"""The Intégrations screens (guide 3.1, 8.2): list, creation dialog, the once-shown secret,
the integration's page with « Tester » and the delivery log."""

from __future__ import annotations

from playwright.sync_api import Page, expect


class IntegrationsPage:
    def __init__(self, page: Page):
        self.page = page
        self.table = page.get_by_test_id("integrations-table")

    def open(self, base_url: str) -> IntegrationsPage:
        self.page.goto(f"{base_url}/integrations")
        return self.expect_loaded()

    def expect_loaded(self) -> IntegrationsPage:
        expect(self.page.get_by_role("heading", name="Intégrations", exact=True)).to_be_visible(
            timeout=60_000)
        expect(self.table.locator(".ant-spin-spinning")).to_have_count(0, timeout=30_000)
        return self

    def row(self, name: str):
        return self.table.get_by_role("row").filter(
            has=self.page.get_by_role("link", name=name, exact=True))

    def open_form(self):
        self.page.get_by_role("button", name="Ajouter une intégration").click()
        dialog = self.page.get_by_role("dialog", name="Nouvelle intégration")
        expect(dialog).to_be_visible()
        return dialog

    @staticmethod
    def fill(dialog, *, name: str, url: str, events: list[str], department: str = "") -> None:
        dialog.get_by_label("Nom", exact=True).fill(name)
        dialog.get_by_label("URL", exact=True).fill(url)
        for event in events:
            box = dialog.get_by_label(event, exact=True)
            box.click()  # antd re-renders the controlled group after the click
            expect(box).to_be_checked()
        if department:
            dialog.get_by_label("Département").fill(department)

    def url_error(self, dialog):
        """The message shown under the URL field."""
        # ``has`` is matched inside each item: a locator not rooted in the dialog.
        item = dialog.locator(".ant-form-item").filter(
            has=self.page.get_by_label("URL", exact=True))
        return item.locator(".ant-form-item-explain")

    def secret_dialog(self):
        dialog = self.page.get_by_role("dialog").filter(has_text="Secret de signature")
        expect(dialog).to_be_visible(timeout=30_000)
        return dialog


class IntegrationDetailPage:
    def __init__(self, page: Page):
        self.page = page
        self.deliveries = page.get_by_test_id("deliveries-table")

    def expect_loaded(self, name: str) -> IntegrationDetailPage:
        expect(self.page.get_by_role("heading", name=name, exact=True)).to_be_visible(
            timeout=60_000)
        return self

    def test(self) -> None:
        self.page.get_by_role("button", name="Tester").click()
