"""The web app (``frontend/dist``) served by the gateway, and its runtime config.

* ``GET /app-config.json`` (no token, contract C1): ``{"issuer", "client_id",
  "api_base"}`` — what the app needs to sign in; never cached.
* ``/assets/*``: the hashed files of the Vite build, cached for a year
  (``immutable``: a new build has new names).
* any other GET outside ``/api/``: a file of ``dist/`` when there is one, else
  ``index.html`` (client routes such as ``/models/42``), ``no-cache`` so a new
  build is picked up at once.
* anything under ``/api/`` that no blueprint serves keeps the JSON envelope (404).

``WEBAPP_DIST`` (default ``frontend/dist``) says where the build is; without a
build ``/`` answers a 404 envelope naming ``make run`` (which builds it).
"""

from __future__ import annotations

import mimetypes
import os
from pathlib import Path

from flask import Flask, Response, current_app, jsonify, request, send_from_directory

from services.gateway.errors import error_response
from shared.config import ROOT

WEB_CLIENT_ID = "ml-platform-web"
API_BASE = "/api/v1"
IMMUTABLE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"


def dist_dir() -> Path:
    return Path(os.environ.get("WEBAPP_DIST") or ROOT / "frontend" / "dist")


def app_config() -> Response:
    """The runtime configuration of the web app (contract C1)."""
    issuer = current_app.config["GATEWAY"]["OIDC_ISSUER"]
    response = jsonify({"issuer": issuer, "client_id": WEB_CLIENT_ID, "api_base": API_BASE})
    response.headers["Cache-Control"] = NO_CACHE
    return response


def _index(dist: Path) -> Response:
    response = send_from_directory(dist, "index.html", max_age=0)
    response.headers["Cache-Control"] = NO_CACHE
    return response


def _asset(dist: Path, path: str) -> Response:
    """A hashed asset, gzip-compressed at build time when the client accepts it."""
    compressed = dist / f"{path}.gz"
    if "gzip" in request.accept_encodings and compressed.is_file() and (dist / path).is_file():
        response = send_from_directory(dist, f"{path}.gz", max_age=31536000)
        response.headers["Content-Encoding"] = "gzip"
        response.mimetype = mimetypes.guess_type(path)[0] or "application/octet-stream"
    else:
        response = send_from_directory(dist, path, max_age=31536000)
    response.headers["Cache-Control"] = IMMUTABLE
    response.vary.add("Accept-Encoding")
    return response


def serve(path: str = "") -> Response:
    """A file of the build, or ``index.html`` for a client route; JSON 404 under /api/."""
    if path == "api" or path.startswith("api/"):
        return error_response(404, "not_found", f"no API endpoint {request.path}", {})
    dist = dist_dir()
    if not (dist / "index.html").is_file():
        return error_response(
            404, "not_found", "the web app is not built (make run builds it; needs npm)", {}
        )
    if path.startswith("assets/"):
        return _asset(dist, path)
    if path and (dist / path).is_file():
        return send_from_directory(dist, path, max_age=0)
    return _index(dist)


def register(app: Flask) -> None:
    """Add ``/app-config.json`` and the web app's routes (after every blueprint)."""
    app_config._policy_action = None  # public: read before signing in
    serve._policy_action = None
    app.add_url_rule("/app-config.json", "webapp_config", app_config, methods=["GET"])
    app.add_url_rule("/", "webapp_index", serve, methods=["GET"])
    app.add_url_rule("/<path:path>", "webapp", serve, methods=["GET"])
