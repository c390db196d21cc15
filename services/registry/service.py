"""The registry service: models, their versions and their (scanned) files."""

from __future__ import annotations

import logging
from typing import Any

import eventlet
from nameko.dependency_providers import Config
from nameko.events import EventDispatcher
from nameko.exceptions import UnknownService
from nameko.rpc import RpcProxy, rpc
from prometheus_client import Counter

from services.registry import domain, schemas
from services.registry.dependencies import Inspector, ModelRepository
from shared import events
from shared.caller import Caller
from shared.errors import (
    EXPECTED,
    Conflict,
    InvalidModelFile,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    ValidationError,
)
from shared.modelfile import CONTENT_TYPES
from shared.mongo import utcnow
from shared.observability import Observability

log = logging.getLogger(__name__)

MODEL_FILES = Counter(
    "ml_registry_model_files_total",
    "Model files scanned on upload, accepted or rejected, by reason",
    ["outcome", "reason"],
)


class RegistryService:
    """Models (metadata, semantic versions), their files and the file safety scan."""

    name = "registry"

    repo = ModelRepository()
    observability = Observability()
    config = Config()
    caller = Caller()
    inspector = Inspector()
    dispatch = EventDispatcher()
    deployer = RpcProxy("deployer")

    # -- models -----------------------------------------------------------------

    @rpc(expected_exceptions=EXPECTED)
    def create_model(self, data: dict[str, Any]) -> dict[str, Any]:
        """Create a model (status ``draft``, no file yet).

        Example: ``{"name": "churn", "version": "1.2.0", "type": "classification",
        "framework": "scikit-learn", "department": "Sales", "region": "EMEA",
        "tags": ["churn"], "metrics": {"auc": 0.91}}``. ``version`` defaults to
        ``1.0.0``. Raises ``ValidationError`` (field → messages; unknown or
        mistyped fields included) or ``Conflict`` when (name, version) exists.
        """
        fields = schemas.load_create(data)
        domain.check_status_change(fields["status"], has_file=False)
        model = self.repo.create(fields, created_by=self.caller["username"])
        self.dispatch(events.MODEL_CREATED, {"model": model})
        return model

    @rpc(expected_exceptions=EXPECTED)
    def get_model(self, model_id: str) -> dict[str, Any]:
        """The model ``model_id``. Raises ``NotFound`` (also for a malformed id)."""
        return self.repo.get(model_id)

    @rpc(expected_exceptions=EXPECTED)
    def list_models(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        """A page of models: ``{"items", "total", "page", "per_page"}``.

        Example query: ``{"q": "churn", "department": "Sales", "region": "EMEA",
        "status": "ready", "type": "classification", "framework": "scikit-learn",
        "tags": ["prod", "v2"], "sort": "-created_at", "page": 1, "per_page": 20}``.
        ``q`` searches name and description (case-insensitive); every tag must
        match. Raises ``ValidationError`` for unknown keys, a bad sort or page.
        """
        parsed = domain.build_list_query(query)
        items, total = self.repo.list(parsed.filter, parsed.sort, parsed.skip, parsed.per_page)
        return {"items": items, "total": total, "page": parsed.page, "per_page": parsed.per_page}

    @rpc(expected_exceptions=EXPECTED)
    def model_facets(self) -> dict[str, list[str]]:
        """The values the list filters offer, taken from the data, e.g.
        ``{"department": ["Finance", "RH"], "region": ["Asie", "Europe"],
        "status": ["draft", "ready"], "type": [...], "framework": [...]}``.
        """
        return self.repo.facets(domain.FACETS)

    @rpc(expected_exceptions=EXPECTED)
    def update_model(self, model_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """PATCH a model: only the fields sent change.

        Example: ``{"description": "v2", "metrics": {"f1": 0.8}, "status": "archived"}``.
        Raises ``NotFound``, ``ValidationError`` (``ready`` needs a file) or
        ``Conflict`` when the new (name, version) is taken.
        """
        fields = schemas.load_update(changes)
        current = self.repo.get(model_id)
        if "status" in fields:
            domain.check_status_change(fields["status"], has_file=bool(current["file"]))
        if not fields:
            return current
        model = self.repo.update(model_id, fields)
        self.dispatch(events.MODEL_UPDATED, {"model": model})
        return model

    @rpc(expected_exceptions=EXPECTED)
    def delete_model(self, model_id: str) -> None:
        """Delete a model and its file, unless an active deployment uses it.

        Asks ``deployer.active_deployments_for_model``. Raises ``NotFound``,
        ``Conflict`` (details: the active deployments) or ``ServiceUnavailable``
        when the deployer does not answer (we never guess).
        """
        model = self.repo.get(model_id)
        active = self._active_deployments(model["id"])
        if active:
            names = ", ".join(str(d.get("name") or d.get("id")) for d in active)
            raise Conflict(
                f"model {model['name']} {model['version']} is used by active deployments: {names}",
                {"deployments": [{"id": d.get("id"), "name": d.get("name")} for d in active]},
            )
        deleted = self.repo.delete(model_id)
        self.dispatch(
            events.MODEL_DELETED,
            {"model_id": deleted["id"], "name": deleted["name"], "version": deleted["version"]},
        )
        return None

    @rpc(expected_exceptions=EXPECTED)
    def list_versions(self, model_id: str) -> list[dict[str, Any]]:
        """Every model with the same name as ``model_id``, newest semantic version first
        (``1.10.0`` before ``1.9.0``; a release before its pre-releases). Raises ``NotFound``.
        """
        model = self.repo.get(model_id)
        return domain.sort_by_version_desc(self.repo.same_name(model["name"]))

    # -- files ------------------------------------------------------------------

    @rpc(expected_exceptions=EXPECTED)
    def attach_file(
        self, model_id: str, artifact: dict[str, Any], filename: str | None = None
    ) -> dict[str, Any]:
        """Scan, inspect and attach an uploaded model file; replaces the previous one.

        ``artifact`` is an ``ArtifactRef`` dict already in the store, e.g.
        ``{"id": "665f...", "sha256": "ab12...", "size": 2048, "filename": "model.joblib",
        "content_type": "application/octet-stream"}``. The file is loaded only
        in a sandboxed child with the allow-list of ``shared.modelfile``. On
        success: ``file`` set, status ``ready`` (unless archived), parameters
        (if empty) and ``input_schema`` read from the model. Raises
        ``InvalidModelFile`` (the artifact is deleted, the model unchanged),
        ``PayloadTooLarge``, ``NotFound``.
        """
        artifact_id = self._artifact_id(artifact)
        try:
            model = self.repo.get(model_id)
            info, stored = self._inspect(artifact_id)
        except BaseException:
            self.repo.delete_artifact(artifact_id)  # a rejected or orphan upload is not kept
            raise
        fmt = info["format"]
        file = {
            "artifact_id": artifact_id,
            "filename": domain.safe_filename(filename or artifact.get("filename"), fmt),
            "size": stored["size"],
            "sha256": stored["sha256"] or artifact.get("sha256"),
            "format": fmt,
            "content_type": CONTENT_TYPES.get(fmt, "application/octet-stream"),
            "uploaded_at": utcnow(),
            "estimator": info.get("estimator"),
            "estimator_path": info.get("estimator_path"),
            "sklearn_version": info.get("sklearn_version"),
            "n_features": info.get("n_features"),
            "classes": info.get("classes"),
            "compression": info.get("compression"),
            "warnings": info.get("warnings") or [],
        }
        extra: dict[str, Any] = {"status": domain.status_after_upload(model["status"])}
        if not model["parameters"] and info.get("parameters"):
            extra["parameters"] = info["parameters"]
        schema = domain.input_schema_from(info)
        if schema:
            extra["input_schema"] = schema
        updated = self.repo.set_file(model_id, file, extra)
        MODEL_FILES.labels("accepted", "ok").inc()
        log.info(
            "model %s: file %s accepted (%s, %s)",
            model_id,
            file["filename"],
            fmt,
            file["estimator"],
        )
        self.dispatch(events.MODEL_FILE_UPLOADED, {"model": updated})
        return updated

    @rpc(expected_exceptions=EXPECTED)
    def get_file(self, model_id: str) -> dict[str, Any]:
        """Where to download the model's file: ``{"artifact_id", "filename",
        "content_type", "size", "sha256", "format"}``. Raises ``NotFound`` when
        the model or its file does not exist.
        """
        model = self.repo.get(model_id)
        file = model["file"]
        if not file:
            raise NotFound(f"model {model_id!r} has no file", {"id": model_id})
        keys = ("artifact_id", "filename", "content_type", "size", "sha256", "format")
        return {key: file.get(key) for key in keys}

    # -- helpers ----------------------------------------------------------------

    @staticmethod
    def _artifact_id(artifact: Any) -> str:
        from bson import ObjectId

        artifact_id = artifact.get("id") if isinstance(artifact, dict) else None
        if not isinstance(artifact_id, str) or not ObjectId.is_valid(artifact_id):
            raise ValidationError(
                "artifact: expected an ArtifactRef dict with an id",
                {"artifact": ["expected an ArtifactRef dict with an id"]},
            )
        return artifact_id

    def _inspect(self, artifact_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """The inspector's answer and the stored size/sha256; raises on rejection."""
        stored = self.repo.artifact_info(artifact_id)
        if stored["size"] > self.inspector.max_bytes:
            MODEL_FILES.labels("rejected", "too_large").inc()
            raise PayloadTooLarge(
                f"model file larger than {self.inspector.max_bytes // (1024 * 1024)} MB",
                {"max_bytes": self.inspector.max_bytes},
            )
        # Streamed to a private temp file and loaded only in a sandboxed child.
        info = self.inspector.inspect(self.repo.artifacts, artifact_id)
        if not info.get("ok"):
            reason = str(info.get("reason") or "invalid")
            MODEL_FILES.labels("rejected", reason).inc()
            log.warning("model file %s rejected: %s", artifact_id, info.get("message"))
            raise InvalidModelFile(
                str(info.get("message") or "invalid model file"),
                {"reason": reason, "offending_global": info.get("offending_global")},
            )
        return info, stored

    def _active_deployments(self, model_id: str) -> list[dict[str, Any]]:
        """The deployer's answer, or ``ServiceUnavailable`` — never a guess."""
        timeout = float(self.config.get("RPC_TIMEOUT_S", 10))
        try:
            with eventlet.Timeout(timeout):
                active = self.deployer.active_deployments_for_model(model_id)
        except eventlet.Timeout:
            raise ServiceUnavailable(
                "the deployer did not answer in time; cannot check active deployments",
                {"service": "deployer"},
            ) from None
        except UnknownService:
            raise ServiceUnavailable(
                "the deployer is not running; cannot check active deployments",
                {"service": "deployer"},
            ) from None
        except Exception as exc:
            log.warning("deployer.active_deployments_for_model failed: %r", exc)
            raise ServiceUnavailable(
                "the deployer could not confirm that no active deployment uses this model",
                {"service": "deployer"},
            ) from None
        return list(active or [])
