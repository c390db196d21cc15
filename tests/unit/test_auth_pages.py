"""The login pages' HTML and headers (pure rendering, no server)."""

from __future__ import annotations

from services.auth import pages


def test_page_headers_forbid_framing_scripts_and_caching():
    response = pages.render("login.html", "Connexion", form_origins=["http://localhost:3000"],
                            csrf_token="t" * 43, action="/x?a=1&b=2", error=None, username="")
    headers = response.headers
    assert headers["X-Frame-Options"] == "DENY"
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "script-src" not in csp  # default-src 'none': no script at all
    assert "form-action 'self' http://localhost:3000" in csp
    nonce = csp.split("'nonce-")[1].split("'")[0]
    html = response.get_data(as_text=True)
    assert f'<style nonce="{nonce}">' in html
    assert "<script" not in html
    assert 'action="/x?a=1&amp;b=2"' in html
    assert "no-store" in headers["Cache-Control"]
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_values_are_escaped():
    response = pages.render("login.html", "Connexion", csrf_token="t", action="/a",
                            error="<b>x</b>", username='"><script>alert(1)</script>')
    html = response.get_data(as_text=True)
    assert "<script>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html
    assert "&#34;&gt;&lt;script&gt;" in html


def test_message_page():
    response = pages.message("Erreur", "Client inconnu", status=400)
    assert response.status_code == 400
    assert 'role="alert"' in response.get_data(as_text=True)
    assert response.headers["X-Frame-Options"] == "DENY"
