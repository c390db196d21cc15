"""Guide section 5 (Déploiements) in a real browser, as each role: deploy a model from its
page with a cron (its French words, the next runs in the deployment's zone, the API's
verdict on an impossible date), the runner's parameters, the input dataset dropped on
the form; start and stop; run it; a refused dataset with its reason; edit (recorded in
the history); delete after a confirmation that names it; the list's search and filters
in the URL; what business users and viewers must not see."""

from __future__ import annotations

import re
import uuid

import pytest
import requests
from playwright.sync_api import expect

from shared.testing import modelfiles as mf
from tests.browser.pages.deployments import (
    DeploymentDetailPage,
    DeploymentFormPage,
    DeploymentsListPage,
)
from tests.browser.pages.models import ModelDetailPage
from tests.browser.support import screen

pytestmark = pytest.mark.e2e

IRIS = ("sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    directory = tmp_path_factory.mktemp("browser-deployments")
    good = directory / "iris-lot.csv"
    good.write_text(",".join(f'"{c}"' for c in IRIS) + "\n5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n",
                    encoding="utf-8")
    bad = directory / "incomplet.csv"
    bad.write_text(f'"{IRIS[0]}"\n5.1\n', encoding="utf-8")
    return {"model": mf.write_joblib(directory, mf.fitted_logreg(), "iris-deploy.joblib"),
            "good": good, "bad": bad}


@pytest.fixture(scope="module")
def ready_model(web_stack, api_token, files):
    """A ready model (valid file, iris input schema) made through the API (a 503 of a
    loaded machine is retried, under a new name in case the first one landed late)."""
    for _ in range(3):
        name = f"dep-model-{uuid.uuid4().hex[:6]}"
        response = requests.post(
            web_stack.api("/models"), headers=web_stack.auth(api_token("datascientist")),
            timeout=60, files={"file": (files["model"].name, files["model"].read_bytes())},
            data={"metadata": f'{{"name": "{name}", "department": "Finance", "region": "Europe"}}'},
        )
        if response.status_code != 503:
            break
    assert response.status_code == 201, response.text
    model = response.json()
    assert model["status"] == "ready", model
    return model


def api(web_stack, api_token, method: str, path: str, **kwargs):
    return requests.request(method, web_stack.api(path), timeout=30,
                            headers=web_stack.auth(api_token("datascientist")), **kwargs)


@pytest.fixture(scope="module")
def deployed(web_stack, api_token, ready_model, files):
    """A deployment made through the API (with a schedule and a dataset) for the role checks."""
    response = api(web_stack, api_token, "POST", "/deployments",
                   json={"name": f"dep-roles-{uuid.uuid4().hex[:6]}", "model_id": ready_model["id"],
                         "schedule": "0 7 * * 1", "timezone": "America/New_York"})
    assert response.status_code == 201, response.text
    deployment = response.json()
    attached = api(web_stack, api_token, "PUT", f"/deployments/{deployment['id']}/input",
                   files={"file": (files["good"].name, files["good"].read_bytes())})
    assert attached.status_code == 200, attached.text
    return deployment


def test_data_scientist_deploys_runs_edits_and_deletes(
    signed_in, web_stack, api_token, ready_model, files
):
    name = f"score-{uuid.uuid4().hex[:6]}"
    page = signed_in("datascientist", f"/models/{ready_model['id']}")
    ModelDetailPage(page).expect_loaded(ready_model["name"]).action("Déployer").click()

    # the form, opened from the model: the model prefilled and fixed
    form = DeploymentFormPage(page).expect_loaded()
    expect(page).to_have_url(re.compile(rf"/deployments/new\?model_id={ready_model['id']}$"))
    expect(form.model_select()).to_be_disabled()
    expect(page.get_by_title(f"{ready_model['name']} 1.0.0")).to_be_visible()
    form.fill(name=name, description="Score des lots du matin")
    form.add_runner_parameter("output_format", "json")
    known = page.get_by_test_id("runner-parameters")
    expect(known).to_contain_text("Format du fichier de résultats")

    # a cron the API refuses (30 February) gets its verdict next to the field
    form.schedule("0 0 30 2 *")
    expect(page.get_by_text("Expression cron refusée")).to_be_visible()
    form.schedule("0 25 * * *")
    expect(page.get_by_text("Expression cron invalide")).to_be_visible()
    form.schedule("30 2 * * 1-5")
    expect(form.cron_words()).to_contain_text("02:30")
    expect(form.cron_words()).to_contain_text("de lundi à vendredi")
    form.time_zone("Europe/Paris")
    runs = form.next_runs()
    expect(runs).to_contain_text("heure de Europe/Paris")
    expect(runs.locator("time")).to_have_count(5)
    for text in runs.locator("time").all_inner_texts():
        assert text.endswith("02:30:00"), text  # shown in the deployment's own zone
    form.drop_input(files["good"])
    expect(page.get_by_text(files["good"].name)).to_be_visible()
    screen(page, "deployment-form")
    form.submit()

    detail = DeploymentDetailPage(page).expect_loaded(name)
    expect(detail.general()).to_contain_text(ready_model["name"])
    expect(detail.general()).to_contain_text("Finance")
    expect(detail.general()).to_contain_text("datascientist")
    expect(detail.general()).to_contain_text("Inactif")
    expect(detail.schedule()).to_contain_text("30 2 * * 1-5")
    expect(detail.schedule()).to_contain_text("de lundi à vendredi")
    expect(detail.schedule()).to_contain_text("Europe/Paris")
    expect(detail.schedule()).to_contain_text("Une seule exécution de rattrapage")
    expect(detail.next_runs().locator("time")).to_have_count(5)
    expect(page.get_by_test_id("deployment-parameters")).to_contain_text("output_format")
    expect(page.get_by_test_id("deployment-input")).to_contain_text(files["good"].name)
    screen(page, "deployment-detail")
    deployment_id = detail.deployment_id()
    stored = api(web_stack, api_token, "GET", f"/deployments/{deployment_id}").json()
    assert stored["parameters"] == {"output_format": "json"}
    assert stored["schedule"] == "30 2 * * 1-5" and stored["timezone"] == "Europe/Paris"
    assert stored["input"]["rows"] == 2

    # a dataset missing a column is refused, with the reason
    detail.drop_input(files["bad"])
    expect(detail.input_verdict()).to_contain_text("Jeu de données refusé")
    expect(detail.input_verdict()).to_contain_text("sepal width (cm)")
    screen(page, "deployment-input-refused")

    # start and stop
    detail.action("Démarrer").click()
    expect(detail.general()).to_contain_text("Actif")
    expect(detail.schedule()).not_to_contain_text("Le déploiement est arrêté")  # next_run_at
    screen(page, "deployment-detail-active")
    detail.action("Arrêter").click()
    expect(detail.general()).to_contain_text("Inactif")
    expect(detail.schedule()).to_contain_text("Le déploiement est arrêté")
    expect(detail.history()).to_contain_text("Statut")

    # run it on its own dataset; the execution appears in its table until it ends
    detail.action("Exécuter").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"Exécuter {name}")
    screen(page, "deployment-run-dialog")
    dialog.get_by_role("button", name="Exécuter").click()
    expect(dialog).to_have_count(0)
    expect(page).to_have_url(re.compile(rf"/executions/[^/]+$|/deployments/{deployment_id}$"))
    page.goto(f"{web_stack.public_url}/deployments/{deployment_id}")
    detail.expect_loaded(name)
    expect(detail.executions().get_by_text("Réussie")).to_be_visible(timeout=90_000)
    expect(detail.executions()).to_contain_text("Manuel")

    # edit: the same form, prefilled; the change lands in the history
    detail.action("Modifier").click()
    form = DeploymentFormPage(page).expect_loaded(f"Modifier {name}")
    expect(page.get_by_label("Nom", exact=True)).to_have_value(name)
    expect(page.get_by_label("Planification", exact=True)).to_have_value("30 2 * * 1-5")
    form.schedule("0 6 * * *")
    expect(form.cron_words()).to_contain_text("06:00")
    screen(page, "deployment-edit")
    form.submit("Enregistrer")
    detail.expect_loaded(name)
    expect(detail.history()).to_contain_text("Planification")
    expect(detail.history()).to_contain_text("0 6 * * *")
    expect(detail.history()).to_contain_text("datascientist")

    # delete, after a confirmation that names it
    detail.delete(name)
    DeploymentsListPage(page).expect_loaded()
    assert api(web_stack, api_token, "GET", f"/deployments/{deployment_id}").status_code == 404
    page.console_watch.assert_clean()


def test_list_search_and_filters_live_in_the_url(signed_in, app_url, deployed):
    page = signed_in("datascientist", "/deployments")
    deployments = DeploymentsListPage(page).expect_loaded()
    expect(deployments.add_button()).to_be_visible()
    deployments.search(deployed["name"])
    expect(page).to_have_url(re.compile(rf"/deployments\?q={deployed['name']}$"))
    deployments.expect_names([deployed["name"]])
    deployments.filter("Statut", "Actif")
    expect(page).to_have_url(re.compile(r"status=active"))
    expect(deployments.table).to_contain_text("Aucun déploiement ne correspond")
    deployments.filter("Statut", "Inactif")
    deployments.expect_names([deployed["name"]])
    row = deployments.row(deployed["name"])
    expect(row.get_by_role("button", name=f"Démarrer {deployed['name']}")).to_be_visible()
    page.keyboard.press("Escape")  # the drop-down closed, as a user leaves it
    expect(page.locator(".ant-select-dropdown:not(.ant-select-dropdown-hidden)")).to_have_count(0)
    screen(page, "deployments-list")
    link = page.url
    other = signed_in("viewer", link.removeprefix(app_url))
    DeploymentsListPage(other).expect_names([deployed["name"]])
    page.console_watch.assert_clean()


def test_business_user_may_only_run(signed_in, app_url, deployed):
    page = signed_in("business", f"/deployments?q={deployed['name']}")
    deployments = DeploymentsListPage(page).expect_loaded()
    deployments.expect_names([deployed["name"]])
    expect(deployments.add_button()).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("^(Démarrer|Arrêter)"))).to_have_count(0)
    deployments.row(deployed["name"]).get_by_role(
        "button", name=f"Voir {deployed['name']}"
    ).click()
    detail = DeploymentDetailPage(page).expect_loaded(deployed["name"])
    expect(detail.schedule()).to_contain_text("America/New_York")
    expect(detail.action("Exécuter")).to_be_visible()
    for label in ("Démarrer", "Arrêter", "Modifier", "Supprimer"):
        expect(page.get_by_role("button", name=label)).to_have_count(0)
    expect(page.get_by_test_id("input-dropzone")).to_have_count(0)
    screen(page, "deployment-detail-business")
    page.goto(f"{app_url}/deployments/new")
    expect(page.get_by_text("Accès refusé")).to_be_visible()
    page.console_watch.assert_clean()


def test_viewer_sees_no_action(signed_in, app_url, deployed):
    page = signed_in("viewer", f"/deployments/{deployed['id']}")
    detail = DeploymentDetailPage(page).expect_loaded(deployed["name"])
    expect(detail.next_runs().locator("time")).to_have_count(5)
    for label in ("Démarrer", "Arrêter", "Exécuter", "Modifier", "Supprimer"):
        expect(page.get_by_role("button", name=label)).to_have_count(0)
    screen(page, "deployment-detail-viewer")
    page.goto(f"{app_url}/deployments/{deployed['id']}/edit")
    expect(page.get_by_text("Accès refusé")).to_be_visible()
    page.console_watch.assert_clean()
