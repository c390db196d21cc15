"""Event names and their payloads (the contract between services).

Events are dispatched with nameko's ``EventDispatcher`` *after* the write
succeeded, named ``noun_pasttense``. Handlers are idempotent: a redelivered
event changes nothing twice. Every payload is a JSON dict; the keys listed
here are always present (others may be added).
"""

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

# auth — payload: {"user": <user dict without password hash>}
USER_CREATED = "user_created"
USER_UPDATED = "user_updated"
