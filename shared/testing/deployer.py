"""Test support for the deployer and the scheduler: a fake registry serving the
models registered with ``make_model``, and ``wait_for`` for what events bring about.
Used by tests/service/test_deployer_* and test_scheduler_*."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bson import ObjectId
from nameko.rpc import rpc

from shared.errors import EXPECTED, NotFound

# The fake registry's models, keyed by unique ids, so tests never collide.
MODELS: dict[str, dict] = {}
INPUT_SCHEMA = [{"name": "age", "type": "float"}, {"name": "income", "type": "float"}]


class FakeRegistry:
    name = "registry"

    @rpc(expected_exceptions=EXPECTED)
    def get_model(self, model_id):
        if model_id not in MODELS:
            raise NotFound(f"model {model_id!r} not found", {"id": model_id})
        return MODELS[model_id]


def make_model(unique: Callable[..., str], **overrides: Any) -> dict:
    """A ready model with a unique name, served by ``FakeRegistry``."""
    model = {
        "id": str(ObjectId()),
        "name": unique("model"),
        "version": "1.0.0",
        "status": "ready",
        "department": "finance",
        "region": "emea",
        "input_schema": INPUT_SCHEMA,
        **overrides,
    }
    MODELS[model["id"]] = model
    return model


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll ``predicate`` every 0.1 s until it returns something truthy, and return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")
