"""Guide 8.2 « Paramètres globaux » and the « Journal d'audit » in a real browser: an admin
changes a setting in the form and the platform obeys it (the gateway then refuses a body
over the new upload limit), a bad value is refused with the French reason next to its
field, the audit trail shows the change just made, filtered by object, and « Exporter »
downloads it as CSV. The other roles see no Administration menu, get the 403 screen on
both routes, and the API refuses them."""

from __future__ import annotations

import csv
import io
import json
import re
import time
import uuid

import pytest
import requests
from playwright.sync_api import expect

from tests.browser.pages.admin import AuditPage, SettingsPage, open_admin_entry
from tests.browser.pages.layout import AppShell
from tests.browser.support import screen

pytestmark = pytest.mark.e2e


UPLOAD = "Taille maximale des fichiers envoyés (Mo)"
FAILURES = "Échecs de connexion avant verrouillage"


def _api(web_stack, token: str, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, f"{web_stack.public_url}/api/v1{path}",
                            headers={"Authorization": f"Bearer {token}"}, timeout=30, **kwargs)


@pytest.fixture
def settings_restored(web_stack, api_token):
    """The settings as they were before the test, put back after it."""
    before = _api(web_stack, api_token("admin"), "GET", "/admin/settings").json()
    yield before
    answer = _api(web_stack, api_token("admin"), "PUT", "/admin/settings", json=before)
    assert answer.status_code == 200, answer.text


def _big_upload_status(web_stack, token: str) -> int:
    """A new model with a 1.5 MB file that is no model: 422 (refused for what it is) under
    the usual limit, 413 once the platform follows an upload limit of 1 MB."""
    data = b"\x00not a model" * (120 * 1024)
    return _api(web_stack, token, "POST", "/models", data={
        "metadata": json.dumps({"name": f"trop-gros-{uuid.uuid4().hex[:6]}", "type": "other",
                                "framework": "other"})},
        files={"file": ("big.bin", io.BytesIO(data), "application/octet-stream")}).status_code


def test_admin_changes_a_setting_that_the_platform_obeys(signed_in, web_stack, api_token,
                                                        settings_restored):
    page = signed_in("admin", "/")
    open_admin_entry(page, "Paramètres globaux")
    settings = SettingsPage(page).expect_loaded()
    assert "Administration" in AppShell(page).menu_entries()
    expect(page.get_by_role("navigation", name="Menu principal").get_by_role(
        "link", name="Journal d'audit")).to_be_visible()
    for label in ("Fuseau horaire par défaut", "Délai d'exécution par défaut (secondes)",
                  "Délai d'exécution maximal (secondes)", UPLOAD,
                  "Conservation des exécutions (jours)",
                  "Conservation des journaux d'exécution (jours)",
                  "Conservation des résultats (jours)", FAILURES,
                  "Durée du verrouillage (secondes)", "Hôtes autorisés pour les webhooks",
                  "Mémoire maximale par déploiement ou exécution (Mo)"):
        expect(page.get_by_label(label, exact=True).first).to_be_visible()
    expect(settings.field(UPLOAD)).to_have_value(f"{settings_restored['max_upload_mb']:g}")
    screen(page, "settings-form")

    token = api_token("admin")
    assert _big_upload_status(web_stack, token) == 422

    # A bad value: refused by the server, its French reason next to the field.
    settings.set_number(FAILURES, 0)
    settings.save()
    expect(settings.error_of(FAILURES)).to_contain_text("Doit être compris entre 1 et 1000",
                                                        timeout=30_000)
    expect(page.get_by_role("alert")).to_contain_text("Certains paramètres ont été refusés")
    settings.settle_messages()
    screen(page, "settings-refused")
    assert _api(web_stack, token, "GET", "/admin/settings").json()["login_max_failures"] == \
        settings_restored["login_max_failures"]

    settings.set_number(FAILURES, settings_restored["login_max_failures"])
    settings.set_number(UPLOAD, 1)
    settings.save()
    expect(settings.saved()).to_be_visible(timeout=30_000)
    expect(settings.error_of(FAILURES)).to_have_count(0)
    screen(page, "settings-saved")
    current = _api(web_stack, token, "GET", "/admin/settings").json()
    assert current["max_upload_mb"] == 1
    assert current["login_max_failures"] == settings_restored["login_max_failures"]

    # The gateway follows it without a restart (it re-reads the settings every few seconds).
    deadline = time.monotonic() + 30
    while _big_upload_status(web_stack, token) != 413:
        assert time.monotonic() < deadline, "the gateway never applied max_upload_mb = 1"
        time.sleep(1)

    # The audit trail: the change just made, filtered by object, then exported.
    open_admin_entry(page, "Journal d'audit")
    audit = AuditPage(page).expect_loaded()
    screen(page, "audit-list")
    audit.filter_object_type("Paramètres")
    audit.filter_object_id("global")
    expect(page).to_have_url(re.compile(r"object_type=settings"))
    expect(page).to_have_url(re.compile(r"object_id=global"))
    expect(audit.table.locator(".ant-spin-spinning")).to_have_count(0, timeout=30_000)
    entry = audit.rows().filter(has_text="max_upload_mb").first
    deadline = time.monotonic() + 30
    while not entry.is_visible():  # the trail is fed by the services' events
        assert time.monotonic() < deadline, "the settings change never reached the audit trail"
        page.reload()
        audit.expect_loaded()
    for row in audit.rows().all():  # only the settings object is listed
        expect(row).to_contain_text("Paramètres")
        expect(row).to_contain_text("global")
    expect(entry).to_contain_text("Paramètres modifiés")
    expect(entry).to_contain_text("admin")
    expect(entry).to_contain_text(f"max_upload_mb: {settings_restored['max_upload_mb']:g} → 1")
    expect(audit.rows().filter(has_text="Modèle")).to_have_count(0)
    screen(page, "audit-filtered")

    with page.expect_download() as download:
        audit.export().click()
    assert download.value.suggested_filename == "audit.csv"
    rows = list(csv.DictReader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))
    assert rows and {row["object_type"] for row in rows} == {"settings"}
    assert any("max_upload_mb" in row["summary"] and row["action"] == "settings.updated"
               and row["user"] == "admin" for row in rows)
    page.console_watch.assert_clean()


def test_audit_filters_from_the_url_and_links_to_the_object(signed_in, web_stack):
    # The demo users' sign-ins are in the trail as actions on users.
    page = signed_in("admin", "/admin/audit?object_type=user")
    audit = AuditPage(page).expect_loaded()
    first = audit.rows().first
    expect(first).to_contain_text("Utilisateur")
    expect(audit.rows().filter(has_text="Paramètres modifiés")).to_have_count(0)
    first.get_by_role("link").first.click()
    expect(page.get_by_role("heading", name="Liste des utilisateurs")).to_be_visible()
    page.console_watch.assert_clean()


@pytest.mark.parametrize("username", ["datascientist", "business", "viewer"])
def test_other_roles_neither_see_nor_open_administration(signed_in, web_stack, api_token,
                                                         username):
    page = signed_in(username, "/admin/settings")
    expect(page.get_by_text("Accès refusé")).to_be_visible()
    entries = AppShell(page).menu_entries()
    assert "Administration" not in entries and "Paramètres globaux" not in entries
    if username == "viewer":
        screen(page, "settings-forbidden")
    page.goto(f"{web_stack.public_url}/admin/audit")
    expect(page.get_by_text("Accès refusé")).to_be_visible()
    assert "Journal d'audit" not in AppShell(page).menu_entries()
    token = api_token(username)
    assert _api(web_stack, token, "GET", "/admin/settings").status_code == 403
    assert _api(web_stack, token, "PUT", "/admin/settings",
                json={"max_upload_mb": 5}).status_code == 403
    assert _api(web_stack, token, "GET", "/admin/audit").status_code == 403
    assert _api(web_stack, token, "GET", "/admin/audit/export").status_code == 403
