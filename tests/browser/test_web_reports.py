"""Guide 3.2 (Tableau de bord) and 7.1 (Rapports) in a real browser, on real work: a
model registered and run through the API, a deployment started and run; then the
dashboard (the first screen after login) and each of the four reports show the API's
figures, a report's CSV export is downloaded and parsed, a report's count leads to an
Exécutions list with the same total, the dashboard refreshes itself, and every role
reads them all (screenshots + axe)."""

from __future__ import annotations

import csv
import io
import json
import re
import time
import uuid
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from playwright.sync_api import expect

from shared.testing import modelfiles as mf
from tests.browser.conftest import DEMO_USERS
from tests.browser.pages.executions import ExecutionsListPage
from tests.browser.pages.layout import AppShell
from tests.browser.pages.models import ModelsListPage
from tests.browser.pages.reports import REPORTS, DashboardPage, ReportsPage
from tests.browser.support import screen

pytestmark = pytest.mark.e2e

FINAL = {"succeeded", "failed", "cancelled", "timed_out"}
RUNS = 3  # direct runs of the model; plus one run of its deployment
DEPARTMENT = f"Rapports-{uuid.uuid4().hex[:6]}"
REGION = "Océanie"


def call(web_stack, token, method, path, **kwargs):
    """``token`` is a callable: access tokens live 20 s on this platform."""
    return requests.request(method, web_stack.api(path), headers=web_stack.auth(token()),
                            timeout=60, **kwargs)


def get(web_stack, api_token, path, **params) -> dict:
    response = call(web_stack, lambda: api_token("viewer"), "GET", path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def iris_rows(n: int) -> list[dict]:
    x, _ = mf.iris_frame()
    return x.iloc[:n].to_dict(orient="records")


def wait_final(web_stack, token, execution_id, timeout=180.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = call(web_stack, token, "GET", f"/executions/{execution_id}").json()
        if body["status"] in FINAL:
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.5)


def eventually(check, timeout=60.0, every=1.0):
    """The read side follows the services' events: wait until ``check()`` is true."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "the reports did not catch up with the work done"
        time.sleep(every)


@pytest.fixture(scope="module")
def workload(web_stack, api_token, tmp_path_factory):
    """Real work in a department of its own: a model (file uploaded, metrics), RUNS runs of
    it as a business user, a deployment started and run once; waits until the read side
    has counted all of it."""
    def scientist():
        return api_token("datascientist")

    def business():
        return api_token("business")
    path = mf.write_joblib(tmp_path_factory.mktemp("browser-reports"), mf.fitted_logreg(),
                           "iris-reports.joblib")
    name = f"rapport-{uuid.uuid4().hex[:6]}"
    metadata = {"name": name, "type": "classification", "framework": "scikit-learn",
                "department": DEPARTMENT, "region": REGION, "metrics": {"accuracy": 0.93}}
    response = call(web_stack, scientist, "POST", "/models",
                    data={"metadata": json.dumps(metadata)},
                    files={"file": (path.name, path.read_bytes())})
    assert response.status_code == 201, response.text
    model = response.json()
    executions = []
    for n in range(RUNS):
        run = call(web_stack, business, "POST", f"/models/{model['id']}/executions",
                   json={"input": {"rows": iris_rows(5 + n)}})
        assert run.status_code == 201, run.text
        executions.append(run.json())
    response = call(web_stack, scientist, "POST", "/deployments",
                    json={"name": f"rapport-dep-{uuid.uuid4().hex[:6]}", "model_id": model["id"],
                          "schedule": "0 3 * * *", "timezone": "UTC"})
    assert response.status_code == 201, response.text
    deployment = response.json()
    started = call(web_stack, scientist, "POST", f"/deployments/{deployment['id']}/start")
    assert started.status_code == 200, started.text
    run = call(web_stack, business, "POST", f"/deployments/{deployment['id']}/executions",
               json={"input": {"rows": iris_rows(4)}})
    assert run.status_code == 201, run.text
    executions.append(run.json())
    finished = [wait_final(web_stack, business, e["id"]) for e in executions]
    assert all(e["status"] == "succeeded" for e in finished), finished

    def counted():
        usage = get(web_stack, api_token, "/reports/department-usage", department=DEPARTMENT)
        status = get(web_stack, api_token, "/reports/deployment-status", department=DEPARTMENT)
        items = usage["items"]
        last = status["items"][0].get("last_run") if status["items"] else None
        return (items and items[0]["executions"] == RUNS + 1 and items[0]["succeeded"] == RUNS + 1
                and last and last.get("status") == "succeeded")

    eventually(counted, timeout=90)
    return {"model": model, "deployment": deployment, "executions": finished}


def total_of_list(page) -> int:
    listing = ExecutionsListPage(page).expect_loaded()
    text = page.locator(".ant-pagination-total-text").inner_text()
    match = re.match(r"(\d+) exécutions", text.replace("\u202f", "").replace("\xa0", ""))
    assert match, text
    assert listing.ids().count() >= 1
    return int(match.group(1))


def api_list_total(web_stack, api_token, href: str) -> int:
    params = {k: v[0] for k, v in parse_qs(urlparse(href).query).items()}
    return get(web_stack, api_token, "/executions", **params)["total"]


def test_the_first_screen_after_login_is_the_dashboard_with_the_api_figures(
        signed_in, app_url, web_stack, api_token, workload):
    page = signed_in("viewer", "/")
    expect(page).to_have_url(f"{app_url}/dashboard")
    dashboard = DashboardPage(page).expect_loaded()
    assert AppShell(page).menu_entries()[0] == "Tableau de bord"

    # The whole platform moves while other tests run: compare one consistent reading.
    def same() -> bool:
        api = get(web_stack, api_token, "/dashboard")
        page.reload()
        dashboard.expect_loaded()
        cards = {"models": "stat-models", "deployments": "stat-deployments",
                 "executions": "stat-executions", "last": "stat-last-24h"}
        shown = {key: dashboard.card(card).get_by_role("link").first.inner_text()
                 for key, card in cards.items()}
        wanted = {"models": api["counts"]["models"], "deployments": api["counts"]["deployments"],
                  "executions": api["counts"]["executions"],
                  "last": api["executions"]["last_24h"]["total"]}
        return all(int(re.sub(r"\D", "", shown[k])) == v for k, v in wanted.items()) and api

    api = eventually(same, timeout=60, every=2)
    split = dashboard.card("stat-deployments-split")
    expect(split.get_by_role("link", name=f"Actif : {api['deployments']['active']}",
                             exact=True)).to_be_visible()
    expect(split.get_by_role("link", name=f"Inactif : {api['deployments']['inactive']}",
                             exact=True)).to_be_visible()
    succeeded_24h = api["executions"]["last_24h"]["by_status"]["succeeded"]
    assert succeeded_24h >= RUNS + 1
    expect(dashboard.card("stat-last-24h").get_by_role(
        "link", name=f"Exécutions des dernières 24 h Réussie : {succeeded_24h}",
        exact=True)).to_be_visible()

    # the charts: our department has its one model, linking to the models of it
    by_department = dashboard.chart("Répartition des modèles par département")
    bar = by_department.locator(f'li[data-key="{DEPARTMENT}"]')
    expect(bar).to_contain_text(DEPARTMENT)
    expect(bar.get_by_role("link")).to_have_text("1")
    by_type = dashboard.chart("Répartition des modèles par type")
    expect(by_type.locator('li[data-key="classification"] [data-testid=bar-value]')).to_have_text(
        str(api["models_by_type"]["classification"]))

    # recent activity: who did what, linking to the object
    activity = dashboard.activity()
    label = f"{workload['model']['name']} {workload['model']['version']}"
    expect(activity.get_by_role("link", name=workload["deployment"]["name"]).first).to_be_visible()
    expect(activity.get_by_role("link", name=label, exact=True).first).to_have_attribute(
        "href", re.compile(r"^/(models|executions)/"))
    expect(activity).to_contain_text("business")
    screen(page, "dashboard-viewer")
    # a figure opens the list it counts, with the same total
    dashboard.card("stat-last-24h").get_by_role("link").first.click()
    expect(page).to_have_url(re.compile(r"/executions\?from="))
    assert total_of_list(page) == api_list_total(web_stack, api_token, page.url)
    page.go_back()
    DashboardPage(page).expect_loaded()
    by_department.locator(f'li[data-key="{DEPARTMENT}"]').get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"/models\?department="))
    ModelsListPage(page).expect_loaded().expect_names([workload["model"]["name"]])
    page.console_watch.assert_clean()


def test_the_dashboard_refreshes_itself(signed_in, web_stack, api_token):
    page = signed_in("business", "/dashboard")
    dashboard = DashboardPage(page).expect_loaded()
    before = get(web_stack, api_token, "/dashboard")["counts"]["models"]
    response = call(web_stack, lambda: api_token("datascientist"), "POST", "/models",
                    json={"name": f"rafraichi-{uuid.uuid4().hex[:6]}", "type": "regression",
                          "department": f"{DEPARTMENT}-bis", "region": REGION})
    assert response.status_code == 201, response.text
    # no reload: the screen asks again by itself (every 15 s)
    expect(dashboard.card("stat-models").get_by_role(
        "link").first).not_to_have_text(str(before), timeout=60_000)
    expect(dashboard.chart("Répartition des modèles par département").locator(
        f'li[data-key="{DEPARTMENT}-bis"]')).to_be_visible(timeout=60_000)
    expect(dashboard.activity().get_by_role("link", name=re.compile("^rafraichi-"))).to_be_visible()
    page.console_watch.assert_clean()


def test_each_report_shows_the_api_figures_and_its_counts_open_the_same_executions(
        signed_in, app_url, web_stack, api_token, workload):
    model, deployment = workload["model"], workload["deployment"]
    page = signed_in("datascientist", f"/reports?department={DEPARTMENT}")
    # /reports opens the first report, keeping the filter
    expect(page).to_have_url(re.compile(r"/reports/model-performance\?department="))
    reports = ReportsPage(page).expect_loaded("model-performance")

    # Performances des modèles: the model's metrics and its executions
    api = get(web_stack, api_token, "/reports/model-performance", department=DEPARTMENT)
    item = next(i for i in api["items"] if i["model_id"] == model["id"])
    assert item["executions"] == RUNS + 1
    row = reports.row(model["name"])
    expect(row).to_contain_text("0,93")
    expect(row.get_by_test_id("executions-count")).to_have_text(str(item["executions"]))
    expect(row).to_contain_text("100 %")
    screen(page, "report-model-performance")

    # Tendances d'exécution, by hour: totals, success rate and a count per hour
    reports.open_tab("execution-trends")
    expect(page).to_have_url(re.compile(r"/reports/execution-trends\?department="))
    reports.expect_loaded("execution-trends")
    box = page.get_by_role("combobox", name="Intervalle")
    box.click(force=True)
    page.locator('.ant-select-item-option[title="Heure"]').click()
    expect(page).to_have_url(re.compile(r"interval=hour"))
    reports.expect_loaded("execution-trends")
    api = get(web_stack, api_token, "/reports/execution-trends", department=DEPARTMENT,
              interval="hour")
    assert api["totals"]["total"] == RUNS + 1
    expect(page.get_by_test_id("trends-total")).to_have_text(str(api["totals"]["total"]))
    expect(page.get_by_test_id("trends-succeeded")).to_have_text(
        str(api["totals"]["by_status"]["succeeded"]))
    expect(page.get_by_test_id("trends-rate")).to_have_text("100 %")
    expect(page.get_by_role("img", name=re.compile(rf"{RUNS + 1} exécutions sur"))).to_be_visible()
    screen(page, "report-execution-trends")
    page.get_by_test_id("trends-total").click()
    expect(page).to_have_url(re.compile(rf"/executions\?from=.*&to=.*&department={DEPARTMENT}"))
    expect(page.get_by_test_id("executions-scope")).to_contain_text(f"Département : {DEPARTMENT}")
    assert total_of_list(page) == RUNS + 1 == api_list_total(web_stack, api_token, page.url)
    screen(page, "executions-from-report")
    page.go_back()

    # Utilisation par département, for today (UTC) picked in the period selector
    today = time.strftime("%Y-%m-%d", time.gmtime())
    tomorrow = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400))
    page.goto(f"{app_url}/reports/department-usage?department={DEPARTMENT}")
    reports.expect_loaded("department-usage")
    reports.pick_period(time.strftime("%d/%m/%Y", time.gmtime()))
    expect(page).to_have_url(re.compile(
        rf"from={today}T00%3A00%3A00Z&to={tomorrow}T00%3A00%3A00Z"))
    reports.expect_loaded("department-usage")
    api = get(web_stack, api_token, "/reports/department-usage", department=DEPARTMENT,
              **{"from": f"{today}T00:00:00Z", "to": f"{tomorrow}T00:00:00Z"})
    usage = api["items"][0]
    row = reports.row(DEPARTMENT)
    expect(row.get_by_test_id("executions-count")).to_have_text(str(usage["executions"]))
    expect(row).to_contain_text(str(usage["rows_scored"]))
    expect(page.get_by_test_id("report-period")).to_be_visible()
    screen(page, "report-department-usage")
    row.get_by_test_id("executions-count").click()
    expect(page).to_have_url(re.compile(rf"/executions\?department={DEPARTMENT}.*from="))
    assert total_of_list(page) == usage["executions"] == RUNS + 1

    # Statut des déploiements: active, its next run and its last run
    page.goto(f"{app_url}/reports/deployment-status?department={DEPARTMENT}")
    reports.expect_loaded("deployment-status")
    api = get(web_stack, api_token, "/reports/deployment-status", department=DEPARTMENT)
    assert api["summary"] == {"active": 1, "inactive": 0}
    row = reports.row(deployment["name"])
    expect(row).to_contain_text("Actif")
    expect(row).to_contain_text("0 3 * * *")
    last = api["items"][0]["last_run"]
    expect(row.get_by_role("link", name=f"Réussie (exécution {last['id']})")).to_have_attribute(
        "href", f"/executions/{last['id']}")
    expect(page.get_by_test_id("summary-active")).to_contain_text("1")
    screen(page, "report-deployment-status")
    page.console_watch.assert_clean()


def test_a_report_is_exported_as_the_api_csv(signed_in, web_stack, api_token, workload):
    page = signed_in("business", f"/reports/model-performance?department={DEPARTMENT}")
    reports = ReportsPage(page).expect_loaded("model-performance")
    with page.expect_download() as info:
        reports.export().click()
    download = info.value
    assert download.suggested_filename == "report-model-performance.csv"
    rows = list(csv.DictReader(io.StringIO(open(download.path(), encoding="utf-8").read())))
    api = get(web_stack, api_token, "/reports/model-performance", department=DEPARTMENT)
    assert [r["model_id"] for r in rows] == [i["model_id"] for i in api["items"]]
    assert rows[0]["department"] == DEPARTMENT
    assert int(rows[0]["executions"]) == RUNS + 1
    assert float(rows[0]["metric_accuracy"]) == pytest.approx(0.93)
    page.console_watch.assert_clean()


@pytest.mark.parametrize("username", list(DEMO_USERS))
def test_every_role_reads_the_dashboard_and_the_four_reports(signed_in, username, workload):
    page = signed_in(username, "/")
    DashboardPage(page).expect_loaded()
    entries = AppShell(page).menu_entries()
    assert entries[0] == "Tableau de bord" and "Rapports" in entries
    screen(page, f"dashboard-{username}")
    AppShell(page).open_section("Rapports")
    reports = ReportsPage(page).expect_loaded("model-performance")
    for report in REPORTS:
        reports.open_tab(report)
        expect(page).to_have_url(re.compile(rf"/reports/{report}"))
        reports.expect_loaded(report)
        screen(page, f"report-{report}-{username}")
    page.console_watch.assert_clean()
