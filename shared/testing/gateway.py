"""Test support for the gateway over the Flask test client: its config against a
test's broker vhost and database, the app (closed after the test), and bearer
headers for a role (the ``auth`` fixture, loaded by ``shared.testing.plugin``).
Used by tests/service/test_gateway_*, test_deployer_gateway and test_executions_gateway."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest


def gateway_config(service_config: dict, token_issuer: Any, **overrides: Any) -> dict:
    """``create_app`` config on the test's vhost and database, trusting ``token_issuer``."""
    return {
        "AMQP_URI": service_config["AMQP_URI"],
        "MONGO_URI": service_config["MONGO_URI"],
        "MONGO_DB": service_config["MONGO_DB"],
        "OIDC_ISSUER": token_issuer.issuer,
        "OIDC_AUDIENCE": token_issuer.audience,
        "RPC_TIMEOUT_S": 8,
        "MAX_UPLOAD_MB": 1,
        **overrides,
    }


@contextmanager
def gateway_app(config: dict) -> Iterator[Any]:
    """The Flask app of ``config``; its RPC pool and store are closed on exit."""
    # Imported here: the plugin loads this module for every test, unit tests included.
    from services.gateway.app import create_app

    app = create_app(config)
    try:
        yield app
    finally:
        app.extensions["gateway"].close()


@pytest.fixture
def auth(issue_token):
    """``auth(role="data-scientist", username=None, **extra)`` → request headers with a
    bearer token of ``username`` (default ``<role>-user``) holding ``role``."""

    def headers(role: str = "data-scientist", username: str | None = None, **extra) -> dict:
        token = issue_token(username or f"{role}-user", [role])
        return {"Authorization": f"Bearer {token}", **extra}

    return headers
