"""Who is calling: the identity the gateway puts in nameko context data."""

from __future__ import annotations

from typing import Any

from nameko.extensions import DependencyProvider


class Caller(DependencyProvider):
    """``{username, roles, request_id}`` of the worker's caller (set by the gateway;
    ``username`` is None for calls that come from another service or an event)."""

    def get_dependency(self, worker_ctx) -> dict[str, Any]:
        data = worker_ctx.data or {}
        return {
            "username": data.get("username"),
            "roles": list(data.get("roles") or []),
            "request_id": data.get("request_id"),
        }
