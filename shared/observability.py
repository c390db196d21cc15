"""Metrics, health and request ids for every nameko service.

``Observability`` is a DependencyProvider that:

* counts every entrypoint call and times it (``ml_entrypoint_requests_total``
  and ``ml_entrypoint_latency_seconds``, labelled service / entrypoint /
  outcome, where outcome is ``success`` or the error code);
* serves ``/metrics`` (Prometheus text) and ``/health`` (JSON: each check of
  the service, ``ok`` or the reason) on the service's ``METRICS_PORT``;
* puts the caller's request id (nameko context data ``request_id``) on every
  log line written while the worker runs.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

import eventlet
import eventlet.wsgi
from nameko.extensions import DependencyProvider
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

from shared import logs
from shared.errors import PlatformError
from shared.logs import LOG_FORMAT  # noqa: F401  (re-exported: config.yml names it)

REQUESTS = Counter(
    "ml_entrypoint_requests_total",
    "Entrypoint calls handled, by outcome (success or error code)",
    ["service", "entrypoint", "outcome"],
)
LATENCY = Histogram(
    "ml_entrypoint_latency_seconds",
    "Entrypoint latency",
    ["service", "entrypoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

# Green-thread local once eventlet has monkey-patched threading (nameko run does).
_request = threading.local()


def current_request_id() -> str:
    return getattr(_request, "request_id", None) or "-"


class RequestIdFilter(logs.RequestIdFilter):
    """Adds the nameko worker's ``request_id`` to every record (the LOGGING filter of
    every service's config.yml)."""

    def __init__(self, source: Callable[[], str] = current_request_id, name: str = "") -> None:
        super().__init__(source, name)


def configure_logging(level: str = "INFO") -> None:
    logs.configure_logging(current_request_id, level)


def outcome_of(exc_info) -> str:
    if exc_info is None:
        return "success"
    exc = exc_info[1]
    return exc.code if isinstance(exc, PlatformError) else "internal_error"


class Observability(DependencyProvider):
    """Metrics, ``/metrics`` + ``/health`` server and request ids for one service.

    Health checks are the ``ping()`` of the container's other dependencies
    (repositories), plus any callable registered with ``add_check``.
    """

    def __init__(self):
        self.checks: dict[str, Callable[[], object]] = {}
        self.server = None
        self.port: int | None = None

    def setup(self) -> None:
        self.service = self.container.service_name
        for dep in self.container.dependencies:
            if dep is not self and hasattr(dep, "ping"):
                self.checks[dep.attr_name] = dep.ping

    def add_check(self, name: str, check: Callable[[], object]) -> None:
        self.checks[name] = check

    def start(self) -> None:
        port = int(self.container.config.get("METRICS_PORT", 0) or 0)
        if port < 0:
            return
        sock = eventlet.listen(("0.0.0.0", port))
        self.port = sock.getsockname()[1]
        self.server = self.container.spawn_managed_thread(
            lambda: eventlet.wsgi.server(sock, self.wsgi, log_output=False)
        )

    def stop(self) -> None:
        if self.server is not None:
            self.server.kill()
            self.server = None

    kill = stop

    def health(self) -> tuple[int, dict]:
        checks = {}
        for name, check in self.checks.items():
            try:
                check()
                checks[name] = "ok"
            except Exception as exc:  # a health probe reports, it does not raise
                checks[name] = f"unreachable: {exc.__class__.__name__}: {exc}"[:300]
        healthy = all(value == "ok" for value in checks.values())
        status = "ok" if healthy else "degraded"
        body = {"status": status, "service": self.service, "checks": checks}
        return (200 if healthy else 503), body

    def wsgi(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
            return [generate_latest()]
        if path == "/health":
            status, body = self.health()
            start_response(f"{status} {'OK' if status == 200 else 'Service Unavailable'}",
                           [("Content-Type", "application/json")])
            return [json.dumps(body).encode()]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]

    # -- per worker ----------------------------------------------------------

    def get_dependency(self, worker_ctx):
        return self

    def worker_setup(self, worker_ctx) -> None:
        _request.request_id = worker_ctx.data.get("request_id")
        _request.started = time.perf_counter()

    def worker_result(self, worker_ctx, result=None, exc_info=None) -> None:
        entrypoint = worker_ctx.entrypoint.method_name
        started = getattr(_request, "started", None)
        if started is not None:
            LATENCY.labels(self.service, entrypoint).observe(time.perf_counter() - started)
        REQUESTS.labels(self.service, entrypoint, outcome_of(exc_info)).inc()

    def worker_teardown(self, worker_ctx) -> None:
        _request.request_id = None
        _request.started = None
