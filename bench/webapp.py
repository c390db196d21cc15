"""The web app: what the first screen costs, and what the app adds to a filter change.

Against the platform started as ``make run`` starts it (the e2e stack fixture), in
Debian's headless Chromium driven by Playwright, signed in through the login page:

* ``first_screen_bytes``: JS + CSS the browser downloads (encoded bytes on the wire,
  gzip) to show the first screen — ``/``, which opens the Tableau de bord — on a cold
  cache; target ≤ 350 kB. ``models_screen_bytes``: the same for the Modèles list.
* ``first_screen_cold``: navigation timing of that first screen on a cold cache
  (new browser context; the signed-in session put back in sessionStorage):
  DOMContentLoaded and load of the app's document, and the time from the navigation
  until the dashboard shows its figures;
  median of ``BENCH_WEB_COLD`` runs.
* ``filter_change``: with ``BENCH_MODELS`` (10,000) models in the registry, a change of
  the Département drop-down until the table shows the result (the total of the page
  is the new one and the table is not loading), timed inside the page; baseline: the
  same API call (``fetch`` of the same ``/api/v1/models`` query with the same token)
  timed inside the same page, alternated with it. Each sample uses a (région,
  département) pair not seen before, so no cached answer helps the app. Target:
  p95(app) ≤ 1.5 × p95(API alone).

Run: ``.venv/bin/python -m bench webapp`` (the web app must be built: ``make run``
or ``python -m scripts.webapp_build``).
"""

from __future__ import annotations

import json
import os
import time

from bench.common import Report, Skip, env_int, fmt, median, percentile, platform, progress
from bench.registry import DEPARTMENTS, REGIONS, insert_models

NAME = "webapp"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
USER, PASSWORD = "datascientist", "password123"

TIME_FILTER_JS = """
async ([department, expectedTotal, query]) => {
  const table = () => document.querySelector('[data-testid=models-table]');
  // Settled: the table is not loading, shows the new total and only rows of the new
  // département (the previous answer stays on screen while the new one loads; an app
  // that has the answer before it renders need not show a spinner at all).
  const settled = () => {
    if (table().querySelector('.ant-spin-spinning')) return false;
    const total = document.querySelector('.ant-pagination-total-text');
    if (!total || !total.textContent.startsWith(expectedTotal + ' ')) return false;
    const headers = [...table().querySelectorAll('thead th')];
    const column = headers.findIndex((th) => th.textContent.trim() === 'Département');
    const rows = [...table().querySelectorAll('tbody tr')];
    return rows.length > 0 && rows.every(
      (tr) => tr.children[column] && tr.children[column].textContent === department);
  };
  const option = [...document.querySelectorAll('.ant-select-dropdown .ant-select-item-option')]
    .find((el) => el.getAttribute('title') === department);
  if (!option) throw new Error('no option ' + department);
  performance.clearResourceTimings();
  const started = performance.now();
  option.click();
  await new Promise((resolve, reject) => {
    let observer;
    const timer = setTimeout(() => { observer.disconnect(); reject(new Error('timeout')); }, 30000);
    const check = () => {
      if (settled()) { clearTimeout(timer); observer.disconnect(); resolve(); }
    };
    observer = new MutationObserver(check);
    observer.observe(document.body, {subtree: true, childList: true, characterData: true,
                                     attributes: true});
    check();
  });
  const took = performance.now() - started;
  // The baseline is the same call: the app asked for exactly this query string.
  const asked = performance.getEntriesByType('resource').map((entry) => entry.name);
  if (!asked.some((url) => url.endsWith('/api/v1/models?' + query))) {
    throw new Error('the app did not ask for ' + query + ': ' + asked.join(' '));
  }
  return took;
}
"""

TIME_API_JS = """
async (query) => {
  const key = Object.keys(sessionStorage).find((k) => k.startsWith('oidc.user:'));
  const token = JSON.parse(sessionStorage.getItem(key)).access_token;
  const started = performance.now();
  const response = await fetch('/api/v1/models?' + query, {
    headers: {Authorization: 'Bearer ' + token, Accept: 'application/json'}});
  const body = await response.json();
  if (!response.ok) throw new Error('HTTP ' + response.status);
  return [performance.now() - started, body.total];
}
"""


def _sign_in(page, base_url: str) -> None:
    page.goto(f"{base_url}/models")
    page.get_by_label("Nom d'utilisateur").fill(USER)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.get_by_test_id("models-table").wait_for(timeout=60_000)


SESSION_JS = """() => {
    const k = Object.keys(sessionStorage).find((x) => x.startsWith('oidc.user:'));
    return [k, sessionStorage.getItem(k)]; }"""


#: (figure prefix, path, what shows the screen is there, its name)
SCREENS = [
    ("first_screen", "/", "[data-testid=stat-models] a", "the first screen (Tableau de bord)"),
    ("models_screen", "/models", "[data-testid=models-table] tbody tr td a", "the Modèles list"),
]


def first_screen(browser, base_url: str, session: list, report: Report, runs: int) -> None:
    for prefix, path, ready, label in SCREENS:
        cold_screen(browser, base_url, session, report, runs, prefix, path, ready, label)


def cold_screen(browser, base_url: str, session: list, report: Report, runs: int,
                prefix: str, path: str, ready: str, label: str) -> None:
    timings, table_ms, sizes = [], [], []
    key, value = session
    for _ in range(runs):
        # A cold HTTP cache; the signed-in session put back where the app keeps it
        # (sessionStorage of the app's origin) before any script of the page runs.
        context = browser.new_context()
        context.add_init_script(
            f"if (location.origin === {json.dumps(base_url)}) "
            f"sessionStorage.setItem({json.dumps(key)}, {json.dumps(value)});")
        page = context.new_page()
        responses = []
        page.on("requestfinished", lambda request, bag=responses: bag.append(request))
        started = time.perf_counter()
        page.goto(f"{base_url}{path}")
        page.locator(ready).first.wait_for(timeout=180_000)
        table_ms.append((time.perf_counter() - started) * 1000)
        nav = page.evaluate("""() => { const n = performance.getEntriesByType('navigation')[0];
            return {dcl: n.domContentLoadedEventEnd, load: n.loadEventEnd}; }""")
        timings.append(nav)
        wire = 0
        for request in responses:
            own = request.url.startswith(base_url)
            if own and request.resource_type in ("script", "stylesheet"):
                wire += request.sizes()["responseBodySize"]
        sizes.append(wire)
        context.close()
    kb = median(sizes) / 1024
    report.figure(f"{prefix}_bytes",
                  f"{kb:.1f} kB of JS+CSS on the wire (gzip) for {label} "
                  f"(target ≤ 350 kB): {'OK' if kb <= 350 else 'OVER'}",
                  kilobytes=kb, target_kb=350)
    dcl, load = median([t["dcl"] for t in timings]), median([t["load"] for t in timings])
    report.figure(f"{prefix}_cold",
                  f"{label}, cold cache, median of {runs}: DOMContentLoaded {fmt(dcl, 0)} ms, "
                  f"load {fmt(load, 0)} ms (app document), shown "
                  f"{fmt(median(table_ms), 0)} ms after the navigation "
                  "(signed in already)",
                  dcl_ms=dcl, load_ms=load, shown_ms=median(table_ms))


def filter_change(page, report: Report) -> None:
    app, api = [], []
    pairs = [(r, d) for r in REGIONS for d in DEPARTMENTS]
    page.goto(page.url.split("?")[0])
    page.get_by_test_id("models-table").locator("tbody tr").first.wait_for()
    for index, (region, department) in enumerate(pairs):
        if index and region != pairs[index - 1][0]:
            # a new région: the Département cleared first, or the région's own request
            # would fetch (new région, last département) and the app would find it cached
            page.locator(".ant-select:has(input[aria-label='Département']) .ant-select-clear"
                         ).click(force=True)
            page.wait_for_load_state("networkidle")
        # the région first (not timed), then open the Département drop-down
        region_box = page.get_by_role("combobox", name="Région")
        region_box.click(force=True)
        region_box.fill(region)
        page.get_by_role("option", name=region, exact=True).wait_for(state="attached",
                                                                     timeout=60_000)
        region_box.press("Enter")
        # let the région's own request finish: nothing else may be in flight when timing
        page.wait_for_load_state("networkidle")
        page.locator("[data-testid=models-table] .ant-spin-spinning").wait_for(state="detached")
        # the query string exactly as the app sends it (its parameters in its order)
        query = f"department={department}&region={region}&sort=-created_at&page=1&per_page=20"
        box = page.get_by_role("combobox", name="Département")
        box.click(force=True)
        page.locator(f".ant-select-dropdown .ant-select-item-option[title='{department}']"
                     ).wait_for(timeout=60_000)
        order = ("api", "app") if index % 2 else ("app", "api")
        expected = None
        for what in order:
            if what == "api":
                took, expected = page.evaluate(TIME_API_JS, query)
                api.append(took)
            else:
                total = expected
                if total is None:
                    _, total = page.evaluate(TIME_API_JS, query)
                app.append(page.evaluate(TIME_FILTER_JS, [department, total, query]))
    ratio = percentile(app, 95) / percentile(api, 95)
    report.figure(
        "filter_change",
        f"p95 {fmt(percentile(app, 95), 0)} ms app vs {fmt(percentile(api, 95), 0)} ms API alone "
        f"= {ratio:.2f}× (target ≤ 1.5×; p50 {fmt(percentile(app, 50), 0)} vs "
        f"{fmt(percentile(api, 50), 0)} ms; n={len(app)})",
        app_p95_ms=percentile(app, 95), api_p95_ms=percentile(api, 95), ratio=ratio,
        app_p50_ms=percentile(app, 50), api_p50_ms=percentile(api, 50), n=len(app))


def run(argv: list[str] | None = None) -> Report:
    if not os.path.exists(CHROMIUM):
        raise Skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise Skip(f"playwright is not installed ({exc})") from exc
    count = env_int("BENCH_MODELS", 10_000)
    cold_runs = env_int("BENCH_WEB_COLD", 5)
    report = Report(NAME, params={"models": count, "cold_runs": cold_runs})
    with platform(NAME) as plat:
        base_url = plat.stack.public_url
        if plat.stack.process.poll() is not None:
            raise Skip("the platform stopped")
        progress(NAME, f"inserting {count} models")
        insert_models(plat, count)
        playwright = sync_playwright().start()
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = browser.new_context(locale="fr-FR",
                                          viewport={"width": 1366, "height": 900})
            page = context.new_page()
            _sign_in(page, base_url)
            session = page.evaluate(SESSION_JS)
            progress(NAME, "first screen, cold cache")
            first_screen(browser, base_url, session, report, cold_runs)
            progress(NAME, "filter changes")
            filter_change(page, report)
        finally:
            browser.close()
            playwright.stop()
    report.write()
    return report
