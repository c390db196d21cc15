"""The global settings as the gateway sees them (today: ``max_upload_mb``).

The gateway is a threaded Flask app, not a nameko service, so it cannot take the
``settings_changed`` broadcast with an event handler. It asks ``admin.get_settings``
through its RPC pool instead, at most every ``GATEWAY_SETTINGS_TTL_S`` seconds (5),
in a background thread: a request never waits for the admin service (which may be
slow or absent: then the last values, at first the gateway's own config, stay). A
kombu consumer thread would apply a change a few seconds sooner, but it would be a
second connection per process with its own reconnection and shutdown to get right,
for a setting nobody needs within the second.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from flask import Flask, current_app, request

log = logging.getLogger(__name__)


class SettingsCache:
    """Values of ``admin.get_settings``, refreshed in the background when older than
    ``ttl`` seconds; ``fallback`` until the admin service first answers."""

    def __init__(self, rpc, fallback: dict[str, Any], ttl: float = 5.0):
        self.rpc = rpc
        self.ttl = ttl
        self.values = dict(fallback)
        self._fetched = float("-inf")
        self._lock = threading.Lock()
        self._refreshing = False

    def get(self, key: str) -> Any:
        if time.monotonic() - self._fetched > self.ttl:
            self._refresh_in_background()
        return self.values.get(key)

    def _refresh_in_background(self) -> None:
        with self._lock:
            if self._refreshing:
                return
            self._refreshing = True
        threading.Thread(target=self.refresh, name="settings-refresh", daemon=True).start()

    def refresh(self) -> None:
        try:
            values = self.rpc.call("admin", "get_settings")
            if isinstance(values, dict):
                self.values = {**self.values, **values}
        except Exception as exc:  # absent or slow admin service: keep the last values
            log.debug("settings not refreshed: %r", exc)
        finally:
            self._fetched = time.monotonic()
            self._refreshing = False


def max_upload_mb() -> float:
    """The largest upload accepted now (MB)."""
    gateway = current_app.extensions["gateway"]
    value = gateway.settings.get("max_upload_mb")
    return float(value if value else gateway.config["MAX_UPLOAD_MB"])


def _limit_body() -> None:
    # A multipart envelope around a max_upload_mb file: + 1 MiB of headroom; the store
    # enforces the exact file limit while streaming (uploads.max_upload_bytes).
    request.max_content_length = int((max_upload_mb() + 1) * 1024 * 1024)


def init_app(app: Flask) -> None:
    """Attach the cache to the gateway state and apply the upload limit per request."""
    gateway = app.extensions["gateway"]
    gateway.settings = SettingsCache(
        gateway.rpc, {"max_upload_mb": gateway.config["MAX_UPLOAD_MB"]},
        ttl=float(gateway.config.get("SETTINGS_TTL_S", 5.0)),
    )
    app.before_request(_limit_body)
