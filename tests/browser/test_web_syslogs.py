"""Guide 8.2 « Journaux système » in a real browser: a request fails, the admin finds
the lines of the gateway and of the service that handled it by its request id; with
« Suivre en direct » a new line appears on top without reloading; the other roles
neither see the menu entry nor open the screen, and the API refuses them."""

from __future__ import annotations

import time
import uuid

import pytest
import requests
from playwright.sync_api import expect

from tests.browser.pages.syslogs import SystemLogsPage
from tests.browser.support import screen

pytestmark = pytest.mark.e2e


def failing_request(web_stack, api_token, path: str) -> str:
    """A GET that answers 404; its request id."""
    request_id = uuid.uuid4().hex
    response = requests.get(web_stack.api(path), timeout=30, headers={
        "Authorization": f"Bearer {api_token('datascientist')}", "X-Request-ID": request_id})
    assert response.status_code == 404, response.text
    assert response.headers["X-Request-ID"] == request_id
    return request_id


def wait_stored(web_stack, api_token, services: set[str], timeout: float = 60, **query) -> int:
    """Until the admin service has stored lines of ``services`` matching ``query``; how
    many lines match then."""
    deadline = time.monotonic() + timeout
    while True:
        page = requests.get(web_stack.api("/admin/logs"), params={**query, "per_page": 200},
                            headers={"Authorization": f"Bearer {api_token('admin')}"},
                            timeout=30).json()
        if services <= {item["service"] for item in page["items"]}:
            return page["total"]
        if time.monotonic() > deadline:
            raise AssertionError(f"no lines of {services} for {query}: {page}")
        time.sleep(0.5)


def test_admin_finds_a_failed_requests_lines_and_follows_live(signed_in, web_stack, api_token,
                                                              app_url):
    missing = uuid.uuid4().hex[:24]
    request_id = failing_request(web_stack, api_token, f"/models/{missing}")
    lines = wait_stored(web_stack, api_token, {"gateway", "registry"}, request_id=request_id)

    admin = signed_in("admin", "/admin/logs")
    logs = SystemLogsPage(admin).expect_loaded()
    nav = admin.get_by_role("navigation", name="Menu principal")
    expect(nav.get_by_role("link", name="Journaux système")).to_be_visible()
    screen(admin, "syslogs-list")

    logs.search_request_id(request_id)
    expect(logs.row_with(f"/api/v1/models/{missing} answered 404")).to_have_count(1)
    expect(logs.rows().filter(has_text="registry").first).to_be_visible()
    # Every row shown is of that request (retried until the table has settled).
    expect(logs.rows().filter(has_not_text=request_id)).to_have_count(0)
    assert logs.rows().count() >= min(lines, 2)
    screen(admin, "syslogs-by-request-id")

    # Live follow, on a text only the next request's lines carry.
    marker = uuid.uuid4().hex[:24]
    admin.get_by_label("Identifiant de requête", exact=True).fill("")
    logs.search_text(marker)
    expect(logs.page.get_by_text("Aucune ligne de journal ne correspond à ces filtres.")
           ).to_be_visible()
    logs.follow_live()
    failing_request(web_stack, api_token, f"/models/{marker}")
    new_line = logs.row_with(f"/api/v1/models/{marker} answered 404")
    expect(new_line).to_have_count(1, timeout=30_000)
    expect(logs.rows().first).to_contain_text(marker)
    screen(admin, "syslogs-live-follow")
    admin.console_watch.assert_clean()


@pytest.mark.parametrize("username", ["viewer", "datascientist", "business"])
def test_other_roles_neither_see_nor_open_the_system_logs(signed_in, web_stack, api_token,
                                                          username):
    page = signed_in(username, "/admin/logs")
    expect(page.get_by_text("Accès refusé")).to_be_visible()
    nav = page.get_by_role("navigation", name="Menu principal")
    expect(nav.get_by_text("Journaux système")).to_have_count(0)
    response = requests.get(web_stack.api("/admin/logs"), timeout=30,
                            headers={"Authorization": f"Bearer {api_token(username)}"})
    assert response.status_code == 403
    if username == "viewer":
        screen(page, "syslogs-forbidden")
    page.console_watch.assert_clean()
