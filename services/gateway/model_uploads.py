"""Attach an uploaded model file with ONE outcome, whatever the timing.

The registry owns the uploaded artifact once ``attach_file`` is asked: it attaches
it or deletes it, never both, and records which (``uploads.<id>`` in the model).
The gateway never deletes an artifact the registry may still use. When the RPC
does not answer in time (a slow check under load), the gateway polls
``registry.upload_state`` for up to ``GATEWAY_UPLOAD_WAIT_S`` (60 s), then settles
the upload with ``registry.abandon_upload``, and answers what really happened:

* attached first → the model, as if the call had answered;
* rejected first → that error (422...);
* abandoned now → 503 ``service_unavailable`` saying the file was NOT attached
  (``details.upload = "abandoned"``); the registry deletes it;
* the registry does not answer at all → 503 saying the outcome is not known yet
  (``details.upload = "pending"``, ``details.model_id``): the model is then either
  ``ready`` with this file or unchanged, never ``ready`` without a file.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from services.gateway.web import rpc, state
from shared.artifacts import ArtifactRef
from shared.errors import PlatformError, ServiceUnavailable

log = logging.getLogger(__name__)

#: A model file's check may outlive one RPC (RPC_TIMEOUT_S): the gateway then polls
#: the upload's state this long (GATEWAY_UPLOAD_WAIT_S) before it gives up on it.
DEFAULT_UPLOAD_WAIT_S = 60.0
POLL_S = 0.5


class UploadPending(ServiceUnavailable):
    """The registry neither confirmed nor abandoned the upload (it may still attach it)."""


def _error_class(code: str) -> type[PlatformError]:
    for cls in PlatformError.__subclasses__():
        if cls.code == code:
            return cls
    return PlatformError


def upload_wait_s() -> float:
    """How long a timed-out attach is polled before the upload is abandoned."""
    configured = state().config.get("UPLOAD_WAIT_S")
    if configured is None:
        configured = os.environ.get("GATEWAY_UPLOAD_WAIT_S") or DEFAULT_UPLOAD_WAIT_S
    return float(configured)


def _wait_for_outcome(model_id: str, artifact_id: str) -> dict[str, Any]:
    """Poll ``registry.upload_state`` for up to ``upload_wait_s()``, then settle it with
    ``registry.abandon_upload``; ``UploadPending`` when the registry cannot say."""
    deadline = time.monotonic() + upload_wait_s()
    while time.monotonic() < deadline:
        time.sleep(POLL_S)
        try:
            outcome = rpc("registry", "upload_state", model_id, artifact_id)
        except ServiceUnavailable:
            continue
        if outcome.get("state") != "pending":
            return outcome
    try:
        return rpc("registry", "abandon_upload", model_id, artifact_id)
    except ServiceUnavailable:
        raise UploadPending(
            "the registry did not confirm the model file in time: it may still be "
            f"attached — GET /api/v1/models/{model_id} shows the model's state",
            {"service": "registry", "upload": "pending", "model_id": model_id},
        ) from None


def attach_upload(model_id: str, artifact: ArtifactRef) -> dict[str, Any]:
    """``registry.attach_file`` → the model; one outcome even when the RPC times out."""
    try:
        return rpc("registry", "attach_file", model_id, artifact.to_dict(), artifact.filename)
    except UploadPending:
        raise
    except ServiceUnavailable as first:
        if (first.details or {}).get("upload") == "abandoned":
            raise  # the registry itself settled it (a late duplicate)
        log.warning("attach_file %s for model %s: %s; waiting for the outcome",
                    artifact.id, model_id, first.message)
        outcome = _wait_for_outcome(model_id, artifact.id)
    state = outcome.get("state")
    if state == "attached":
        return outcome["model"]
    if state == "rejected":
        error = outcome.get("error") or {}
        raise _error_class(str(error.get("code")))(
            str(error.get("message") or "invalid model file"), error.get("details") or {})
    raise ServiceUnavailable(
        "the model file could not be checked in time (the registry is busy): it was not "
        "attached; send it again",
        {"service": "registry", "upload": "abandoned", "model_id": model_id},
    )
