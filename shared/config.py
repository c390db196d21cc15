"""Configuration from the environment, with the documented defaults.

Every setting has one name, used alike in the services' config.yml files
(``${NAME:default}``), docker-compose.yml and k8s/. Nothing here opens a
connection: it only reads the environment.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

DEFAULTS: dict[str, str] = {
    "AMQP_URI": "amqp://guest:guest@localhost:5672/",
    "MONGO_URI": "mongodb://127.0.0.1:27017/?directConnection=true",
    "MONGO_DB": "ml_platform",
    "OIDC_ISSUER": "http://localhost:8080/realms/ml-platform",
    "OIDC_AUDIENCE": "ml-platform-api",
    "GATEWAY_PORT": "3000",
    "AUTH_HTTP_PORT": "8080",
    "REGISTRY_METRICS_PORT": "9101",
    "DEPLOYER_METRICS_PORT": "9102",
    "RUNNER_METRICS_PORT": "9103",
    "SCHEDULER_METRICS_PORT": "9104",
    "AUTH_METRICS_PORT": "9105",
    # Where the gateway's health page finds each service's /health (compose, k8s:
    # one host name per service; empty = SERVICES_HOST).
    "SERVICES_HOST": "127.0.0.1",
    "REGISTRY_HOST": "",
    "DEPLOYER_HOST": "",
    "RUNNER_HOST": "",
    "SCHEDULER_HOST": "",
    "RPC_TIMEOUT_S": "10",
    "MAX_UPLOAD_MB": "200",
    "ACCESS_TOKEN_TTL_S": "300",
    "REFRESH_TOKEN_TTL_S": "1800",
    # The browser-facing URL of the gateway / web app (redirect URIs of the web
    # client, CORS origin). Empty = derived: http://localhost:${GATEWAY_PORT}.
    "PUBLIC_URL": "",
    # Browser login (auth): authorization code lifetime, password policy of the
    # "update password" form, brute-force lockout (after LOGIN_MAX_FAILURES
    # failures in a row: LOGIN_LOCKOUT_S, doubling each time, at most
    # LOGIN_LOCKOUT_MAX_S; failures older than LOGIN_FAILURE_RESET_S are forgotten).
    "AUTH_CODE_TTL_S": "60",
    "PASSWORD_MIN_LENGTH": "8",
    "LOGIN_MAX_FAILURES": "5",
    "LOGIN_LOCKOUT_S": "60",
    "LOGIN_LOCKOUT_MAX_S": "900",
    "LOGIN_FAILURE_RESET_S": "43200",
    "VAR_DIR": str(ROOT / "var"),
    # The launcher (``make run``): port of the embedded database it starts when
    # MONGO_URI is not set, whether it seeds the demo models, how long it waits.
    "EMBEDDED_DB_PORT": "27017",
    "SEED_DEMO_DATA": "1",
    "STARTUP_TIMEOUT_S": "180",
}


def setting(name: str) -> str:
    """The value of ``name`` from the environment, else its documented default."""
    if name in DERIVED:
        return DERIVED[name]()
    value = os.environ.get(name)
    if value not in (None, ""):
        return value
    return DEFAULTS[name]


def public_url() -> str:
    """``PUBLIC_URL``, else ``http://localhost:<GATEWAY_PORT>`` (no trailing slash)."""
    value = os.environ.get("PUBLIC_URL")
    if value:
        return value.rstrip("/")
    return f"http://localhost:{setting('GATEWAY_PORT')}"


#: Settings whose empty default is computed from other settings.
DERIVED: dict[str, Callable[[], str]] = {"PUBLIC_URL": public_url}


def int_setting(name: str) -> int:
    return int(setting(name))
