"""Security headers (issue 11, item 5; contract C3): every gateway response, by kind of
route, downloads, the HTTP server's own refusals, the issuer's JSON answers."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import requests

from services.gateway import headers
from shared.testing.security import is_envelope

pytestmark = pytest.mark.security

COMMON = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
          "Referrer-Policy": "no-referrer"}


def has_common(response):
    for name, value in COMMON.items():
        assert response.headers.get(name) == value, (name, dict(response.headers))


def test_api_responses_errors_included(client, issue_token):
    token = issue_token("viewer-user", ["viewer"])
    for method, path, token_ in [("GET", "/api/v1/models", None),
                                 ("POST", "/api/v1/models", token),  # 403
                                 ("GET", "/api/v1/nope", token), ("GET", "/metrics", None)]:
        response = client.open(path, method=method, json={} if method == "POST" else None,
                               headers={"Authorization": f"Bearer {token_}"} if token_ else {})
        has_common(response)
        assert response.headers["Content-Security-Policy"] == headers.API_CSP
        assert response.headers["Cache-Control"] == "no-store", path
    openapi = client.get("/api/v1/openapi.json")
    has_common(openapi)
    assert "no-store" not in openapi.headers.get("Cache-Control", "")  # public, cacheable


def test_docs_and_app_policies(client, token_issuer):
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200
    has_common(docs)
    assert docs.headers["Content-Security-Policy"] == headers.DOCS_CSP
    assert "<script>" not in docs.get_data(as_text=True)  # no inline script to allow
    assert client.get("/api/v1/docs/init.js").status_code == 200
    app_page = client.get("/some/app/route")
    has_common(app_page)
    csp = app_page.headers["Content-Security-Policy"]
    origin = headers.issuer_origin(token_issuer.issuer)
    assert f"connect-src 'self' {origin};" in csp and f"form-action 'self' {origin};" in csp
    for part in ("default-src 'self'", "script-src 'self';", "frame-ancestors 'none'",
                 "object-src 'none'", "base-uri 'self'"):
        assert part in csp
    assert "unsafe-eval" not in csp and "script-src 'self' 'unsafe-inline'" not in csp


@pytest.mark.parametrize("name, ascii_name, utf8", [
    ("../../etc/passwd", "etc_passwd", "etc_passwd"),
    ('ré"sul;tats\r\n.csv', "re_sul_tats__.csv", "r%C3%A9_sul_tats__.csv"),
    ("", "download", "download"),
    ("..", "download", "download"),
])
def test_download_names_are_sanitised_rfc6266(name, ascii_name, utf8):
    value = headers.content_disposition(name)
    assert value == f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{utf8}"
    assert "\r" not in value and "\n" not in value


# -- the real platform: gunicorn, downloads, the issuer ---------------------------------


@pytest.mark.e2e
def test_downloads_are_attachments_never_sniffed(stack, role_tokens, platform_objects):
    auth = stack.auth(role_tokens["data-scientist"])
    ids = platform_objects
    for path in (f"/models/{ids['model_id']}/file",
                 f"/executions/{ids['execution_id']}/results",
                 f"/executions/{ids['execution_id']}/results?format=json"):
        response = requests.get(stack.api(path), headers=auth, timeout=30)
        assert response.status_code == 200, (path, response.text)
        # one quoted ASCII name without quote, semicolon or slash, then the encoded one
        assert re.fullmatch(r"attachment; filename=\"[^\";/\\]+\"; filename\*=UTF-8''[^\s;\"/]+",
                            response.headers["Content-Disposition"]), response.headers
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store"
        assert "X-Injected" not in response.headers
    # the model's original name was hostile ('../../x"; filename=evil.html\r\n...')
    model_file = requests.get(stack.api(f"/models/{ids['model_id']}/file"), headers=auth,
                              timeout=30)
    assert "evil.html\"" not in model_file.headers["Content-Disposition"]
    assert model_file.headers["Content-Type"] != "text/html"


@pytest.mark.e2e
def test_gunicorn_refusals_are_json_envelopes_with_the_headers(stack):
    """Issue 11, item 9: an over-long request line (and headers) under the real
    gunicorn: 414 / 431 in the JSON envelope, not gunicorn's HTML page."""
    long_url = stack.api("/models?q=" + "a" * 5000)
    cases = [
        (requests.get(long_url, timeout=30), 414, "uri_too_long"),
        (requests.get(stack.api("/health"), headers={"X-Big": "b" * 9000}, timeout=30), 431,
         "header_fields_too_large"),
        (requests.get(stack.api("/health"), timeout=30,
                      headers={f"X-H{i}": "v" for i in range(120)}), 431,
         "header_fields_too_large"),
    ]
    for response, status, code in cases:
        assert response.status_code == status
        assert response.headers["Content-Type"] == "application/json"
        assert is_envelope(response.json()) and response.json()["error"]["code"] == code
        has_common(response)
        assert response.headers["Content-Security-Policy"] == headers.API_CSP


@pytest.mark.e2e
def test_the_issuers_json_answers_are_not_sniffed(stack):
    for response in (
        requests.get(f"{stack.issuer}/.well-known/openid-configuration", timeout=30),
        requests.get(f"{stack.issuer}/protocol/openid-connect/certs", timeout=30),
        requests.post(f"{stack.issuer}/protocol/openid-connect/token", timeout=30,
                      data={"grant_type": "password", "client_id": "ml-platform-cli",
                            "username": "viewer", "password": "wrong"}),
    ):
        assert response.headers["Content-Type"].startswith("application/json")
        assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.e2e
@pytest.mark.skipif(not shutil.which("chromium"), reason="Debian chromium not installed")
def test_swagger_ui_renders_under_its_policy_in_a_real_browser(stack, tmp_path):
    """The docs CSP lets Swagger UI work (its scripts run, the document loads)."""
    done = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={tmp_path}", "--virtual-time-budget=15000",
         "--dump-dom", stack.api("/docs")],
        capture_output=True, text=True, timeout=120)
    assert "opblock" in done.stdout, (done.stdout[-2000:], done.stderr[-2000:])
    assert "/api/v1/models" in done.stdout
