"""Guide section 6 (Exécutions) in a real browser: the list filtered by déploiement,
modèle and statut (kept in the URL), refreshing itself; the detail page with its
general information, parameters, live logs, results preview and downloads; Annuler on
a running execution; Relancer (the new run links back to the original, which lists its
re-runs); what viewers must not see."""

from __future__ import annotations

import io
import json
import re
import time
import uuid

import pandas as pd
import pytest
import requests
from playwright.sync_api import expect

from shared.testing import modelfiles as mf
from tests.browser.pages.executions import ExecutionDetailPage, ExecutionsListPage
from tests.browser.support import screen

pytestmark = pytest.mark.e2e
FINAL = {"succeeded", "failed", "cancelled", "timed_out"}


@pytest.fixture(scope="module")
def model(web_stack, api_token, tmp_path_factory):
    directory = tmp_path_factory.mktemp("browser-executions")
    path = mf.write_joblib(directory, mf.fitted_logreg(), "iris-exec.joblib")
    metadata = {"name": f"exec-{uuid.uuid4().hex[:6]}", "type": "classification",
                "framework": "scikit-learn", "department": "Marketing", "region": "Europe"}
    response = requests.post(
        web_stack.api("/models"), headers=web_stack.auth(api_token("datascientist")),
        data={"metadata": json.dumps(metadata)},
        files={"file": (path.name, path.read_bytes())}, timeout=60)
    assert response.status_code == 201, response.text
    return response.json()


def run(web_stack, token, model_id, rows: int, parameters: dict | None = None) -> dict:
    x, _ = mf.iris_frame()
    frame = pd.concat([x] * (rows // len(x) + 1), ignore_index=True).iloc[:rows]
    response = requests.post(
        web_stack.api(f"/models/{model_id}/executions"), headers=web_stack.auth(token),
        files={"file": ("iris.csv", frame.to_csv(index=False).encode())},
        data={"parameters": json.dumps(parameters or {})}, timeout=60)
    assert response.status_code == 201, response.text
    return response.json()


def wait_status(web_stack, token, execution_id, wanted, timeout=120.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = requests.get(web_stack.api(f"/executions/{execution_id}"),
                            headers=web_stack.auth(token), timeout=10).json()
        if body["status"] in wanted:
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.5)


@pytest.fixture(scope="module")
def finished(web_stack, api_token, model):
    token = api_token("business")
    execution = run(web_stack, token, model["id"], 30, {"predict_proba": True})
    return wait_status(web_stack, token, execution["id"], FINAL)


def test_list_filters_live_in_the_url(signed_in, app_url, model, finished):
    assert finished["status"] == "succeeded", finished
    page = signed_in("viewer", "/executions")
    listing = ExecutionsListPage(page).expect_loaded()
    listing.filter("Statut", "Réussie")
    expect(page).to_have_url(re.compile(r"/executions\?status=succeeded$"))
    listing.filter("Modèle", f"{model['name']} {model['version']}", typed=model["name"])
    expect(page).to_have_url(re.compile(rf"model_id={model['id']}"))
    expect(listing.ids()).to_have_text([finished["id"]])
    expect(listing.row(finished["id"])).to_contain_text("Manuel")
    screen(page, "executions-list")
    # the link reproduces the view
    other = signed_in("business", page.url.removeprefix(app_url))
    expect(ExecutionsListPage(other).expect_loaded().ids()).to_have_text([finished["id"]])
    page.console_watch.assert_clean()


def test_detail_shows_logs_results_and_downloads(signed_in, finished):
    page = signed_in("viewer", f"/executions/{finished['id']}")
    detail = ExecutionDetailPage(page).expect_loaded(finished["id"])
    expect(detail.general()).to_contain_text("Réussie")
    expect(detail.general()).to_contain_text("30 lignes")
    expect(page.get_by_text("predict_proba")).to_be_visible()
    expect(detail.logs()).to_contain_text("rows")
    expect(detail.preview()).to_contain_text("prediction")
    expect(page.get_by_text("Aperçu : 20 premières lignes sur 30")).to_be_visible()
    # viewer: read only
    for label in ("Annuler", "Relancer"):
        expect(detail.action(label)).to_have_count(0)
    screen(page, "execution-detail")
    with page.expect_download() as download:
        page.get_by_role("button", name="CSV").click()
    frame = pd.read_csv(download.value.path())
    assert len(frame) == 30 and "prediction" in frame.columns
    with page.expect_download() as download:
        page.get_by_role("button", name="Parquet").click()
    assert len(pd.read_parquet(io.BytesIO(open(download.value.path(), "rb").read()))) == 30
    with page.expect_download() as download:
        page.get_by_role("button", name="Télécharger les logs").click()
    assert open(download.value.path(), encoding="utf-8").read().count("\n") >= 2
    page.console_watch.assert_clean()


def test_rerun_links_both_ways(signed_in, finished):
    page = signed_in("business", f"/executions/{finished['id']}")
    detail = ExecutionDetailPage(page).expect_loaded(finished["id"])
    detail.action("Relancer").click()
    expect(page).not_to_have_url(re.compile(rf"/executions/{finished['id']}$"))
    rerun_id = page.url.rsplit("/", 1)[1]
    detail = ExecutionDetailPage(page).expect_loaded(rerun_id)
    expect(detail.general()).to_contain_text("Relance")
    expect(detail.general()).to_contain_text(finished["id"])
    expect(detail.general()).to_contain_text("Réussie", timeout=120_000)
    page.get_by_role("link", name=finished["id"]).click()
    ExecutionDetailPage(page).expect_loaded(finished["id"])
    expect(page.get_by_text("Relances")).to_be_visible()
    expect(page.get_by_role("link", name=rerun_id)).to_be_visible()
    page.console_watch.assert_clean()


def test_a_running_execution_follows_its_logs_and_is_cancelled(
    signed_in, web_stack, api_token, model
):
    token = api_token("business")
    # batch_size 1 over many rows: a run that lasts long enough to watch and cancel
    execution = run(web_stack, token, model["id"], 60_000, {"batch_size": 1})
    wait_status(web_stack, token, execution["id"], {"running"} | FINAL)
    page = signed_in("business", f"/executions/{execution['id']}")
    detail = ExecutionDetailPage(page).expect_loaded(execution["id"])
    expect(detail.general()).to_contain_text("En cours")
    expect(page.get_by_text("Suivi en direct…")).to_be_visible()
    screen(page, "execution-running")
    detail.cancel()
    expect(detail.general()).to_contain_text("Annulée", timeout=60_000)
    expect(detail.action("Annuler")).to_have_count(0)
    assert wait_status(web_stack, token, execution["id"], FINAL)["status"] == "cancelled"
    page.console_watch.assert_clean()
