"""Guide 10.3 « Ajustez les ressources allouées au déploiement » in a real browser: the
deployment form's "Ressources" group (the ceilings as help, a value above them refused
in French next to the field), the deployment detail showing them, a run overriding them
from the run dialog, and the execution detail with the allocated resources and what the
run used (Mémoire maximale, Lignes, Lignes par seconde, Durée). A viewer reads them."""

from __future__ import annotations

import re
import uuid

import pytest
import requests
from playwright.sync_api import expect

from shared.testing import modelfiles as mf
from tests.browser.pages.deployments import DeploymentDetailPage, DeploymentFormPage
from tests.browser.pages.executions import ExecutionDetailPage
from tests.browser.pages.resources import (
    ResourceFields,
    RunDialogResources,
    deployment_resources,
    execution_resources,
    execution_usage,
)
from tests.browser.support import screen

pytestmark = pytest.mark.e2e

IRIS = ("sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    directory = tmp_path_factory.mktemp("browser-resources")
    lot = directory / "lot-ressources.csv"
    lot.write_text(",".join(f'"{c}"' for c in IRIS) + "\n"
                   + "5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n5.9,3.0,4.2,1.5\n", encoding="utf-8")
    return {"model": mf.write_joblib(directory, mf.fitted_logreg(), "iris-res.joblib"),
            "lot": lot}


@pytest.fixture(scope="module")
def ready_model(web_stack, api_token, files):
    for _ in range(3):  # a 503 of a loaded machine is retried under a new name
        name = f"res-model-{uuid.uuid4().hex[:6]}"
        response = requests.post(
            web_stack.api("/models"), headers=web_stack.auth(api_token("datascientist")),
            timeout=60, files={"file": (files["model"].name, files["model"].read_bytes())},
            data={"metadata": f'{{"name": "{name}", "department": "Finance"}}'})
        if response.status_code != 503:
            break
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "ready"
    return response.json()


def test_resources_in_the_form_the_run_dialog_and_the_execution(
    signed_in, web_stack, api_token, ready_model, files
):
    name = f"res-{uuid.uuid4().hex[:6]}"
    page = signed_in("datascientist", f"/deployments/new?model_id={ready_model['id']}")
    form = DeploymentFormPage(page).expect_loaded()
    expect(page.get_by_title(f"{ready_model['name']} 1.0.0")).to_be_visible()
    form.fill(name=name)
    fields = ResourceFields(page)
    # the ceilings of the global settings as help (a non-admin reads them too)
    expect(page.get_by_text(re.compile(r"Entre 64 et 2048 Mo \(plafond des paramètres "
                                       r"globaux\)"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"Entre 1 et 604800 s"))).to_be_visible()
    fields.set(memory=99999, timeout=120)
    form.submit()
    expect(page.get_by_text("La mémoire doit être comprise entre 64 et 2048 Mo (plafond "
                            "des paramètres globaux)")).to_be_visible()
    form.drop_input(files["lot"])
    expect(page.get_by_text(files["lot"].name)).to_be_visible()
    screen(page, "resources-form-refused")
    fields.set(memory=1024)
    expect(page.get_by_text("La mémoire doit être comprise")).to_have_count(0)
    screen(page, "resources-form")
    form.submit()

    detail = DeploymentDetailPage(page).expect_loaded(name)
    summary = deployment_resources(page)
    expect(summary).to_contain_text("Mémoire (Mo)")
    expect(summary).to_contain_text(re.compile(r"1\s?024"))
    expect(summary).to_contain_text("Délai maximal (s)")
    expect(summary).to_contain_text("120")
    screen(page, "resources-deployment-detail")
    deployment_id = detail.deployment_id()
    stored = requests.get(web_stack.api(f"/deployments/{deployment_id}"), timeout=30,
                          headers=web_stack.auth(api_token("datascientist"))).json()
    assert (stored["memory_mb"], stored["timeout_s"]) == (1024, 120)

    # run it on its dataset, overriding the time limit for this run only
    detail.action("Exécuter").click()
    dialog = RunDialogResources(page)
    expect(dialog.toggle()).to_have_attribute("aria-expanded", "false")
    dialog.open()
    expect(dialog.scope.get_by_text(re.compile(r"Entre 64 et 2048 Mo"))).to_be_visible()
    dialog.set(timeout=99999999)
    expect(dialog.scope.get_by_text(re.compile(r"Le délai maximal doit être compris entre 1 "
                                               r"et 604800 s"))).to_be_visible()
    expect(dialog.scope.get_by_role("button", name="Exécuter")).to_be_disabled()
    dialog.set(timeout=90)
    screen(page, "resources-run-dialog")
    dialog.scope.get_by_role("button", name="Exécuter").click()
    expect(page).to_have_url(re.compile(r"/executions/[^/]+$"), timeout=30_000)
    execution_id = page.url.rstrip("/").rsplit("/", 1)[1]

    execution = ExecutionDetailPage(page).expect_loaded(execution_id)
    expect(execution.general()).to_contain_text("Réussie", timeout=90_000)
    allocated = execution_resources(page)
    expect(allocated).to_contain_text("Ressources allouées")
    expect(allocated.get_by_role("row").filter(has_text="Mémoire (Mo)")).to_contain_text(
        re.compile(r"1\s?024"))
    expect(allocated.get_by_role("row").filter(has_text="Délai maximal (s)")).to_contain_text("90")
    used = execution_usage(page)
    expect(used.get_by_role("row").filter(has_text="Mémoire maximale")).to_contain_text(
        re.compile(r"\d+(,\d)? Mo"))
    expect(used.get_by_role("row").filter(has_text=re.compile(r"^Lignes\s*3$"))).to_have_count(1)
    expect(used.get_by_role("row").filter(has_text="Lignes par seconde")).to_contain_text(
        re.compile(r"\d"))
    expect(used.get_by_role("row").filter(has_text="Durée")).to_contain_text(" s")
    screen(page, "resources-execution-detail")
    done = requests.get(web_stack.api(f"/executions/{execution_id}"), timeout=30,
                        headers=web_stack.auth(api_token("viewer"))).json()
    assert done["resources"] == {"memory_mb": 1024, "timeout_s": 90}
    assert done["usage"]["rows"] == 3 and done["usage"]["peak_memory_mb"] > 0
    page.console_watch.assert_clean()

    # a viewer reads the deployment's resources (and cannot edit them)
    viewer = signed_in("viewer", f"/deployments/{deployment_id}")
    DeploymentDetailPage(viewer).expect_loaded(name)
    expect(deployment_resources(viewer)).to_contain_text(re.compile(r"1\s?024"))
    expect(viewer.get_by_role("button", name="Modifier")).to_have_count(0)
    viewer.console_watch.assert_clean()
