"""The gateway serving the built web app: the client-route fallback, caching
headers, /app-config.json (contract C1), and the JSON envelope kept under /api/."""

from __future__ import annotations

import pytest

from services.gateway.app import create_app

ISSUER = "http://localhost:18080/realms/ml-platform"


@pytest.fixture
def dist(tmp_path, monkeypatch):
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text(
        '<!doctype html><div id="root"></div><script type="module" src="/assets/index-abc.js">'
        "</script>"
    )
    (tmp_path / "assets" / "index-abc.js").write_text("console.log(1)")
    (tmp_path / "robots.txt").write_text("User-agent: *")
    monkeypatch.setenv("WEBAPP_DIST", str(tmp_path))
    return tmp_path


@pytest.fixture
def client():
    app = create_app({"OIDC_ISSUER": ISSUER})
    yield app.test_client()
    app.extensions["gateway"].close()


def test_client_routes_get_index_html_uncached(client, dist):
    for path in ("/", "/models", "/models/665f1a/edit", "/auth/callback?code=x&state=y"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.mimetype == "text/html"
        assert b'<div id="root">' in response.data
        assert response.headers["Cache-Control"] == "no-cache"


def test_hashed_assets_are_cached_for_a_year(client, dist):
    response = client.get("/assets/index-abc.js")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert client.get("/robots.txt").data == b"User-agent: *"


def test_missing_asset_is_a_404_not_the_index(client, dist):
    response = client.get("/assets/gone-123.js")
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


def test_unknown_api_paths_keep_the_json_envelope(client, dist):
    for path in ("/api/v1/nope", "/api/v1/models/1/nope", "/api", "/api/v2/models"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.mimetype == "application/json"
        assert response.json["error"]["code"] == "not_found"
    assert client.post("/api/v1/nope").json["error"]["code"] in ("not_found", "method_not_allowed")


def test_app_config_names_the_issuer_and_the_web_client(client, dist):
    response = client.get("/app-config.json")
    assert response.status_code == 200
    assert response.json == {
        "issuer": ISSUER, "client_id": "ml-platform-web", "api_base": "/api/v1"
    }
    assert response.headers["Cache-Control"] == "no-cache"


def test_without_a_build_the_root_says_so(client, tmp_path, monkeypatch):
    monkeypatch.setenv("WEBAPP_DIST", str(tmp_path / "missing"))
    response = client.get("/")
    assert response.status_code == 404
    assert "not built" in response.json["error"]["message"]


def test_pages_carry_the_app_csp(client, dist):
    csp = client.get("/models").headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-eval" not in csp
    assert "connect-src 'self' http://localhost:18080" in csp
    assert "frame-ancestors 'none'" in csp


def test_assets_are_sent_gzip_compressed_when_accepted(client, dist):
    import gzip

    from scripts.webapp_build import precompress

    (dist / "assets" / "big-1.js").write_text("const x = 1;\n" * 500)
    assert precompress(dist) == 1
    zipped = client.get("/assets/big-1.js", headers={"Accept-Encoding": "gzip, br"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert zipped.mimetype == "text/javascript"
    assert "Accept-Encoding" in zipped.headers["Vary"]
    assert gzip.decompress(zipped.data) == (dist / "assets" / "big-1.js").read_bytes()
    plain = client.get("/assets/big-1.js")
    assert "Content-Encoding" not in plain.headers
    assert plain.data == (dist / "assets" / "big-1.js").read_bytes()
