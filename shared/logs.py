"""Log lines that carry the request id, for the nameko services and the gateway.

Kept apart from ``shared.observability`` so the gateway can use it without
registering the services' Prometheus metrics in its own ``/metrics``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` (what ``source()`` returns: the nameko worker's, the Flask
    request's, ``-`` outside one) to every record so ``LOG_FORMAT`` can show it."""

    def __init__(self, source: Callable[[], str], name: str = "") -> None:
        super().__init__(name)
        self.source = source

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = self.source()
        return True


def configure_logging(source: Callable[[], str], level: str = "INFO") -> None:
    """One root handler with the request id of ``source`` on every line."""
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter(source))
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
