"""``GET /api/v1/health`` (no token): the gateway and each backing service.

Each service is asked over HTTP on its metrics port (``/health``, served by
``shared.observability``), the identity provider for its JWKS, all in parallel
with a short timeout. No RPC: a health probe must not queue behind real work.
The status code is 200 whenever the gateway itself is up (a liveness probe must
not restart the gateway because a backing service is down); read ``status``.

Under ``make run`` the launcher supervises the processes and writes what it knows
to ``$VAR_DIR/run/services.json`` (``shared/supervision.py``): ``processes`` shows
it per process (up / starting / restarting / down, restarts, last reason and time).
Without that file (compose, k8s: their own supervisors) ``processes`` is absent.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import marshmallow as ma
import requests

from services.gateway.auth import jwks_url_for
from services.gateway.policy import public
from services.gateway.web import Blueprint, state
from shared.config import setting
from shared.supervision import PUBLIC_FIELDS, read_state, state_path

blp = Blueprint("health", __name__, url_prefix="/api/v1", description="Liveness and readiness")

#: service → the setting holding its metrics port.
SERVICES = {
    "registry": "REGISTRY_METRICS_PORT",
    "deployer": "DEPLOYER_METRICS_PORT",
    "runner": "RUNNER_METRICS_PORT",
    "scheduler": "SCHEDULER_METRICS_PORT",
    "admin": "ADMIN_METRICS_PORT",
    "reporting": "REPORTING_METRICS_PORT",
}


class HealthSchema(ma.Schema):
    status = ma.fields.String(metadata={"description": "ok, or degraded when a service is not"})
    gateway = ma.fields.String(metadata={"example": "ok"})
    services = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.String(),
        metadata={"example": {"registry": "ok", "runner": "unreachable"}},
    )
    processes = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.Dict(),
        metadata={"description": "make run only: each supervised process",
                  "example": {"runner": {"status": "up", "restarts": 1,
                                         "last_restart_reason": "killed by SIGKILL (signal 9)",
                                         "last_crash_at": "2026-01-05T10:00:00Z",
                                         "last_restart_at": "2026-01-05T10:00:01Z",
                                         "next_restart_in_s": None}}},
    )


def supervised(var_dir: str) -> dict | None:
    """The launcher's view of its processes, or None when no launcher writes one."""
    data = read_state(state_path(var_dir))
    if data is None:
        return None
    return {name: {key: entry.get(key) for key in PUBLIC_FIELDS}
            for name, entry in data["services"].items() if isinstance(entry, dict)}


def _probe(url: str, timeout: float) -> str:
    try:
        response = requests.get(url, timeout=timeout)
    except requests.RequestException:
        return "unreachable"
    return "ok" if response.status_code == 200 else "unreachable"


@blp.route("/health", methods=["GET"])
@public
@blp.response(200, HealthSchema)
def health():
    """Health of the gateway and of every backing service (no authentication)."""
    config = state().config
    timeout = float(config["HEALTH_TIMEOUT_S"])
    urls = {"auth": config.get("JWKS_URL") or jwks_url_for(config["OIDC_ISSUER"])}
    for name, port_setting in SERVICES.items():
        host = config.get(f"{name.upper()}_HOST") or config["SERVICES_HOST"]
        urls[name] = f"http://{host}:{config[port_setting]}/health"
    with ThreadPoolExecutor(max_workers=len(urls)) as pool:
        futures = {name: pool.submit(_probe, url, timeout) for name, url in urls.items()}
        services = {name: future.result() for name, future in futures.items()}
    status = "ok" if all(v == "ok" for v in services.values()) else "degraded"
    body = {"status": status, "gateway": "ok", "services": services}
    processes = supervised(config.get("VAR_DIR") or setting("VAR_DIR"))
    if processes is not None:
        body["processes"] = processes
        if any(entry["status"] != "up" for entry in processes.values()):
            body["status"] = "degraded"
    return body
