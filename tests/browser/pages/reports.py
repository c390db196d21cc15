"""The Tableau de bord (guide 3.2) and the Rapports section (guide 7.1)."""

from __future__ import annotations

from playwright.sync_api import Page, expect

REPORTS = {
    "model-performance": "Performances des modèles",
    "execution-trends": "Tendances d'exécution",
    "department-usage": "Utilisation par département",
    "deployment-status": "Statut des déploiements",
}


class DashboardPage:
    def __init__(self, page: Page):
        self.page = page

    def expect_loaded(self) -> DashboardPage:
        expect(self.page.get_by_role("heading", name="Tableau de bord", exact=True)).to_be_visible(
            timeout=60_000)
        expect(self.card("stat-models")).to_be_visible(timeout=60_000)
        return self

    def card(self, test_id: str):
        return self.page.get_by_test_id(test_id)

    def figure(self, test_id: str, label: str):
        """The link of a figure, by its accessible name ``label : N`` (any N)."""
        return self.card(test_id).get_by_role("link", name=label + " :")

    def chart(self, title: str):
        return self.page.get_by_role("list", name=title, exact=True)

    def activity(self):
        return self.page.get_by_test_id("recent-activity")


class ReportsPage:
    def __init__(self, page: Page):
        self.page = page

    def expect_loaded(self, report: str) -> ReportsPage:
        expect(self.page.get_by_role("heading", name="Rapports", exact=True)).to_be_visible(
            timeout=60_000)
        expect(self.page.get_by_role("tab", name=REPORTS[report])).to_have_attribute(
            "aria-selected", "true")
        expect(self.table()).to_be_visible(timeout=60_000)
        expect(self.table().locator(".ant-spin-spinning")).to_have_count(0, timeout=30_000)
        return self

    def open_tab(self, report: str) -> None:
        self.page.get_by_role("tab", name=REPORTS[report]).click()

    def table(self):
        return self.page.get_by_test_id("report-table")

    def row(self, text: str):
        return self.table().get_by_role("row").filter(has_text=text)

    def pick_period(self, start: str, end: str | None = None) -> None:
        """Type the days (DD/MM/YYYY) in the period selector, as a keyboard user does."""
        first = self.page.get_by_placeholder("Début")
        first.click()
        first.fill(start)
        first.press("Enter")
        last = self.page.get_by_placeholder("Fin")
        last.fill(end or start)
        last.press("Enter")
        expect(self.page.locator(".ant-picker-dropdown:visible")).to_have_count(0)

    def export(self):
        return self.page.get_by_role("button", name="Exporter en CSV")
