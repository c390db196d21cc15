"""Pure logic of the admin service: settings validation, Standard Webhooks signatures,
the SSRF rules (IP literals only: nothing is resolved or connected), audit summaries,
back-off, and the gateway's client address behind (un)trusted proxies."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime

import pytest
from flask import Flask

from services.admin import domain, webhooks
from services.gateway.client import client_address
from shared import events
from shared.errors import ValidationError
from shared.settings import SettingsView, defaults


def test_signature_matches_the_standard_webhooks_test_vector():
    # The vector published with the specification (and its reference libraries' tests).
    signature = webhooks.sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                              "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, '{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_new_secrets_are_whsec_base64_of_32_random_bytes():
    first, second = webhooks.new_secret(), webhooks.new_secret()
    assert first.startswith("whsec_") and first != second
    assert len(webhooks.secret_bytes(first)) == 32
    headers = webhooks.headers(first, "msg_1", "{}", timestamp=1700000000)
    assert headers["webhook-timestamp"] == "1700000000"
    assert headers["webhook-signature"] == webhooks.sign(first, "msg_1", 1700000000, "{}")


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.0.1", "100.64.0.1", "169.254.1.1",
    "::1", "fe80::1", "fc00::1", "::ffff:10.0.0.1", "192.0.2.1", "198.18.0.1",
])
def test_non_public_addresses_are_refused_unless_allowed(address):
    ip = webhooks._address(address)
    assert webhooks.refusal("example.test", ip, []) is not None
    assert webhooks.refusal("example.test", ip, [str(ip)]) is None
    assert webhooks.refusal("example.test", ip, ["example.test"]) is None


@pytest.mark.parametrize("address", ["169.254.169.254", "fd00:ec2::254", "0.0.0.0", "::",
                                     "224.0.0.1"])
def test_metadata_and_unspecified_addresses_are_refused_even_when_allowed(address):
    ip = ipaddress.ip_address(address)
    assert webhooks.refusal(address, ip, [address, "0.0.0.0/0", "::/0"]) is not None


def test_public_addresses_pass():
    assert webhooks.refusal("example.com", ipaddress.ip_address("93.184.215.14"), []) is None
    assert webhooks.refusal("x", ipaddress.ip_address("2606:4700::1111"), []) is None


@pytest.mark.parametrize("url", ["ftp://example.com/", "file:///etc/passwd", "javascript:x",
                                 "http://", "http://u:p@example.com/", "http://[::1/",
                                 "http://example.com:99999/", "x" * 2001])
def test_urls_that_are_not_plain_http_are_refused(url):
    with pytest.raises(webhooks.UrlRefused):
        webhooks.parse_url(url)


def test_allowed_hosts_entries_are_validated():
    names, networks = webhooks.parse_allowed(["Hooks.Example.com", "10.0.0.0/8", "::1"])
    assert names == {"hooks.example.com"} and len(networks) == 2
    for bad in ("", "not a host", "-bad.example", "a..b"):
        with pytest.raises(ValueError):
            webhooks.parse_allowed([bad])


def test_settings_validation_names_each_bad_key():
    current = defaults({})
    merged = domain.validate_settings(current, {"max_upload_mb": 10, "retention_days": 30})
    assert merged["max_upload_mb"] == 10 and merged["retention_days"] == 30
    with pytest.raises(ValidationError) as exc:
        domain.validate_settings(current, {"max_upload_mb": "big", "default_timezone": "Nowhere",
                                           "retention_days": True, "what": 1})
    assert set(exc.value.details) == {"max_upload_mb", "default_timezone", "retention_days",
                                      "what"}
    with pytest.raises(ValidationError) as exc:
        domain.validate_settings(current, {"max_execution_timeout_s": 10})
    assert "max_execution_timeout_s" in exc.value.details  # below the default of 3600
    with pytest.raises(ValidationError) as exc:
        domain.validate_settings(current, {"retention_days": 10, "log_retention_days": 11})
    assert "log_retention_days" in exc.value.details


def test_defaults_come_from_the_environment():
    values = defaults({"DEFAULT_TIMEZONE": "Europe/Paris", "MAX_UPLOAD_MB": "50",
                       "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1, hooks.local",
                       "LOGIN_MAX_FAILURES": "oops"})
    assert values["default_timezone"] == "Europe/Paris" and values["max_upload_mb"] == 50
    assert values["webhook_allowed_hosts"] == ["127.0.0.1", "hooks.local"]
    assert values["login_max_failures"] == 5  # a bad value falls back to the default


def test_settings_view_ignores_older_versions():
    view = SettingsView(defaults({}))
    assert view.apply({"settings": {"max_upload_mb": 5}, "version": 3})
    assert not view.apply({"settings": {"max_upload_mb": 9}, "version": 2})
    assert view["max_upload_mb"] == 5
    assert not view.apply({"nothing": True})


def test_audit_summaries_say_what_changed():
    old = {"name": "churn", "status": "draft", "updated_at": 1}
    new = {"name": "churn", "status": "ready", "updated_at": 2}
    text = domain.summary(events.MODEL_UPDATED, {"model": new}, old, new)
    assert text == "model.updated churn: status: draft → ready"
    created = domain.summary(events.DEPLOYMENT_CREATED, {}, None,
                             {"name": "nightly", "schedule": "0 2 * * *", "timezone": "UTC"})
    assert created.startswith("deployment.created nightly: schedule=0 2 * * *")
    failed = domain.summary(events.LOGIN_FAILED, {"username": "eve", "reason": "locked",
                                                  "client": "203.0.113.1"}, None, None)
    assert "eve" in failed and "locked" in failed and "203.0.113.1" in failed
    settings = domain.summary(events.SETTINGS_CHANGED, {
        "changed": ["max_upload_mb"], "previous": {"max_upload_mb": 200},
        "settings": {"max_upload_mb": 50}}, None, None)
    assert settings == "settings.updated: max_upload_mb: 200 → 50"
    assert "secret" not in domain.snapshot({"secret": "whsec_x", "name": "n"})


def test_back_off_doubles_and_is_capped():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    delays = [(domain.next_attempt(n, now, 5, 60) - now).total_seconds() for n in range(1, 6)]
    assert delays == [5, 10, 20, 40, 60]


def _request(remote: str, forwarded: str | None):
    app = Flask(__name__)
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    return app.test_request_context(environ_base={"REMOTE_ADDR": remote}, headers=headers)


def test_client_address_trusts_forwarded_for_only_from_trusted_proxies():
    with _request("198.51.100.1", "10.9.9.9"):
        assert client_address("") == "198.51.100.1"  # no trusted proxy: the peer
        assert client_address("10.0.0.0/8") == "198.51.100.1"  # the peer is not trusted
    with _request("10.0.0.2", "203.0.113.5, 10.0.0.3"):
        assert client_address("10.0.0.0/8") == "203.0.113.5"
        assert client_address("") == "10.0.0.2"
    with _request("10.0.0.2", "garbage"):
        assert client_address("10.0.0.0/8") == "10.0.0.2"


def test_a_name_rebound_to_loopback_after_validation_is_refused_at_connect(monkeypatch):
    """DNS rebinding: the first resolution (validation) says public, the second (the
    connection) says loopback; the guarded connection refuses without connecting."""
    import socket

    answers = iter(["93.184.215.14", "127.0.0.1"])
    connected = []

    def fake_getaddrinfo(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", lambda self, address: connected.append(address))
    outcome = webhooks.send("http://rebind.example/hook", "{}", {}, [], timeout=2)
    assert outcome.status_code is None and outcome.error.startswith("refused:"), outcome
    assert "127.0.0.1" in outcome.error
    assert connected == []
    assert next(answers, None) is None  # both resolutions happened: the refusal was at connect


def test_audit_csv_cells_never_start_like_a_formula():
    from services.gateway.blueprints.admin import _cell

    assert _cell("=HYPERLINK(\"http://evil\")") == "'=HYPERLINK(\"http://evil\")"
    assert [_cell(v) for v in ("+1", "-1", "@x", None, "model.created")] == [
        "'+1", "'-1", "'@x", "", "model.created"]
