"""The Utilisateurs screen (guide 8.1): list, creation / edit dialog, confirmations."""

from __future__ import annotations

from playwright.sync_api import Page, expect


class UsersPage:
    def __init__(self, page: Page):
        self.page = page
        self.table = page.get_by_test_id("users-table")

    def open(self, base_url: str, query: str = "") -> UsersPage:
        self.page.goto(f"{base_url}/users{query}")
        return self.expect_loaded()

    def expect_loaded(self) -> UsersPage:
        expect(self.page.get_by_role("heading", name="Liste des utilisateurs")).to_be_visible(
            timeout=60_000)
        expect(self.table.locator(".ant-spin-spinning")).to_have_count(0, timeout=30_000)
        return self

    def row(self, username: str):
        return self.table.get_by_role("row").filter(
            has=self.page.get_by_role("cell", name=username, exact=True))

    def create(self, *, username: str, first_name: str, last_name: str, email: str,
               role: str, password: str, temporary: bool = False) -> None:
        self.page.get_by_role("button", name="Ajouter un utilisateur").click()
        dialog = self.page.get_by_role("dialog", name="Création d'utilisateur")
        expect(dialog).to_be_visible()
        dialog.get_by_label("Nom d'utilisateur").fill(username)
        dialog.get_by_label("Prénom").fill(first_name)
        dialog.get_by_label("Nom", exact=True).fill(last_name)
        dialog.get_by_label("E-mail").fill(email)
        dialog.get_by_label("Rôle").click(force=True)  # the chosen value covers the input
        # antd's options: the visible item carries the label as its title.
        self.page.get_by_role("listbox").locator("..").get_by_title(role, exact=True).click()
        dialog.get_by_label("Mot de passe initial").fill(password)
        box = dialog.get_by_label("Temporaire (à changer à la première connexion)")
        if box.is_checked() != temporary:
            box.click()
        dialog.get_by_role("button", name="Créer").click()
        expect(dialog).to_be_hidden(timeout=30_000)

    def deactivate(self, username: str):
        """Click Désactiver on the user's row; the confirmation dialog (not yet accepted)."""
        self.row(username).get_by_role("button", name=f"Désactiver {username}").click()
        confirm = self.page.get_by_role("dialog").filter(has_text="Désactivation d'utilisateur")
        expect(confirm).to_be_visible()
        return confirm

    def state_of(self, username: str):
        return self.row(username)
