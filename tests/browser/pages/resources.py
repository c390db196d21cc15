"""The « Ressources » of a deployment and a run (guide 10.3): the form's group, the
deployment detail's summary, the run dialog's override, the execution detail's card."""

from __future__ import annotations

from playwright.sync_api import Page


class ResourceFields:
    """"Mémoire (Mo)" and "Délai maximal (s)" inside ``scope`` (the form or the dialog)."""

    def __init__(self, page: Page, scope=None):
        self.page = page
        self.scope = scope if scope is not None else page

    def memory(self):
        return self.scope.get_by_label("Mémoire (Mo)", exact=True)

    def timeout(self):
        return self.scope.get_by_label("Délai maximal (s)", exact=True)

    def set(self, memory: int | str | None = None, timeout: int | str | None = None) -> None:
        if memory is not None:
            self.memory().fill(str(memory))
        if timeout is not None:
            self.timeout().fill(str(timeout))


class RunDialogResources(ResourceFields):
    def __init__(self, page: Page):
        super().__init__(page, page.get_by_role("dialog"))

    def toggle(self):
        return self.scope.get_by_role("button", name="Ressources")

    def open(self) -> RunDialogResources:
        self.toggle().click()
        return self


def deployment_resources(page: Page):
    return page.get_by_test_id("deployment-resources")


def execution_resources(page: Page):
    return page.get_by_test_id("execution-resources")


def execution_usage(page: Page):
    return page.get_by_test_id("execution-usage")
