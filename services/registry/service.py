"""The registry service: models, their versions and their (scanned) files."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

import eventlet
from nameko.dependency_providers import Config
from nameko.events import BROADCAST, EventDispatcher
from nameko.exceptions import UnknownService
from nameko.rpc import RpcProxy, rpc
from nameko.timer import timer
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
    PlatformError,
    ServiceUnavailable,
    ValidationError,
)
from shared.events import on_events
from shared.modelfile import CONTENT_TYPES
from shared.mongo import utcnow
from shared.observability import Observability

log = logging.getLogger(__name__)

#: How often the registry looks for model files nobody handed over (gateway crashes).
ORPHAN_SWEEP_S = 60

MODEL_FILES = Counter(
    "ml_registry_model_files_total",
    "Model files scanned on upload, accepted or rejected, by reason",
    ["outcome", "reason"],
)


#: (database) -> (monotonic time, facets): the last answer of ``model_facets``.
_FACETS_CACHE: dict[str, tuple[float, dict[str, list[str]]]] = {}


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
    def reload_list_index(self) -> dict[str, Any]:
        """Reload this replica's list index from the collection (after the collection was
        written from outside the registry: a restore, a bulk import); lists answer from
        the database until it is loaded. ``{"documents": n}`` once loaded."""
        return {"documents": self.repo.reload_list_index()}

    @rpc(expected_exceptions=EXPECTED)
    def model_facets(self) -> dict[str, list[str]]:
        """The values the list filters offer, taken from the data, e.g.
        ``{"department": ["Finance", "RH"], "region": ["Asie", "Europe"],
        "status": ["draft", "ready"], "type": [...], "framework": [...]}``.
        """
        indexed = self.repo.indexed_facets(domain.FACETS)
        if indexed is not None:
            return indexed
        # While the list index loads: computed at most every FACETS_CACHE_S per process
        # (a full scan at 10,000 models is seconds on SecantusDB).
        ttl = float(self.config.get("FACETS_CACHE_S", 30))
        now = time.monotonic()
        cached = _FACETS_CACHE.get(self._facets_key())
        if cached is not None and now - cached[0] < ttl:
            return cached[1]
        facets = self.repo.facets(domain.FACETS)
        _FACETS_CACHE[self._facets_key()] = (now, facets)
        return facets

    def _facets_key(self) -> str:
        return f"{self.config.get('MONGO_URI')}/{self.config.get('MONGO_DB')}"

    @on_events("registry", (events.MODEL_CREATED, events.MODEL_UPDATED, events.MODEL_DELETED,
                            events.MODEL_FILE_UPLOADED),
               handler_type=BROADCAST, reliable_delivery=False)
    def forget_facets(self, payload: dict[str, Any]) -> None:
        """Every replica drops its cached facets when a model changes: a new department
        or region is offered by the filters at once, not after FACETS_CACHE_S."""
        _FACETS_CACHE.pop(self._facets_key(), None)

    @rpc(expected_exceptions=EXPECTED)
    def export_models(self, after: str | None = None, limit: int = 1000) -> dict[str, Any]:
        """Every model, oldest id first, a keyset page at a time (the reporting
        service's rebuild): ``{"items": [model dict], "next": id | None}``; pass ``next``
        back as ``after``. ``limit`` ≤ 2000. Raises ``ValidationError`` for a bad cursor."""
        items = self.repo.export(after, limit)
        return {"items": items, "next": items[-1]["id"] if len(items) == limit else None}

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

        One outcome per upload whatever the timing: the file is attached in the
        same conditional write that settles the upload, so a caller that gave up
        waiting (``abandon_upload``) and this call can never both win. A repeated
        call for an upload already attached returns the model.
        """
        artifact_id = self._artifact_id(artifact)
        try:
            earlier = self.repo.begin_upload(model_id, artifact_id)
        except NotFound:
            self.repo.delete_artifact(artifact_id)
            raise
        if earlier is not None:
            settled = self._settled(earlier, artifact_id)
            if settled is not None:
                return settled  # a repeated request for an upload already attached
        try:
            model = self.repo.get(model_id)
            info, stored = self._inspect(artifact_id)
        except BaseException as exc:
            # A rejected upload is not kept; the outcome is recorded for a gateway that
            # stopped waiting (abandon_upload).
            error = exc.to_envelope()["error"] if isinstance(exc, PlatformError) else {
                "code": "internal_error", "message": "the model file could not be checked",
                "details": {}}
            self._quietly_settle(model_id, artifact_id, "rejected", error)
            self.repo.delete_artifact(artifact_id)
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
        updated = self.repo.attach_upload(model_id, file, extra)
        if updated is None:
            # The gateway gave up waiting and told its client so (or the model is gone):
            # never a model whose file is deleted, never a file nobody references.
            self.repo.delete_artifact(artifact_id)
            raise ServiceUnavailable(
                "the upload was abandoned before its check ended: the file was not attached",
                {"service": "registry", "upload": "abandoned"},
            )
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
    def upload_state(self, model_id: str, artifact_id: str) -> dict[str, Any]:
        """Where an upload stands (a caller whose ``attach_file`` timed out polls this):
        ``{"state": "pending"}`` while it is checked (or not yet started), else the
        outcome as ``abandon_upload`` reports it. Raises ``NotFound`` for the model."""
        doc = self.repo.raw(model_id)
        return self._settled(doc, artifact_id, raise_errors=False) or {"state": "pending"}

    @rpc(expected_exceptions=EXPECTED)
    def abandon_upload(self, model_id: str, artifact_id: str) -> dict[str, Any]:
        """Settle an upload whose ``attach_file`` the caller stopped waiting for.

        Exactly one outcome per upload: ``{"state": "attached", "model": {...}}`` when
        the file was attached first, ``{"state": "rejected", "error": {code, message,
        details}}`` when it was refused, else ``{"state": "abandoned"}`` — the upload
        will never be attached and its artifact is deleted (now and, if its check is
        still running, when that ends).
        """
        doc = self.repo.abandon_upload(model_id, artifact_id)
        if doc is not None:
            settled = self._settled(doc, artifact_id, raise_errors=False)
            if settled is not None:
                return settled
        self.repo.delete_artifact(artifact_id)
        log.info("model %s: upload %s abandoned by the caller", model_id, artifact_id)
        return {"state": "abandoned"}

    def _settled(self, doc: dict[str, Any], artifact_id: str,
                 raise_errors: bool = True) -> dict[str, Any] | None:
        """What an upload already ended as (None while pending)."""
        from services.registry.dependencies import to_model

        entry = (doc.get("uploads") or {}).get(artifact_id) or {}
        if (doc.get("file") or {}).get("artifact_id") == artifact_id or \
                entry.get("state") == "attached":
            model = to_model(doc)
            return model if raise_errors else {"state": "attached", "model": model}
        if entry.get("state") == "rejected":
            error = entry.get("error") or {}
            if raise_errors:
                raise InvalidModelFile(error.get("message") or "invalid model file",
                                       error.get("details") or {})
            return {"state": "rejected", "error": error}
        if entry.get("state") == "abandoned":
            if raise_errors:
                self.repo.delete_artifact(artifact_id)
                raise ServiceUnavailable(
                    "the upload was abandoned: the file was not attached",
                    {"service": "registry", "upload": "abandoned"})
            return {"state": "abandoned"}
        return None

    def _quietly_settle(self, model_id: str, artifact_id: str, state: str,
                        error: dict[str, Any]) -> None:
        try:
            self.repo.settle_upload(model_id, artifact_id, state, error)
        except Exception:  # the database may be what failed: the artifact goes anyway
            log.warning("could not record upload %s as %s", artifact_id, state, exc_info=True)

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

    # -- orphan model files ---------------------------------------------------------

    @timer(interval=ORPHAN_SWEEP_S)
    def sweep_orphan_files(self) -> None:
        """Delete model files stored by a gateway that died before handing them over
        (older than ``ORPHAN_FILE_GRACE_S``, used by no model, no check running)."""
        grace = float(self.config.get("ORPHAN_FILE_GRACE_S", 600))
        for artifact_id in self.repo.orphan_model_files(utcnow() - timedelta(seconds=grace)):
            log.warning("deleting orphan model file %s (never attached)", artifact_id)
            self.repo.delete_artifact(artifact_id)

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
