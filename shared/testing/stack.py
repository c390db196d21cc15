"""The ``stack`` fixture: the whole platform, started exactly as ``make run`` starts it.

The launcher (``python -m scripts.launcher``) runs as a subprocess on free ports,
against a fresh RabbitMQ vhost (made through the management API) and a fresh
embedded database under a temporary directory, so it never meets a developer's
own ``make run`` or another test run. Demo seeding is off unless ``E2E_SEED=1``.

    def test_something(stack):
        token = stack.token("datascientist", "password123")
        requests.get(stack.api("/models"), headers=stack.auth(token))
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from shared.config import ROOT
from shared.embedded_db import free_port

STARTUP_TIMEOUT_S = 240


@dataclass
class Stack:
    """A running platform: where it answers, and helpers to talk to it."""

    base_url: str
    issuer: str
    #: The browser-facing URL (PUBLIC_URL): ``{public_url}/auth/callback`` is the
    #: web client's redirect URI.
    public_url: str
    metrics_ports: dict[str, int]
    amqp_uri: str
    var_dir: Path
    output_path: Path
    process: subprocess.Popen
    env: dict[str, str] = field(default_factory=dict)  # the launcher's environment
    _tokens: dict[tuple[str, str], tuple[float, str]] = field(default_factory=dict)
    # Debian's Prometheus, started by the launcher when installed (scrapes every second).
    prometheus_port: int = 0

    def api(self, path: str) -> str:
        return f"{self.base_url}/api/v1{path}"

    def token(self, username: str, password: str) -> str:
        """An access token from the issuer (password grant, client ml-platform-cli)."""
        from scripts.seed import get_token

        cached = self._tokens.get((username, password))
        if cached and cached[0] > time.monotonic():
            return cached[1]
        token = get_token(self.issuer, username, password)
        # Tokens live ACCESS_TOKEN_TTL_S (300 s by default); renew well before.
        self._tokens[(username, password)] = (time.monotonic() + 120, token)
        return token

    @staticmethod
    def auth(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def metrics_url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.metrics_ports[service]}/metrics"

    def health_url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.metrics_ports[service]}/health"

    def log(self, service: str) -> str:
        path = self.var_dir / "log" / f"{service}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def output(self) -> str:
        return self.output_path.read_text(errors="replace") if self.output_path.exists() else ""


def stack_env(var_dir: Path, amqp_uri: str, seed: bool,
              extra_env: dict[str, str] | None = None) -> tuple[dict[str, str], dict[str, int]]:
    """The launcher's environment: every port free, its own broker vhost and data dir;
    ``extra_env`` last (e.g. short supervision back-offs, runner leases)."""
    from scripts.launcher import SERVICES

    env = {key: value for key, value in os.environ.items() if key != "MONGO_URI"}
    metrics_ports = {spec.name: free_port() for spec in SERVICES}
    auth_port = free_port()
    gateway_port = free_port()
    env.update({
        "VAR_DIR": str(var_dir),
        "AMQP_URI": amqp_uri,
        "EMBEDDED_DB_PORT": str(free_port()),
        "GATEWAY_PORT": str(gateway_port),
        # The web client's redirect URIs follow the gateway's free port (contract C1).
        "PUBLIC_URL": f"http://localhost:{gateway_port}",
        "AUTH_HTTP_PORT": str(auth_port),
        "OIDC_ISSUER": f"http://localhost:{auth_port}/realms/ml-platform",
        "SEED_DEMO_DATA": "1" if seed else "0",
        "STARTUP_TIMEOUT_S": str(STARTUP_TIMEOUT_S - 30),
        "PYTHONUNBUFFERED": "1",
        # Superset has its own test (tests/e2e/test_superset.py), not one per stack.
        "SUPERSET_ENABLED": "0",
        "PROMETHEUS_PORT": str(free_port()),
        "PROMETHEUS_SCRAPE_S": "1",
    })
    for spec in SERVICES:
        env[spec.metrics_port_setting] = str(metrics_ports[spec.name])
    env.update(extra_env or {})
    return env, metrics_ports


def start_stack(var_dir: Path, amqp_uri: str, seed: bool = False,
                extra_env: dict[str, str] | None = None) -> Stack:
    """The launcher on ``amqp_uri`` (any broker: a vhost of the shared one, or a private
    node), with its own embedded database under ``var_dir``; returns once it is ready."""
    from scripts.launcher import READY_MARKER, _die_with_parent

    var_dir.mkdir(parents=True, exist_ok=True)
    env, metrics_ports = stack_env(var_dir, amqp_uri, seed, extra_env)
    output_path = var_dir / "launcher.out"
    with open(output_path, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "scripts.launcher", "--quiet"], cwd=ROOT, env=env,
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
    stack = Stack(
        base_url=f"http://127.0.0.1:{env['GATEWAY_PORT']}", issuer=env["OIDC_ISSUER"],
        public_url=env["PUBLIC_URL"],
        metrics_ports=metrics_ports, amqp_uri=amqp_uri, var_dir=var_dir,
        output_path=output_path, process=process, env=env,
        prometheus_port=int(env["PROMETHEUS_PORT"]),
    )
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while READY_MARKER not in stack.output():
        if process.poll() is not None:
            raise RuntimeError(f"the launcher exited with code {process.returncode}:\n"
                               f"{stack.output()[-6000:]}")
        if time.monotonic() > deadline:
            stop_stack(stack)
            raise RuntimeError(f"the platform was not ready in {STARTUP_TIMEOUT_S} s:\n"
                               f"{stack.output()[-6000:]}")
        time.sleep(0.5)
    return stack


def stop_stack(stack: Stack, timeout: float = 60) -> int | None:
    """SIGTERM the launcher (it stops its children, then the database) and wait."""
    if stack.process.poll() is None:
        stack.process.send_signal(signal.SIGTERM)
        try:
            stack.process.wait(timeout)
        except subprocess.TimeoutExpired:
            stack.process.kill()
            stack.process.wait()
    return stack.process.returncode


def _vhost_uri(base_uri: str, vhost: str) -> str:
    parts = urlsplit(base_uri)
    return urlunsplit(("amqp", parts.netloc, f"/{vhost}", "", ""))


@contextmanager
def fresh_vhost(request, rabbit_manager):
    """A new RabbitMQ vhost (management API) for one stack; yields its AMQP URI."""
    base_uri = request.config.getoption("RABBIT_AMQP_URI")
    vhost = f"e2e_{uuid.uuid4().hex[:10]}"
    rabbit_manager.create_vhost(vhost)
    rabbit_manager.set_vhost_permissions(vhost, urlsplit(base_uri).username or "guest",
                                         ".*", ".*", ".*")
    try:
        yield _vhost_uri(base_uri, vhost)
    finally:
        rabbit_manager.delete_vhost(vhost)


@pytest.fixture(scope="session")
def stack(request, rabbit_manager, tmp_path_factory):
    """The whole platform on free ports (session-scoped); see the module docstring."""
    seed = os.environ.get("E2E_SEED", "0") not in ("", "0", "false", "no")
    with fresh_vhost(request, rabbit_manager) as amqp_uri:
        try:
            running = start_stack(tmp_path_factory.mktemp("stack"), amqp_uri, seed=seed)
        except RuntimeError as exc:
            pytest.fail(str(exc), pytrace=False)
        try:
            yield running
        finally:
            stop_stack(running)
