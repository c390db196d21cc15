"""Event names and their payloads (the contract between services).

Events are dispatched with nameko's ``EventDispatcher`` *after* the write
succeeded, named ``noun_pasttense``. Handlers are idempotent: a redelivered
event changes nothing twice. Every payload is a JSON dict; the keys listed
here are always present (others may be added).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

# registry — payload: {"model": <model dict as returned by registry.get_model>}
MODEL_CREATED = "model_created"
MODEL_UPDATED = "model_updated"
MODEL_DELETED = "model_deleted"  # payload: {"model_id", "name", "version"}
MODEL_FILE_UPLOADED = "model_file_uploaded"

# deployer — payload: {"deployment": <deployment dict>}
DEPLOYMENT_CREATED = "deployment_created"
DEPLOYMENT_UPDATED = "deployment_updated"
DEPLOYMENT_STARTED = "deployment_started"
DEPLOYMENT_STOPPED = "deployment_stopped"
DEPLOYMENT_DELETED = "deployment_deleted"  # payload: {"deployment_id"}

# scheduler — payload: {"deployment_id", "slot" (ISO UTC), "trigger": "schedule",
#                       "idempotency_key": "<deployment_id>:<slot>", "next_run_at"}
EXECUTION_REQUESTED = "execution_requested"

# runner — payload: {"execution": <execution dict>}
EXECUTION_QUEUED = "execution_queued"
EXECUTION_STARTED = "execution_started"
EXECUTION_SUCCEEDED = "execution_succeeded"
EXECUTION_FAILED = "execution_failed"
EXECUTION_CANCELLED = "execution_cancelled"
EXECUTION_TIMED_OUT = "execution_timed_out"
# Every runner event above: each carries the execution with its new status.
EXECUTION_EVENTS = (
    EXECUTION_QUEUED,
    EXECUTION_STARTED,
    EXECUTION_SUCCEEDED,
    EXECUTION_FAILED,
    EXECUTION_CANCELLED,
    EXECUTION_TIMED_OUT,
)

# auth — payload: {"user": <user dict without password hash>}
USER_CREATED = "user_created"
USER_UPDATED = "user_updated"  # + "changed": [fields], "revoked_at": ISO or None
# auth, user administration: {"user_id", "username", "temporary"} / {"user_id",
# "username", "was_locked"} (never a password)
USER_PASSWORD_RESET = "user_password_reset"
USER_UNLOCKED = "user_unlocked"
# auth, sign-ins (contract C2), after the fact ("at" and "until": ISO UTC; "client":
# the remote IP; "reason": "invalid_credentials" | "locked" | "inactive"):
LOGIN_SUCCEEDED = "login_succeeded"  # payload: {"username", "user_id", "client_id", "client", "at"}
LOGIN_FAILED = "login_failed"  # payload: {"username", "client_id", "client", "at", "reason"}
USER_LOCKED_OUT = "user_locked_out"  # payload: {"username", "until", "failures"}

# runner — a running execution was asked to stop (payload: {"execution"}); the final
# execution_cancelled follows from the replica that runs it.
EXECUTION_CANCEL_REQUESTED = "execution_cancel_requested"
# runner — an online prediction was answered: {"deployment_id", "model_id", "department",
# "instances" (how many rows)}; never the rows themselves.
PREDICTION_SERVED = "prediction_served"

# admin — settings_changed {"settings": <every setting>, "changed": [keys], "version",
#                            "previous": {key: old value of each changed key}}
SETTINGS_CHANGED = "settings_changed"
# reporting — payload: {"rebuild": {"id": "read-side", "requested_by"}}
REPORTS_REBUILD_REQUESTED = "reports_rebuild_requested"
# admin — {"integration": <integration dict without secret>}; deleted: {"integration_id"}
INTEGRATION_CREATED = "integration_created"
INTEGRATION_UPDATED = "integration_updated"
INTEGRATION_DELETED = "integration_deleted"
INTEGRATION_TESTED = "integration_tested"
# admin, backups (issue 9 item 7) — {"backup": <backup dict>} / {"restore": <restore dict>}
BACKUP_REQUESTED = "backup_requested"
BACKUP_SUCCEEDED = "backup_succeeded"
BACKUP_FAILED = "backup_failed"
RESTORE_REQUESTED = "restore_requested"
RESTORE_SUCCEEDED = "restore_succeeded"
RESTORE_FAILED = "restore_failed"
# admin, broadcast to every replica: {"id", "kind": "backup" | "restore", "until" (ISO
# UTC: the window ends by itself then, if maintenance_ended is lost), "pause": bool}.
# While it lasts the gateway answers mutating requests 503 + Retry-After; with "pause"
# (a restore) the scheduler fires nothing and the runners start no execution.
MAINTENANCE_STARTED = "maintenance_started"
MAINTENANCE_ENDED = "maintenance_ended"  # {"id", "ended": true}
# admin, broadcast after a restore: {"restore_id"}; services with caches resync
# (scheduler: resync; runner, registry: drop cached lookups; reporting: rebuild).
DATA_RESTORED = "data_restored"


def on_events(source_service: str, event_types: Iterable[str], **kwargs: Any) -> Callable:
    """Decorate a method with one nameko ``event_handler`` per event type of
    ``source_service`` (nameko accepts several entrypoints on one method), e.g.
    ``@on_events("runner", EXECUTION_EVENTS, requeue_on_error=True)``."""
    # Imported here: this contract module is also imported by pure code (domain
    # modules, sandboxed child processes) that has no use for nameko.
    from nameko.events import event_handler

    def decorate(method: Callable) -> Callable:
        for event_type in event_types:
            method = event_handler(source_service, event_type, **kwargs)(method)
        return method

    return decorate
