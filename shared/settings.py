"""The platform's global settings (« Paramètres globaux »), as every service sees them.

The admin service stores them and publishes ``settings_changed`` on each change.
A nameko service declares ``settings = PlatformSettings()`` and one broadcast
handler, and reads ``self.settings["default_timezone"]``::

    settings = PlatformSettings()

    @event_handler("admin", events.SETTINGS_CHANGED, handler_type=BROADCAST,
                   reliable_delivery=False)
    def on_settings_changed(self, payload):
        self.settings.apply(payload)

At start (and every ``SETTINGS_REFRESH_S`` seconds, which heals a missed
broadcast) it asks ``admin.get_settings`` over RPC in a background green thread;
until the admin service answers, the values are the defaults from the
environment below, so a service works the same without the admin service.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from nameko.extensions import DependencyProvider

log = logging.getLogger(__name__)

#: setting → (environment variable of its default, default, type)
SPEC: dict[str, tuple[str, str, type]] = {
    "default_timezone": ("DEFAULT_TIMEZONE", "UTC", str),
    "default_execution_timeout_s": ("RUNNER_DEFAULT_TIMEOUT_S", "3600", float),
    "max_execution_timeout_s": ("MAX_EXECUTION_TIMEOUT_S", "604800", float),
    "max_upload_mb": ("MAX_UPLOAD_MB", "200", float),
    # 0 = kept forever. Executions older than retention_days go with their logs and
    # results; logs / results alone may go earlier (their own setting, 0 = with the run).
    "retention_days": ("RETENTION_DAYS", "0", int),
    "log_retention_days": ("LOG_RETENTION_DAYS", "0", int),
    "result_retention_days": ("RESULT_RETENTION_DAYS", "0", int),
    "login_max_failures": ("LOGIN_MAX_FAILURES", "5", int),
    "login_lockout_s": ("LOGIN_LOCKOUT_S", "60", int),
    "webhook_allowed_hosts": ("WEBHOOK_ALLOWED_HOSTS", "", list),
    # Ceiling of the memory a deployment or a run may ask for (issue 9, item 3).
    "max_memory_mb": ("MAX_MEMORY_MB", "2048", int),
    # Backups (issue 9, item 7): how many successful ones are kept (older ones are
    # deleted), and every how many hours one is made (0 = only on demand).
    "backup_retention_count": ("BACKUP_RETENTION_COUNT", "7", int),
    "backup_interval_hours": ("BACKUP_INTERVAL_HOURS", "0", int),
}


def _convert(kind: type, raw: str) -> Any:
    if kind is list:
        return [item.strip() for item in raw.split(",") if item.strip()]
    value = kind(float(raw)) if kind is int else kind(raw)
    return int(value) if kind is float and float(value).is_integer() else value


def defaults(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Every setting's default, from the environment (else the documented value)."""
    environ = os.environ if environ is None else environ
    out = {}
    for key, (variable, default, kind) in SPEC.items():
        raw = environ.get(variable)
        try:
            out[key] = _convert(kind, raw if raw not in (None, "") else default)
        except ValueError:
            log.warning("%s=%r is not valid; using %s", variable, raw, default)
            out[key] = _convert(kind, default)
    return out


class SettingsView:
    """The current settings of one process, updated in place (thread/green safe)."""

    def __init__(self, values: dict[str, Any] | None = None):
        self._lock = threading.Lock()
        self.values: dict[str, Any] = dict(values if values is not None else defaults())
        self.version = -1  # defaults; the admin's first version is 0

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def apply(self, payload: dict[str, Any] | None) -> bool:
        """Take ``{"settings": {...}, "version": N}`` (the event or the RPC answer);
        an older version than the one held is ignored (events may come out of order)."""
        if not isinstance(payload, dict) or not isinstance(payload.get("settings"), dict):
            log.warning("settings payload without settings ignored: %r", payload)
            return False
        version = int(payload.get("version") or 0)
        with self._lock:
            if version < self.version:
                return False
            self.values = {**self.values, **payload["settings"]}
            self.version = version
        return True


class PlatformSettings(DependencyProvider):
    """The global settings for a nameko service (see the module docstring)."""

    def setup(self) -> None:
        # The defaults: the environment, overridden by the service's own config (its
        # config.yml may set e.g. RUNNER_DEFAULT_TIMEOUT_S).
        config = {k: str(v) for k, v in self.container.config.items()
                  if isinstance(v, str | int | float) and not isinstance(v, bool)}
        self.view = SettingsView(defaults({**os.environ, **config}))
        self.interval = float(self.container.config.get("SETTINGS_REFRESH_S") or 30)
        self.timeout = float(self.container.config.get("SETTINGS_RPC_TIMEOUT_S") or 5)

    def start(self) -> None:
        self.container.spawn_managed_thread(self._refresh_forever)

    def _refresh_forever(self) -> None:
        import eventlet

        while True:
            self.refresh()
            eventlet.sleep(self.interval)

    def refresh(self) -> bool:
        """Ask the admin service; False (defaults or last values kept) when it is absent."""
        from nameko.standalone.rpc import ClusterRpcProxy

        try:
            with ClusterRpcProxy(
                {"AMQP_URI": self.container.config["AMQP_URI"]}, timeout=self.timeout
            ) as cluster:
                return self.view.apply(cluster.admin.get_settings_versioned())
        except Exception as exc:  # absent or slow admin: keep what we have
            log.debug("settings not refreshed from the admin service: %r", exc)
            return False

    def get_dependency(self, worker_ctx) -> SettingsView:
        return self.view
