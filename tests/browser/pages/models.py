"""The Modèles screens (guide 4): list, form, detail."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect


class ModelsListPage:
    def __init__(self, page: Page):
        self.page = page
        self.table = page.get_by_test_id("models-table")

    def open(self, base_url: str, query: str = "") -> ModelsListPage:
        self.page.goto(f"{base_url}/models{query}")
        return self.expect_loaded()

    def expect_loaded(self) -> ModelsListPage:
        expect(self.page.get_by_role("heading", name="Modèles", exact=True)).to_be_visible(
            timeout=60_000
        )
        expect(self.table.locator(".ant-spin-spinning")).to_have_count(0, timeout=30_000)
        return self

    def search(self, text: str) -> None:
        self.page.get_by_role("searchbox").fill(text)

    def filter(self, label: str, value: str) -> None:
        """Pick ``value`` in a drop-down filter: type to narrow it, Enter to choose."""
        box = self.page.get_by_role("combobox", name=label)
        box.click(force=True)  # a chosen value covers the input
        box.fill(value)
        self.page.get_by_role("option", name=value, exact=True).wait_for(state="attached")
        box.press("Enter")

    def row(self, name: str):
        link = self.page.get_by_role("link", name=name, exact=True)
        return self.table.get_by_role("row").filter(has=link)

    def names(self) -> list[str]:
        return self.table.locator("tbody tr td:first-child a").all_inner_texts()

    def expect_names(self, names: list[str]) -> None:
        expect(self.table.locator("tbody tr td:first-child a")).to_have_text(names, timeout=30_000)

    def add_button(self):
        return self.page.get_by_role("button", name="Ajouter un modèle")


class ModelFormPage:
    def __init__(self, page: Page):
        self.page = page

    def expect_loaded(self) -> ModelFormPage:
        expect(self.page.get_by_role("heading", name="Ajouter un modèle")).to_be_visible(
            timeout=60_000
        )
        return self

    def fill(self, *, name: str, description: str = "", version: str | None = None,
             department: str = "", region: str = "", tags: tuple[str, ...] = ()) -> None:
        page = self.page
        page.get_by_label("Nom", exact=True).fill(name)
        page.get_by_label("Description").fill(description)
        if version is not None:
            page.get_by_label("Version").fill(version)
        if department:
            page.get_by_label("Département").fill(department)
        if region:
            page.get_by_label("Région").fill(region)
        for tag in tags:
            page.get_by_role("combobox", name="Tags").fill(tag)
            page.keyboard.press("Enter")
        if tags:
            page.keyboard.press("Escape")  # the tags dropdown closes, as a user's click away does

    def drop_file(self, path: Path) -> None:
        """Drop a file on the zone, as a user dragging it from their desktop does."""
        zone = self.page.get_by_test_id("model-file-dropzone")
        data = path.read_bytes()
        handle = self.page.evaluate_handle(
            """([name, bytes]) => {
                const dt = new DataTransfer();
                dt.items.add(new File([new Uint8Array(bytes)], name));
                return dt;
            }""",
            [path.name, list(data)],
        )
        zone.dispatch_event("dragenter", {"dataTransfer": handle})
        zone.dispatch_event("dragover", {"dataTransfer": handle})
        zone.dispatch_event("drop", {"dataTransfer": handle})

    def submit(self) -> None:
        self.page.get_by_role("button", name="Créer le modèle").click()

    def verdict(self):
        return self.page.get_by_test_id("file-verdict")


class ModelDetailPage:
    def __init__(self, page: Page):
        self.page = page

    def expect_loaded(self, name: str) -> ModelDetailPage:
        expect(self.page.get_by_role("heading", name=name, exact=True)).to_be_visible(
            timeout=60_000
        )
        return self

    def model_id(self) -> str:
        match = re.search(r"/models/([^/?#]+)", self.page.url)
        assert match, self.page.url
        return match.group(1)

    def open_tab(self, label: str) -> None:
        self.page.get_by_role("tab", name=label).click()

    def action(self, label: str):
        return self.page.get_by_role("button", name=label)

    def file_info(self):
        return self.page.get_by_test_id("model-file")

    def delete(self) -> None:
        self.action("Supprimer").click()
        dialog = self.page.get_by_role("dialog")
        expect(dialog).to_contain_text("Supprimer définitivement")
        dialog.get_by_role("button", name="Supprimer").click()
