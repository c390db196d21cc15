"""Browser walkthrough fixtures: one platform for the whole browser suite (started by
the launcher as ``make run`` starts it, on free ports), one Chromium, one signed-in
browser state per demo user.

The platform runs with short access tokens (``ACCESS_TOKEN_TTL_S``) so that every
walkthrough also exercises the app's renewal with the refresh token, and a small
brute-force lockout so the lockout screen is reached in seconds.
"""

from __future__ import annotations

import os

import pytest
import requests

from shared.testing.stack import fresh_vhost, start_stack, stop_stack
from tests.browser.pages.layout import AppShell
from tests.browser.pages.login import LoginPage
from tests.browser.support import CHROMIUM, CHROMIUM_ARGS, ConsoleWatch, shoot

playwright_api = pytest.importorskip("playwright.sync_api")

DEMO_USERS = {
    "admin": "admin123",
    "datascientist": "password123",
    "business": "password123",
    "viewer": "password123",
}
#: The platform of the browser suite (see the module docstring).
STACK_SETTINGS = {
    "ACCESS_TOKEN_TTL_S": "20",
    "LOGIN_MAX_FAILURES": "3",
    "LOGIN_LOCKOUT_S": "3",
    "LOGIN_LOCKOUT_MAX_S": "6",
    # A loaded CI machine inspects an uploaded model file in a sandbox slowly.
    "RPC_TIMEOUT_S": "30",
}
TIMEOUT_MS = 30_000


@pytest.fixture(scope="session")
def web_stack(request, rabbit_manager, tmp_path_factory):
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium "
                    "(scripts/test_prereqs.sh does it as root)", pytrace=False)
    with fresh_vhost(request, rabbit_manager) as amqp_uri, pytest.MonkeyPatch.context() as mp:
        for name, value in STACK_SETTINGS.items():
            mp.setenv(name, value)
        try:
            stack = start_stack(tmp_path_factory.mktemp("web-stack"), amqp_uri, seed=False)
        except RuntimeError as exc:
            pytest.fail(str(exc), pytrace=False)
        mp.undo()
        try:
            response = requests.get(f"{stack.public_url}/", timeout=10)
            if response.status_code != 200:
                pytest.fail("the gateway does not serve the web app (is npm installed? "
                            f"see {stack.output_path}): {response.status_code}", pytrace=False)
            yield stack
        finally:
            stop_stack(stack)


@pytest.fixture(scope="session")
def app_url(web_stack) -> str:
    """Where the browser opens the app: PUBLIC_URL (the redirect URIs are built on it)."""
    return web_stack.public_url


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, launched by its path (nothing downloads a browser).

    Only the browser is closed at the end: Playwright's ``stop()`` deadlocks under the
    eventlet monkey-patch of the test run (its asyncio loop waits on a green
    ``waitpid``); its driver exits by itself when this process ends (its stdin closes).
    """
    playwright = playwright_api.sync_playwright().start()
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        yield chromium
    finally:
        chromium.close()


def new_context(browser, **options):
    context = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris",
                                  viewport={"width": 1366, "height": 900}, **options)
    context.set_default_timeout(TIMEOUT_MS)
    return context


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.failed_call = report.failed
    return report


def close_contexts(request, contexts) -> None:
    """Close the test's browsers; after a failure, keep a screenshot of each page."""
    for index, context in enumerate(contexts):
        if getattr(request.node, "failed_call", False):
            for page in context.pages:
                shoot(page, f"FAILED-{request.node.name}-{index}")
        context.close()


@pytest.fixture
def fresh_page(browser, request):
    """A page in a new, signed-out browser (its own cookies and storage)."""
    context = new_context(browser)
    page = context.new_page()
    page.console_watch = ConsoleWatch(page)
    yield page
    close_contexts(request, [context])


def sign_in_through_login_page(page, app_url: str, username: str, path: str = "/") -> None:
    page.goto(f"{app_url}{path}")
    LoginPage(page).expect_shown().sign_in(username, DEMO_USERS[username])
    AppShell(page).expect_ready()


@pytest.fixture(scope="session")
def user_states(browser, app_url):
    """Per demo user: the browser state after signing in once through the login page
    (the issuer's SSO cookie: opening the app again signs in without the form)."""
    states: dict[str, dict] = {}

    def state(username: str) -> dict:
        if username not in states:
            context = new_context(browser)
            page = context.new_page()
            sign_in_through_login_page(page, app_url, username)
            states[username] = context.storage_state()
            context.close()
        return states[username]

    return state


@pytest.fixture
def signed_in(browser, app_url, user_states, request):
    """``page = signed_in("viewer", "/models")``: a page of that user, already signed in."""
    contexts = []

    def open_as(username: str, path: str = "/"):
        context = new_context(browser, storage_state=user_states(username))
        contexts.append(context)
        page = context.new_page()
        page.console_watch = ConsoleWatch(page)
        page.goto(f"{app_url}{path}")
        AppShell(page).expect_ready()
        return page

    yield open_as
    close_contexts(request, contexts)


@pytest.fixture(scope="session")
def api_token(web_stack):
    """A fresh access token for a demo user (tokens live only ACCESS_TOKEN_TTL_S here)."""
    from scripts.seed import get_token

    def token(username: str) -> str:
        return get_token(web_stack.issuer, username, DEMO_USERS[username])

    return token
