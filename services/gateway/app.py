"""The gateway: a Flask app serving ``/api/v1`` in front of the nameko services.

``create_app(config)`` builds it: settings from ``shared.config`` overridden by
``config`` (tests), the flask-smorest ``Api`` (OpenAPI at
``/api/v1/openapi.json``, an offline Swagger UI at ``/api/v1/docs``), the error
envelope, metrics at ``/metrics`` and every blueprint of ``BLUEPRINTS``.

Served by gunicorn, one worker with N threads (services/gateway/gunicorn.conf.py):
the work is I/O-bound (RPC, database), and one process keeps one RPC pool, one
JWKS cache and one Prometheus registry (no multi-process metrics directory).
It is a plain threaded WSGI app: no eventlet monkey-patching here.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
import time
from typing import Any

import pymongo
from flask import Flask, Response, g, request, send_from_directory
from flask_smorest import Api
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

from services.gateway import body_limits, errors, headers, maintenance, webapp
from services.gateway import settings as gateway_settings
from services.gateway.auth import JwtVerifier
from services.gateway.revocation import Revocations
from services.gateway.rpc import RpcPool
from services.gateway.web import ErrorSchema
from shared.artifacts import ArtifactStore
from shared.config import setting
from shared.mongo import connect

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"

#: Every blueprint of the gateway: ``module path`` (its attribute ``blp``). A module
#: that does not exist yet is skipped with a warning, so the blueprints of other
#: engineers can land in any order.
BLUEPRINTS: list[str] = [
    "services.gateway.blueprints.health",
    "services.gateway.blueprints.me",
    "services.gateway.blueprints.models",
    "services.gateway.blueprints.deployments",
    "services.gateway.blueprints.executions",
    "services.gateway.blueprints.admin",
    "services.gateway.blueprints.syslogs",
    "services.gateway.blueprints.integrations",
    "services.gateway.blueprints.reports",
    "services.gateway.blueprints.users",
    "services.gateway.blueprints.backups",
]

SETTINGS = (
    "AMQP_URI",
    "MONGO_URI",
    "MONGO_DB",
    "OIDC_ISSUER",
    "OIDC_AUDIENCE",
    "REGISTRY_METRICS_PORT",
    "DEPLOYER_METRICS_PORT",
    "RUNNER_METRICS_PORT",
    "SCHEDULER_METRICS_PORT",
    "AUTH_METRICS_PORT",
    "ADMIN_METRICS_PORT",
    "REPORTING_METRICS_PORT",
)

REQUESTS = Counter(
    "ml_gateway_requests_total",
    "HTTP requests handled by the gateway",
    ["method", "endpoint", "status"],
)
LATENCY = Histogram(
    "ml_gateway_request_latency_seconds",
    "HTTP request latency at the gateway",
    ["method", "endpoint"],
    buckets=(0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


def load_config(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Settings from the environment (documented defaults), then ``overrides``."""
    config: dict[str, Any] = {name: setting(name) for name in SETTINGS}
    config["RPC_TIMEOUT_S"] = float(setting("RPC_TIMEOUT_S"))
    config["MAX_UPLOAD_MB"] = float(setting("MAX_UPLOAD_MB"))
    config["SERVICES_HOST"] = setting("SERVICES_HOST")
    # In compose / k8s each service has its own host name (REGISTRY_HOST=registry, ...).
    for name in ("REGISTRY", "DEPLOYER", "RUNNER", "SCHEDULER", "ADMIN", "REPORTING"):
        config[f"{name}_HOST"] = setting(f"{name}_HOST") or config["SERVICES_HOST"]
    config["RPC_POOL_SIZE"] = int(os.environ.get("GATEWAY_RPC_POOL_SIZE") or 16)
    config["HEALTH_TIMEOUT_S"] = float(os.environ.get("GATEWAY_HEALTH_TIMEOUT_S") or 1.0)
    config["JWKS_URL"] = os.environ.get("OIDC_JWKS_URL") or None
    config["TRUSTED_PROXIES"] = os.environ.get("GATEWAY_TRUSTED_PROXIES", "")
    config["SETTINGS_TTL_S"] = float(os.environ.get("GATEWAY_SETTINGS_TTL_S") or 5.0)
    # The user directory (services/gateway/users_directory.py): builtin | keycloak.
    for name in ("USER_DIRECTORY", "KEYCLOAK_ADMIN_URL", "KEYCLOAK_REALM",
                 "KEYCLOAK_ADMIN_CLIENT_ID", "KEYCLOAK_ADMIN_CLIENT_SECRET",
                 "PASSWORD_MIN_LENGTH"):
        config[name] = os.environ.get(name) or None
    config.update(overrides or {})
    config["RPC_TIMEOUT_S"] = float(config["RPC_TIMEOUT_S"])
    config["MAX_UPLOAD_MB"] = float(config["MAX_UPLOAD_MB"])
    return config


class GatewayState:
    """Per-app (so per-process) resources, created lazily: nothing connects at startup."""

    def __init__(self, config: dict[str, Any]):
        self.config = config
        self.verifier = JwtVerifier(
            config["OIDC_ISSUER"],
            config["OIDC_AUDIENCE"],
            jwks_url=config.get("JWKS_URL"),
        )
        self.rpc = RpcPool(
            {"AMQP_URI": config["AMQP_URI"]},
            timeout=config["RPC_TIMEOUT_S"],
            size=int(config["RPC_POOL_SIZE"]),
        )
        self.revocations = Revocations(
            config["AMQP_URI"],
            lambda: self.rpc.call("auth", "revocations_since", None),
            enabled=bool(config.get("REVOCATION_ENABLED", True)),
        )
        self._store: ArtifactStore | None = None
        self._backup_store: ArtifactStore | None = None
        self._client: pymongo.MongoClient | None = None
        self._lock = threading.Lock()

    def store(self) -> ArtifactStore:
        if self._store is None:
            with self._lock:
                if self._store is None:
                    self._client = connect(
                        self.config["MONGO_URI"], self.config.get("MONGO_SELECTION_TIMEOUT_MS")
                    )
                    self._store = ArtifactStore(self._client[self.config["MONGO_DB"]])
        return self._store

    def backup_store(self) -> ArtifactStore:
        """The admin service's GridFS bucket ``backups`` (archives, uploads to restore)."""
        if self._backup_store is None:
            store = self.store()
            self._backup_store = ArtifactStore(store.files.database, bucket="backups")
        return self._backup_store

    def close(self) -> None:
        maintenance_view = getattr(self, "maintenance", None)
        if maintenance_view is not None:
            maintenance_view.close()
        self.revocations.close()
        self.rpc.close()
        if self._client is not None:
            self._client.close()


class PlatformApi(Api):
    """flask-smorest Api whose documented error payload is the API.md envelope."""

    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self):
        # errors.init_app registers the envelope handlers instead of smorest's.
        pass


def _docs_page() -> Response:
    html = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ML Platform API</title>
<link rel="stylesheet" href="docs/static/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="docs/static/swagger-ui-bundle.js"></script>
<script src="docs/init.js"></script></body></html>"""
    return Response(html, mimetype="text/html")


# A file, not an inline script: the docs' CSP (services/gateway/headers.py) runs no inline JS.
_DOCS_INIT_JS = """window.ui = SwaggerUIBundle({url: "openapi.json", dom_id: "#swagger-ui",
  deepLinking: true, persistAuthorization: true});
"""


def _register_docs(app: Flask) -> None:
    """``/api/v1/docs``: Swagger UI from the ``swagger-ui-bundle`` wheel (no CDN: offline)."""
    try:
        import swagger_ui_bundle

        assets = str(swagger_ui_bundle.swagger_ui_path)
    except ImportError:  # pragma: no cover - the page then lists the endpoints only
        assets = None

    def docs():
        if assets is None:
            return Response('<a href="openapi.json">openapi.json</a>', mimetype="text/html")
        return _docs_page()

    def docs_static(filename: str):
        return send_from_directory(assets, filename)

    def docs_init():
        return Response(_DOCS_INIT_JS, mimetype="text/javascript")

    docs._policy_action = None  # public
    docs_static._policy_action = None
    docs_init._policy_action = None
    app.add_url_rule(f"{API_PREFIX}/docs", "api_docs", docs)
    app.add_url_rule(f"{API_PREFIX}/docs/init.js", "api_docs_init", docs_init)
    app.add_url_rule(f"{API_PREFIX}/docs/static/<path:filename>", "api_docs_static", docs_static)


def _register_metrics(app: Flask) -> None:
    def before() -> None:
        g.started = time.perf_counter()

    def after(response: Response) -> Response:
        endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
        started = getattr(g, "started", None)
        if started is not None:
            LATENCY.labels(request.method, endpoint).observe(time.perf_counter() - started)
        REQUESTS.labels(request.method, endpoint, str(response.status_code)).inc()
        return response

    def metrics() -> Response:
        return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)

    metrics._policy_action = None
    app.before_request(before)
    app.after_request(after)
    app.add_url_rule("/metrics", "metrics", metrics)


def _register_blueprints(app: Flask, api: Api) -> None:
    for module_path in BLUEPRINTS:
        try:
            module = importlib.import_module(module_path)
        except ModuleNotFoundError as exc:
            if exc.name == module_path:
                log.warning("blueprint %s not present yet; skipped", module_path)
                continue
            raise
        api.register_blueprint(module.blp)


def unprotected_views(app: Flask) -> list[str]:
    """API endpoints whose view is neither ``@requires(...)`` nor ``@public``."""
    missing = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(API_PREFIX) and rule.rule != "/metrics":
            continue
        view = app.view_functions[rule.endpoint]
        if not hasattr(view, "_policy_action") and rule.endpoint != "api-docs.openapi_json":
            missing.append(rule.endpoint)
    return missing


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """The gateway Flask app. ``config`` overrides the environment settings (tests)."""
    settings = load_config(config)
    app = Flask(__name__)
    app.config.update(
        API_TITLE="Plateforme Centralisée de Modèles ML",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX=API_PREFIX,
        OPENAPI_JSON_PATH="openapi.json",
        # A multipart envelope around a MAX_UPLOAD_MB file: + 1 MiB of headroom. The store
        # enforces the exact file limit (413 payload_too_large) while streaming.
        MAX_CONTENT_LENGTH=int((settings["MAX_UPLOAD_MB"] + 1) * 1024 * 1024),
        # Parts above 500 KiB are spooled to disk by werkzeug, not kept in memory.
        MAX_FORM_MEMORY_SIZE=1024 * 1024,
    )
    app.config["GATEWAY"] = settings
    app.extensions["gateway"] = GatewayState(settings)

    api = PlatformApi(app, spec_kwargs={"servers": [{"url": "/"}]})
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    )
    errors.init_app(app)
    maintenance.init_app(app)
    gateway_settings.init_app(app)
    headers.init_app(app)
    body_limits.init_app(app)
    _register_metrics(app)
    _register_docs(app)
    _register_blueprints(app, api)
    webapp.register(app)

    missing = unprotected_views(app)
    if missing:
        log.error("views without @requires/@public (open to anyone!): %s", ", ".join(missing))
    return app
