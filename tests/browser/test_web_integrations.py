"""Guide 3.1 / 8.2 « Intégrations » in a real browser: an admin wires a webhook to a
receiver this test runs on 127.0.0.1, copies the secret from the once-shown dialog,
presses « Tester », and the receiver verifies the Standard Webhooks signature with that
secret while the delivery appears in the integration's log; a metadata or private URL is
refused with the reason next to the URL field; deactivation and deletion ask first. The
other roles neither see the menu entry nor open the screen, and the API refuses them.

Network: the whole run is under the loopback-only guard of shared/testing/netguard.py
(``-p shared.testing.plugin``): the test process and every platform process refuse and
report any connection outside 127.0.0.1, which fails the test. The refused targets are
checked at validation (an IP literal is never connected to). The receiver is on
127.0.0.1, which the platform calls only because the test allows that host in the
settings (``webhook_allowed_hosts``), as tests/e2e/test_admin_audit_e2e.py does.
"""

from __future__ import annotations

import json
import os
import time
import uuid

import pytest
import requests
from playwright.sync_api import expect

from shared import netguard
from shared.testing.webhooks import Receiver, verify_signature
from tests.browser.pages.admin import AuditPage
from tests.browser.pages.integrations import IntegrationDetailPage, IntegrationsPage
from tests.browser.pages.layout import AppShell
from tests.browser.support import screen

pytestmark = pytest.mark.e2e



def _api(web_stack, token: str, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, f"{web_stack.public_url}/api/v1{path}",
                            headers={"Authorization": f"Bearer {token}"}, timeout=30, **kwargs)


@pytest.fixture
def loopback_allowed(web_stack, api_token):
    """Let webhooks reach 127.0.0.1 (the receiver) for this test; restore afterwards."""
    token = api_token("admin")
    before = _api(web_stack, token, "GET", "/admin/settings").json()["webhook_allowed_hosts"]
    answer = _api(web_stack, token, "PUT", "/admin/settings",
                  json={"webhook_allowed_hosts": ["127.0.0.1"]})
    assert answer.status_code == 200, answer.text
    yield
    _api(web_stack, api_token("admin"), "PUT", "/admin/settings",
         json={"webhook_allowed_hosts": before})


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


def test_admin_wires_a_webhook_that_the_receiver_verifies(signed_in, web_stack, api_token,
                                                          loopback_allowed, receiver):
    assert os.environ.get(netguard.ENV) == "1", "the loopback-only guard must be on"
    page = signed_in("admin", "/")
    shell = AppShell(page)
    assert "Intégrations" in shell.menu_entries()
    shell.open_section("Intégrations")
    integrations = IntegrationsPage(page).expect_loaded()
    screen(page, "integrations-list")

    name = f"Récepteur {uuid.uuid4().hex[:6]}"
    dialog = integrations.open_form()
    integrations.fill(dialog, name=name, url=receiver.url,
                      events=["Exécution échouée", "Déploiement démarré"])
    screen(page, "integrations-create")
    dialog.get_by_role("button", name="Créer").click()

    secret_dialog = integrations.secret_dialog()
    expect(secret_dialog).to_contain_text("il ne sera plus jamais affiché")
    expect(secret_dialog.get_by_role("button", name="Copier le secret")).to_be_visible()
    secret = secret_dialog.get_by_test_id("integration-secret").inner_text().strip()
    assert secret.startswith("whsec_")
    screen(page, "integrations-secret-once")
    secret_dialog.get_by_role("button", name="J'ai copié le secret").click()
    expect(secret_dialog).to_be_hidden()

    detail = IntegrationDetailPage(page).expect_loaded(name)
    expect(page.get_by_text(receiver.url)).to_be_visible()
    expect(detail.deliveries).to_contain_text("Aucune livraison pour le moment")
    # The secret is never shown again (nor returned by the API).
    assert secret not in page.content()
    integration_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    listed = _api(web_stack, api_token("admin"), "GET", f"/integrations/{integration_id}").json()
    assert listed["name"] == name and "secret" not in listed
    assert listed["events"] == ["deployment_started", "execution_failed"]

    detail.test()
    [request] = receiver.wait(1, timeout=30)
    assert verify_signature(secret, request["headers"], request["body"])
    assert not verify_signature("whsec_" + "A" * 43 + "=", request["headers"], request["body"])
    body = json.loads(request["body"])
    assert body["type"] == "integration_test"
    assert body["data"]["integration"]["id"] == integration_id

    # The delivery log refreshes by itself: the attempt, its status code, its duration.
    row = detail.deliveries.locator("tbody tr").first
    expect(row).to_contain_text("Livrée", timeout=30_000)
    expect(row).to_contain_text("Événement de test")
    expect(row).to_contain_text("200")
    expect(row).to_contain_text(" ms")
    screen(page, "integrations-detail-delivered")

    # Deactivate, then delete, each after a confirmation.
    integrations.open(web_stack.public_url)
    integrations.row(name).get_by_role("button", name=f"Désactiver {name}").click()
    confirm = page.get_by_role("dialog").filter(has_text="Désactivation de l'intégration")
    expect(confirm).to_contain_text(f"Désactiver « {name} » ?")
    screen(page, "integrations-deactivate-confirm")
    confirm.get_by_role("button", name="Désactiver").click()
    expect(integrations.row(name)).to_contain_text("Inactive")
    assert _api(web_stack, api_token("admin"), "GET",
                f"/integrations/{integration_id}").json()["active"] is False

    integrations.row(name).get_by_role("button", name=f"Supprimer {name}").click()
    confirm = page.get_by_role("dialog").filter(has_text="Suppression de l'intégration")
    expect(confirm).to_contain_text("irréversible")
    screen(page, "integrations-delete-confirm")
    confirm.get_by_role("button", name="Supprimer").click()
    expect(integrations.row(name)).to_have_count(0)
    assert _api(web_stack, api_token("admin"), "GET",
                f"/integrations/{integration_id}").status_code == 404
    assert len(receiver.requests) == 1

    # Every action just made is in the audit trail of that object, by the admin.
    audit = AuditPage(page)
    expected = ["Intégration créée", "Intégration testée", "Intégration modifiée",
                "Intégration supprimée"]
    deadline = time.monotonic() + 30
    while True:
        page.goto(f"{web_stack.public_url}/admin/audit?object_type=integration"
                  f"&object_id={integration_id}")
        audit.expect_loaded()
        if audit.rows().filter(has_text="Intégration supprimée").count():
            break
        assert time.monotonic() < deadline, "the deletion never reached the audit trail"
        time.sleep(1)
    actions = audit.rows().locator("td:nth-child(3)").all_inner_texts()
    assert sorted(actions) == sorted(expected), actions
    for row in audit.rows().all():
        expect(row).to_contain_text("admin")
        expect(row).to_contain_text(integration_id)
    screen(page, "audit-integration-trail")
    page.console_watch.assert_clean()


@pytest.mark.parametrize(("url", "reason"), [
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 est une adresse de métadonnées"),
    ("http://10.20.30.40/hook", "correspond à 10.20.30.40, une adresse non publique"),
    ("ftp://hooks.example.com/ml", "Seules les adresses http:// et https:// sont acceptées"),
])
def test_a_refused_url_says_why_next_to_the_field(signed_in, web_stack, api_token, url, reason):
    page = signed_in("admin", "/integrations")
    integrations = IntegrationsPage(page).expect_loaded()
    before = _api(web_stack, api_token("admin"), "GET", "/integrations").json()["total"]
    dialog = integrations.open_form()
    integrations.fill(dialog, name="Refusée", url=url, events=["Modèle créé"])
    dialog.get_by_role("button", name="Créer").click()
    expect(integrations.url_error(dialog)).to_contain_text(reason, timeout=30_000)
    expect(dialog).to_be_visible()
    if "169.254" in url:
        screen(page, "integrations-ssrf-refused")
    assert _api(web_stack, api_token("admin"), "GET", "/integrations").json()["total"] == before
    page.console_watch.assert_clean()


@pytest.mark.parametrize("username", ["datascientist", "business", "viewer"])
def test_other_roles_neither_see_nor_open_integrations(signed_in, web_stack, api_token, username):
    page = signed_in(username, "/integrations")
    expect(page.get_by_text("Accès refusé")).to_be_visible()
    assert "Intégrations" not in AppShell(page).menu_entries()
    if username == "business":
        screen(page, "integrations-forbidden")
    token = api_token(username)
    assert _api(web_stack, token, "GET", "/integrations").status_code == 403
    assert _api(web_stack, token, "POST", "/integrations", json={
        "name": "x", "url": "https://hooks.example.com/x", "events": ["model_created"]}
    ).status_code == 403
