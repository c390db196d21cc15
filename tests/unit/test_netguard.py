"""The network guard (shared/netguard.py, shared/testing/netguard.py): nothing a test
starts may connect beyond the loopback, and a test that makes it try fails."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap

import pytest

from shared import netguard
from shared.config import ROOT

TEST_NET = "192.0.2.1"  # RFC 5737 TEST-NET-1: never routed anywhere


@pytest.mark.parametrize("ip", ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"])
def test_loopback_is_allowed(ip):
    assert netguard.is_allowed_ip(ip)


@pytest.mark.parametrize("ip", [TEST_NET, "10.0.0.1", "8.8.8.8", "169.254.169.254",
                                "::ffff:8.8.8.8", "2001:db8::1", "0.0.0.0", "not an ip"])
def test_everything_else_is_refused(ip):
    assert not netguard.is_allowed_ip(ip)


def test_host_names_resolve_and_unix_sockets_pass():
    assert netguard.is_allowed(socket.AF_INET, ("localhost", 80))
    assert netguard.is_allowed(socket.AF_UNIX, "/tmp/some.sock")
    assert not netguard.is_allowed(socket.AF_INET, (TEST_NET, 80))


def test_allow_list_from_environment(monkeypatch):
    monkeypatch.setenv(netguard.ALLOW_ENV, "10.1.0.0/16, 192.0.2.7")
    assert netguard.is_allowed_ip("10.1.2.3") and netguard.is_allowed_ip("192.0.2.7")
    assert not netguard.is_allowed_ip("10.2.0.1")


@pytest.mark.netguard_expected
def test_the_test_process_is_guarded(tmp_path, monkeypatch):
    log = tmp_path / "netguard.log"
    monkeypatch.setenv(netguard.LOG_ENV, str(log))
    with pytest.raises(netguard.NetguardViolation):
        socket.create_connection((TEST_NET, 80), timeout=2)
    with pytest.raises(netguard.NetguardViolation):
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", (TEST_NET, 53))
    assert log.read_text().count("NETGUARD: blocked") == 2
    # loopback still works (a refused port is an ordinary error, not the guard)
    with pytest.raises(OSError) as exc:
        socket.create_connection(("127.0.0.1", 1), timeout=2)
    assert not isinstance(exc.value, netguard.NetguardViolation)


def _run(code: str, tmp_path, **env) -> subprocess.CompletedProcess:
    environ = {**os.environ, netguard.ENV: "1", netguard.LOG_ENV: str(tmp_path / "g.log"), **env}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=environ,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("green", [False, True], ids=["threads", "eventlet"])
def test_platform_processes_install_the_guard_from_the_environment(tmp_path, green):
    """What the services and the gateway do at import (``import shared``), plain or
    monkey-patched like nameko: a connection out raises and is written to the log."""
    code = f"""
        {"import eventlet; eventlet.monkey_patch()" if green else ""}
        import socket
        import shared  # noqa: F401  (installs the guard: PLATFORM_NETGUARD=1)
        from shared.netguard import NetguardViolation
        try:
            socket.create_connection(("{TEST_NET}", 80), timeout=2)
        except NetguardViolation:
            print("BLOCKED")
        import requests
        try:
            requests.get("http://{TEST_NET}/hook", timeout=2)
        except requests.ConnectionError:
            print("REQUESTS REFUSED")
    """
    done = _run(code, tmp_path)
    assert "BLOCKED" in done.stdout and "REQUESTS REFUSED" in done.stdout, done.stderr
    assert (tmp_path / "g.log").read_text().count("NETGUARD: blocked") == 2


def test_a_test_that_swallows_the_refusal_still_fails(tmp_path):
    test_file = tmp_path / "test_sneaky.py"
    test_file.write_text(textwrap.dedent(f"""
        import socket

        def test_sneaky():
            try:
                socket.create_connection(("{TEST_NET}", 80), timeout=2)
            except OSError:
                pass

        def test_fine():
            assert True
    """))
    env = {k: v for k, v in os.environ.items() if k not in (netguard.ENV, netguard.LOG_ENV)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "shared.testing.plugin", "-p",
         "no:cacheprovider", "--rootdir", str(tmp_path), str(test_file)],
        cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
        timeout=120)
    assert "1 error" in done.stdout and "ERROR at teardown of test_sneaky" in done.stdout, \
        done.stdout[-3000:]
    assert "connections outside 127.0.0.1 were attempted" in done.stdout
