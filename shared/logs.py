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


def configure_logging(source: Callable[[], str], level: str = "INFO",
                      ship_as: str | None = None) -> None:
    """One root handler with the request id of ``source`` on every line; with
    ``ship_as`` (a service name) the records also go to the system logs
    (``shared.logship``, unless ``LOG_SHIPPING=0``)."""
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter(source))
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    for old in root.handlers:
        if old.__class__.__name__ == "ShippingHandler":
            old.close()
    root.handlers[:] = [handler]
    root.setLevel(level)
    if ship_as:
        from shared import logship

        logship.install(ship_as, source)
