"""The Déploiements screens (guide 5): list, form, detail."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect


def drop_file(page: Page, zone, path: Path) -> None:
    """Drop a file on a zone, as a user dragging it from their desktop does."""
    handle = page.evaluate_handle(
        """([name, bytes]) => {
            const dt = new DataTransfer();
            dt.items.add(new File([new Uint8Array(bytes)], name));
            return dt;
        }""",
        [path.name, list(path.read_bytes())],
    )
    for event in ("dragenter", "dragover", "drop"):
        zone.dispatch_event(event, {"dataTransfer": handle})


class DeploymentsListPage:
    def __init__(self, page: Page):
        self.page = page
        self.table = page.get_by_test_id("deployments-table")

    def open(self, base_url: str, query: str = "") -> DeploymentsListPage:
        self.page.goto(f"{base_url}/deployments{query}")
        return self.expect_loaded()

    def expect_loaded(self) -> DeploymentsListPage:
        expect(self.page.get_by_role("heading", name="Déploiements", exact=True)).to_be_visible(
            timeout=60_000
        )
        expect(self.table.locator(".ant-spin-spinning")).to_have_count(0, timeout=30_000)
        return self

    def search(self, text: str) -> None:
        self.page.get_by_role("searchbox").fill(text)

    def filter(self, label: str, value: str) -> None:
        # force: once a value is chosen, its shown label covers the (search) box
        self.page.get_by_role("combobox", name=label).click(force=True)
        # the visible option (the listbox of role=option antd adds for screen readers is
        # hidden); it is rendered after the field, so it is the last with that title
        self.page.get_by_title(value, exact=True).last.click()

    def row(self, name: str):
        return self.table.get_by_role("row").filter(
            has=self.page.get_by_role("link", name=name, exact=True)
        )

    def expect_names(self, names: list[str]) -> None:
        expect(self.table.locator("tbody tr td:first-child a")).to_have_text(names, timeout=30_000)

    def add_button(self):
        return self.page.get_by_role("button", name="Nouveau déploiement")


class DeploymentFormPage:
    def __init__(self, page: Page):
        self.page = page

    def expect_loaded(self, heading: str = "Nouveau déploiement") -> DeploymentFormPage:
        expect(self.page.get_by_role("heading", name=heading)).to_be_visible(timeout=60_000)
        return self

    def model_select(self):
        return self.page.get_by_label("Modèle", exact=True)

    def fill(self, *, name: str, description: str = "") -> None:
        self.page.get_by_label("Nom", exact=True).fill(name)
        self.page.get_by_label("Description").fill(description)

    def add_runner_parameter(self, name: str, value: str | None = None) -> None:
        known = "Paramètres reconnus par le moteur d'exécution"
        self.page.get_by_role("button", name=known).click()
        self.page.get_by_role("button", name=f"Ajouter le paramètre {name}").click()
        if value is not None:
            keys = self.page.get_by_label(re.compile(r"^Nom du paramètre \d+$"))
            for index in range(keys.count()):
                if keys.nth(index).input_value() == name:
                    self.page.get_by_label(f"Valeur du paramètre {index + 1}").fill(value)

    def schedule(self, expression: str) -> None:
        self.page.get_by_label("Planification", exact=True).fill(expression)

    def time_zone(self, zone: str) -> None:
        # typing in the select's search box opens it (its shown value covers the box)
        self.page.get_by_label("Fuseau horaire", exact=True).fill(zone)
        self.page.keyboard.press("Enter")  # the one zone the search leaves
        expect(self.page.get_by_title(zone, exact=True).first).to_be_visible()

    def cron_words(self):
        return self.page.get_by_test_id("cron-words")

    def next_runs(self):
        return self.page.get_by_test_id("next-runs")

    def drop_input(self, path: Path) -> None:
        drop_file(self.page, self.page.get_by_test_id("input-dropzone"), path)

    def submit(self, label: str = "Créer le déploiement") -> None:
        self.page.get_by_role("button", name=label).click()


class DeploymentDetailPage:
    def __init__(self, page: Page):
        self.page = page

    def expect_loaded(self, name: str) -> DeploymentDetailPage:
        expect(self.page.get_by_role("heading", name=name, exact=True)).to_be_visible(
            timeout=60_000
        )
        return self

    def deployment_id(self) -> str:
        match = re.search(r"/deployments/([^/?#]+)", self.page.url)
        assert match, self.page.url
        return match.group(1)

    def action(self, label: str):
        return self.page.get_by_role("button", name=label)

    def general(self):
        return self.page.get_by_test_id("deployment-general")

    def schedule(self):
        return self.page.get_by_test_id("deployment-schedule")

    def next_runs(self):
        return self.page.get_by_test_id("next-runs")

    def executions(self):
        return self.page.get_by_test_id("deployment-executions")

    def history(self):
        return self.page.get_by_test_id("deployment-history")

    def drop_input(self, path: Path) -> None:
        drop_file(self.page, self.page.get_by_test_id("input-dropzone"), path)

    def input_verdict(self):
        return self.page.get_by_test_id("input-verdict")

    def delete(self, name: str) -> None:
        self.action("Supprimer").click()
        dialog = self.page.get_by_role("dialog")
        expect(dialog).to_contain_text(f"« {name} »")
        dialog.get_by_role("button", name="Supprimer").click()
