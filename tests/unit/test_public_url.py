"""PUBLIC_URL (contract C1): derived from GATEWAY_PORT unless set, passed by the
launcher to every child, and following the e2e stack's free gateway port."""

from __future__ import annotations

from scripts.launcher import Launcher
from shared.config import setting
from shared.testing.stack import stack_env


def test_public_url_defaults_to_the_gateway_port(monkeypatch):
    monkeypatch.delenv("PUBLIC_URL", raising=False)
    monkeypatch.delenv("GATEWAY_PORT", raising=False)
    assert setting("PUBLIC_URL") == "http://localhost:3000"
    monkeypatch.setenv("GATEWAY_PORT", "4567")
    assert setting("PUBLIC_URL") == "http://localhost:4567"
    env = Launcher(seed=False, echo=False).child_env("mongodb://127.0.0.1:1")
    assert env["PUBLIC_URL"] == "http://localhost:4567"
    monkeypatch.setenv("PUBLIC_URL", "https://ml.example.com/")
    assert setting("PUBLIC_URL") == "https://ml.example.com"


def test_the_e2e_stack_gets_a_redirect_uri_on_its_own_port(monkeypatch, tmp_path):
    monkeypatch.setenv("PUBLIC_URL", "http://stale.example")  # never inherited
    env, _ = stack_env(tmp_path, "amqp://guest:guest@localhost:5672/x", seed=False)
    assert env["PUBLIC_URL"] == f"http://localhost:{env['GATEWAY_PORT']}"
