"""Retention of executions, logs and results (the global settings ``retention_days``,
``log_retention_days``, ``result_retention_days``; 0 = kept). Run by the runner's purge
timer; deleting is idempotent, so every replica may run it. Audit entries are the
admin's and stay."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

log = logging.getLogger(__name__)

BATCH = 500


def purge(repo, settings: Any, now: datetime) -> dict[str, int]:
    """Purge what the settings say is too old; counts of what went."""
    done = {"executions": 0, "logs": 0, "results": 0}
    days = int(settings.get("retention_days") or 0)
    if days > 0:
        while True:
            gone = repo.purge_executions(now - timedelta(days=days), BATCH)
            done["executions"] += gone
            if gone < BATCH:
                break
    log_days = int(settings.get("log_retention_days") or 0)
    if log_days > 0:
        done["logs"] = repo.purge_logs(now - timedelta(days=log_days))
    result_days = int(settings.get("result_retention_days") or 0)
    if result_days > 0:
        while True:
            gone = repo.purge_results(now - timedelta(days=result_days), BATCH, now)
            done["results"] += gone
            if gone < BATCH:
                break
    if any(done.values()):
        log.info("retention purge: %(executions)d executions, %(logs)d log lines, "
                 "%(results)d results", done)
    return done
