"""Guide section 4 (Modèles) in a real browser, as each role: the list with its
search, filters and URL state; creating a model by dropping its file; a malicious
pickle refused with its reason; the detail page, its tabs and actions; delete
(and the 409 of a model in use); what viewers and business users must not see."""

from __future__ import annotations

import hashlib
import json
import re
import uuid

import pytest
import requests
from playwright.sync_api import expect

from shared.testing import modelfiles as mf
from tests.browser.pages.models import ModelDetailPage, ModelFormPage, ModelsListPage
from tests.browser.support import screen

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    directory = tmp_path_factory.mktemp("browser-models")
    return {
        "logreg": mf.write_joblib(directory, mf.fitted_logreg(), "iris-logreg.joblib"),
        "evil": mf.write_os_system(directory, str(directory / "pwned"), "evil.pkl"),
    }


@pytest.fixture(scope="module")
def catalogue(web_stack, api_token, files):
    """Three models made through the API: two Finance/Europe (one ready), one RH/Asie."""
    prefix = f"nav{uuid.uuid4().hex[:6]}"
    token = api_token("datascientist")
    made = {}
    for key, department, region in (("alpha", "Finance", "Europe"),
                                     ("beta", "Finance", "Asie"),
                                     ("gamma", "RH", "Asie")):
        metadata = {"name": f"{prefix}-{key}", "description": f"Modèle {key} pour le navigateur",
                    "type": "classification", "framework": "scikit-learn",
                    "department": department, "region": region, "tags": ["navigateur"],
                    "parameters": {"C": 0.5}, "metrics": {"accuracy": 0.93}}
        parts = {"metadata": (None, json.dumps(metadata), "application/json")}
        if key == "alpha":
            parts["file"] = (files["logreg"].name, files["logreg"].read_bytes())
        response = requests.post(web_stack.api("/models"), headers=web_stack.auth(token),
                                 files=parts, timeout=60)
        assert response.status_code == 201, response.text
        made[key] = response.json()
    return prefix, made


def api_models(web_stack, api_token, q: str) -> list[str]:
    response = requests.get(web_stack.api("/models"), params={"q": q, "per_page": 200},
                            headers=web_stack.auth(api_token("viewer")), timeout=30)
    assert response.status_code == 200
    return sorted(item["name"] for item in response.json()["items"])


def test_search_filters_and_page_live_in_the_url(signed_in, app_url, catalogue):
    prefix, _ = catalogue
    page = signed_in("business", "/models")
    models = ModelsListPage(page).expect_loaded()
    models.search(prefix)
    expect(page).to_have_url(re.compile(rf"/models\?q={prefix}$"))
    models.expect_names([f"{prefix}-gamma", f"{prefix}-beta", f"{prefix}-alpha"])
    models.filter("Département", "Finance")
    expect(page).to_have_url(re.compile(r"department=Finance"))
    models.expect_names([f"{prefix}-beta", f"{prefix}-alpha"])
    models.filter("Région", "Asie")
    models.expect_names([f"{prefix}-beta"])
    screen(page, "models-list-filtered")
    # the link reproduces the view; defaults (page 1, sort) are not in it
    link = page.url
    assert "page=" not in link and "sort=" not in link
    other = signed_in("viewer", link.removeprefix(app_url))
    ModelsListPage(other).expect_names([f"{prefix}-beta"])
    expect(other.get_by_role("combobox", name="Département")).to_be_visible()
    # sorting by name is server-side and goes into the URL too
    page.goto(f"{app_url}/models?q={prefix}")
    models.expect_loaded()
    page.get_by_role("button", name=re.compile("^Nom —")).click()
    expect(page).to_have_url(re.compile(r"sort=name"))
    models.expect_names([f"{prefix}-alpha", f"{prefix}-beta", f"{prefix}-gamma"])
    page.console_watch.assert_clean()


def test_data_scientist_creates_a_model_by_dropping_its_file(
    signed_in, web_stack, api_token, files
):
    name = f"vins-{uuid.uuid4().hex[:6]}"
    page = signed_in("datascientist", "/models")
    ModelsListPage(page).expect_loaded().add_button().click()
    form = ModelFormPage(page).expect_loaded()
    expect(page.get_by_label("Version")).to_have_value("1.0.0")
    page.get_by_label("Version").fill("1.0")
    expect(page.get_by_text("Version sémantique attendue")).to_be_visible()
    form.fill(name=name, description="Régression logistique sur iris", version="1.2.0",
              department="Opérations", region="Europe", tags=("iris", "démo"))
    form.drop_file(files["logreg"])
    expect(page.get_by_text(files["logreg"].name)).to_be_visible()
    screen(page, "model-form")
    form.submit()

    detail = ModelDetailPage(page).expect_loaded(name)
    info = detail.file_info()
    expect(info).to_contain_text("joblib")
    expect(info).to_contain_text("LogisticRegression")
    expect(info).to_contain_text(hashlib.sha256(files["logreg"].read_bytes()).hexdigest())
    import sklearn

    expect(info).to_contain_text(sklearn.__version__)
    expect(page.get_by_text("Prêt", exact=True).first).to_be_visible()
    expect(page.get_by_text("Opérations")).to_be_visible()
    screen(page, "model-detail")
    for tab in ("Paramètres", "Métriques", "Déploiements", "Exécutions"):
        detail.open_tab(tab)
        expect(page.get_by_role("tabpanel")).to_be_visible()
    detail.open_tab("Paramètres")
    expect(page.get_by_role("tabpanel")).to_contain_text("max_iter")  # read from the file
    # the exact UTC time on hover of a date
    page.locator("time").first.hover()
    expect(page.get_by_role("tooltip")).to_contain_text("UTC")
    assert api_models(web_stack, api_token, name) == [name]
    page.console_watch.assert_clean()


def test_a_malicious_pickle_is_refused_with_its_reason(signed_in, web_stack, api_token, files):
    name = f"piege-{uuid.uuid4().hex[:6]}"
    page = signed_in("datascientist", "/models/new")
    form = ModelFormPage(page).expect_loaded()
    form.fill(name=name)
    form.drop_file(files["evil"])
    form.submit()
    verdict = form.verdict()
    expect(verdict).to_contain_text("Fichier refusé par le registre")
    expect(verdict).to_contain_text("hors de la liste autorisée")
    expect(verdict).to_contain_text("system")  # the unsafe global it found (posix.system)
    screen(page, "model-form-refused")
    assert "/models/new" in page.url  # nothing created, still on the form
    assert api_models(web_stack, api_token, name) == []
    assert not (files["evil"].parent / "pwned").exists()


def test_viewer_sees_no_write_action(signed_in, app_url, catalogue):
    prefix, made = catalogue
    page = signed_in("viewer", f"/models?q={prefix}")
    models = ModelsListPage(page).expect_loaded()
    expect(models.add_button()).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("^(Modifier|Supprimer)"))).to_have_count(0)
    models.row(f"{prefix}-alpha").get_by_role("button", name=f"Voir {prefix}-alpha").click()
    ModelDetailPage(page).expect_loaded(f"{prefix}-alpha")
    for label in ("Déployer", "Exécuter", "Télécharger", "Modifier", "Supprimer"):
        expect(page.get_by_role("button", name=label)).to_have_count(0)
    screen(page, "model-detail-viewer")
    page.goto(f"{app_url}/models/new")
    expect(page.get_by_text("Accès refusé")).to_be_visible()
    page.console_watch.assert_clean()


def test_business_user_runs_a_model_with_typed_rows(signed_in, catalogue):
    prefix, made = catalogue
    page = signed_in("business", f"/models/{made['alpha']['id']}")
    detail = ModelDetailPage(page).expect_loaded(f"{prefix}-alpha")
    for label in ("Télécharger", "Modifier", "Supprimer"):
        expect(page.get_by_role("button", name=label)).to_have_count(0)
    detail.action("Exécuter").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"Exécuter {prefix}-alpha")
    for column, value in zip(
        ("sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"),
        ("5.1", "3.5", "1.4", "0.2"), strict=True,
    ):
        dialog.get_by_label(f"{column} 1").fill(value)
    screen(page, "run-dialog")
    dialog.get_by_role("button", name="Exécuter").click()
    expect(dialog).to_have_count(0)
    expect(page).to_have_url(re.compile(r"/executions/[^/]+$|/models/"))
    page.console_watch.assert_clean()


def test_admin_downloads_the_same_bytes(signed_in, catalogue, files):
    prefix, made = catalogue
    page = signed_in("admin", f"/models/{made['alpha']['id']}")
    ModelDetailPage(page).expect_loaded(f"{prefix}-alpha")
    with page.expect_download() as download:
        page.get_by_role("button", name="Télécharger").click()
    path = download.value.path()
    assert download.value.suggested_filename == files["logreg"].name
    assert open(path, "rb").read() == files["logreg"].read_bytes()


def test_delete_names_the_model_and_a_model_in_use_lists_its_deployments(
    signed_in, web_stack, api_token, catalogue
):
    prefix, made = catalogue
    token = api_token("datascientist")
    deployment = requests.post(
        web_stack.api("/deployments"), headers=web_stack.auth(token), timeout=30,
        json={"name": f"{prefix}-prod", "model_id": made["alpha"]["id"], "schedule": None,
              "timezone": "Europe/Paris"},
    )
    assert deployment.status_code == 201, deployment.text
    started = requests.post(web_stack.api(f"/deployments/{deployment.json()['id']}/start"),
                            headers=web_stack.auth(token), timeout=30)
    assert started.status_code == 200, started.text

    page = signed_in("datascientist", f"/models/{made['alpha']['id']}")
    detail = ModelDetailPage(page).expect_loaded(f"{prefix}-alpha")
    detail.open_tab("Déploiements")
    expect(page.get_by_role("tabpanel")).to_contain_text(f"{prefix}-prod")
    detail.delete()
    blocked = page.get_by_role("dialog").filter(has_text="Suppression impossible")
    expect(blocked).to_contain_text(f"{prefix}-prod")
    screen(page, "model-delete-in-use")
    blocked.get_by_role("button").last.click()

    # a model no deployment uses goes away after the confirmation that names it
    page.goto(page.url.replace(made["alpha"]["id"], made["gamma"]["id"]))
    detail.expect_loaded(f"{prefix}-gamma")
    detail.action("Supprimer").click()
    expect(page.get_by_role("dialog")).to_contain_text(f"« {prefix}-gamma 1.0.0 »")
    screen(page, "model-delete-confirm")
    page.get_by_role("dialog").get_by_role("button", name="Supprimer").click()
    ModelsListPage(page).expect_loaded()
    assert api_models(web_stack, api_token, f"{prefix}-gamma") == []


def test_language_toggle_is_remembered(signed_in):
    page = signed_in("viewer", "/models")
    ModelsListPage(page).expect_loaded()
    page.get_by_text("EN", exact=True).click()
    expect(page.get_by_role("heading", name="Models", exact=True)).to_be_visible()
    page.reload()
    expect(page.get_by_role("heading", name="Models", exact=True)).to_be_visible(timeout=60_000)
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    page.get_by_text("FR", exact=True).click()
    expect(page.get_by_role("heading", name="Modèles", exact=True)).to_be_visible()
