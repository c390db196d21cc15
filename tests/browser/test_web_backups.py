"""Guide 8.2 « Sauvegarde et restauration » in a real browser: the admin creates a
backup and sees it succeed, downloads it (a whole archive: its manifest and every
sha256 check), restores it after a confirmation that says what it replaces and follows
the restore to its end, restores the downloaded file, and is told in French why a
truncated file is refused. The other roles neither see the menu entry nor open the
screen, and the API answers them 403."""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import expect

from shared import backup_archive
from tests.browser.pages.backups import BackupsPage
from tests.browser.pages.layout import AppShell
from tests.browser.support import screen

pytestmark = pytest.mark.e2e

LABEL = "Sauvegarde et restauration"


def test_admin_creates_downloads_and_restores_a_backup(signed_in, tmp_path):
    page = signed_in("admin", "/admin/backups")
    backups = BackupsPage(page).expect_loaded()
    assert LABEL in AppShell(page).menu_entries()
    before = backups.rows().count()
    screen(page, "backups-list")

    backups.create()
    row = backups.wait_newest_succeeded(before)
    expect(row).to_contain_text("modèle")  # the counts column
    expect(row).to_contain_text("utilisateurs")
    screen(page, "backups-succeeded")

    with page.expect_download() as download:
        row.get_by_role("button", name="Télécharger").click()
    archive = tmp_path / "sauvegarde.tar.gz"
    download.value.save_as(archive)
    manifest = backup_archive.verify_path(str(archive))
    assert manifest["format"] == "ml-platform-backup"
    assert "users" in manifest["collections"] and "signing_keys" not in manifest["collections"]

    confirm = backups.restore_row(row)
    expect(confirm).to_contain_text("Toutes les données actuelles seront remplacées")
    expect(confirm).to_contain_text("Le journal d'audit est conservé")
    screen(page, "backups-restore-confirm")
    backups.accept(confirm)
    status = backups.restore_status()
    expect(status).to_contain_text("Restauration terminée", timeout=180_000)
    screen(page, "backups-restore-done")

    # The downloaded file, restored through the upload.
    confirm = backups.restore_file(str(archive))
    expect(confirm).to_contain_text("sauvegarde.tar.gz")
    backups.accept(confirm)
    expect(status).to_contain_text("Fichier « sauvegarde.tar.gz »")
    expect(status).to_contain_text("Restauration terminée", timeout=180_000)

    # A truncated file is refused, in French, and nothing changes.
    cut = tmp_path / "coupee.tar.gz"
    cut.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    backups.accept(backups.restore_file(str(cut)))
    refused = page.get_by_role("dialog").filter(has_text="Restauration refusée")
    expect(refused).to_contain_text(re.compile(r"L'archive est tronquée ou endommagée\s: rien "
                                               r"n'a été modifié\."))
    screen(page, "backups-restore-refused")
    refused.get_by_role("button", name="OK").click()
    page.console_watch.assert_clean()


@pytest.mark.parametrize("username", ["viewer", "datascientist", "business"])
def test_other_roles_neither_see_nor_open_backups(signed_in, api_token, app_url, username):
    page = signed_in(username, "/admin/backups")
    expect(page.get_by_text("Accès refusé")).to_be_visible()
    assert LABEL not in AppShell(page).menu_entries()
    if username == "viewer":
        screen(page, "backups-forbidden")
    headers = {"Authorization": f"Bearer {api_token(username)}"}
    for method, path in (("get", "/admin/backups"), ("post", "/admin/backups"),
                         ("get", "/admin/restores")):
        response = requests.request(method, f"{app_url}/api/v1{path}", headers=headers,
                                    timeout=30)
        assert response.status_code == 403, (username, path, response.text)
