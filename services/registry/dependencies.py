"""The registry's repository (collection ``models`` + model-file artifacts) and caller context."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import eventlet.semaphore
from bson import ObjectId
from nameko.extensions import DependencyProvider
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from services.registry import domain
from shared.errors import Conflict, NotFound
from shared.listindex import ListIndex
from shared.modelfile import inspect_artifact
from shared.modelfile.sandbox import stop_zygote, zygote
from shared.mongo import Repository, isoformat, object_id, utcnow

MODELS = "models"


def _conflict(name: str, version: str) -> Conflict:
    return Conflict(
        f"a model named {name!r} with version {version!r} already exists",
        {"name": name, "version": version},
    )


def to_model(doc: dict[str, Any]) -> dict[str, Any]:
    """A stored document → the API's Model dict (ids as strings, ISO UTC times)."""
    file = doc.get("file")
    if file:
        file = {**file, "uploaded_at": isoformat(file.get("uploaded_at"))}
    return {
        "id": str(doc["_id"]),
        "name": doc["name"],
        "description": doc.get("description", ""),
        "version": doc["version"],
        "type": doc.get("type"),
        "framework": doc.get("framework"),
        "department": doc.get("department"),
        "region": doc.get("region"),
        "tags": list(doc.get("tags") or []),
        "status": doc.get("status", "draft"),
        "parameters": doc.get("parameters") or {},
        "metrics": doc.get("metrics") or {},
        "file": file or None,
        "input_schema": doc.get("input_schema"),
        "created_by": doc.get("created_by"),
        "created_at": isoformat(doc.get("created_at")),
        "updated_at": isoformat(doc.get("updated_at")),
    }


class ModelRepository(Repository):
    """Models and their files. Raises ``NotFound`` / ``Conflict``; returns Model dicts."""

    # One index per filter and sort key: unindexed queries are slow on SecantusDB.
    indexes = {
        MODELS: [
            ([("name", 1), ("version", 1)], {"unique": True, "name": "name_version_unique"}),
            ([("created_at", -1)], {}),
            ([("updated_at", -1)], {}),
            ([("department", 1), ("created_at", -1)], {}),
            ([("region", 1), ("created_at", -1)], {}),
            ([("status", 1), ("created_at", -1)], {}),
            ([("type", 1), ("created_at", -1)], {}),
            ([("framework", 1), ("created_at", -1)], {}),
            ([("tags", 1)], {}),
            ([("version", 1)], {}),
        ]
    }

    #: What the lists filter, sort and search on (services.registry.domain).
    LIST_FIELDS = ("name", "description", "version", "created_at", "updated_at", "type",
                   "framework", "department", "region", "status", "tags")
    #: Those filtered by equality (``tags`` by ``$all``).
    LIST_EXACT = ("department", "region", "status", "type", "framework", "tags")

    def setup(self) -> None:
        super().setup()
        self.list_index = ListIndex(MODELS, self.LIST_FIELDS, exact=self.LIST_EXACT,
                                    search=domain.SEARCHED)
        self.list_index.ensure_indexes(self.db)

    def start(self) -> None:
        self.list_index.load_in_background(self.db, eventlet.spawn_n)

    @property
    def models(self):
        return self.db[MODELS]

    def _changed(self, model_id: Any) -> None:
        """Every write of a model: the list index of every replica learns it."""
        self.list_index.record(self.db, model_id)

    def indexed_facets(self, fields: tuple[str, ...]) -> dict[str, list[str]] | None:
        """The facets from the list index (exact, no scan); None while it loads."""
        return self.list_index.values(self.db, fields)

    def reload_list_index(self) -> int:
        """After the collection was written from outside (a restore, a bulk import):
        reload now (lists answer from the database meanwhile); the documents indexed."""
        self.list_index.load_in_background(self.db, lambda load: load())
        return self.list_index.size

    def _get_doc(self, model_id: str) -> dict[str, Any]:
        doc = self.models.find_one({"_id": object_id(model_id, "model")})
        if doc is None:
            raise NotFound(f"model {model_id!r} not found", {"id": model_id})
        return doc

    def raw(self, model_id: str) -> dict[str, Any]:
        """The stored document (with its ``uploads`` ledger). Raises ``NotFound``."""
        return self._get_doc(model_id)

    def get(self, model_id: str) -> dict[str, Any]:
        return to_model(self._get_doc(model_id))

    def create(self, fields: dict[str, Any], created_by: str | None) -> dict[str, Any]:
        now = utcnow()
        doc = {
            **fields,
            "file": None,
            "created_by": created_by,
            "created_at": now,
            "updated_at": now,
        }
        try:
            result = self.models.insert_one(doc)
        except DuplicateKeyError:
            raise _conflict(fields["name"], fields["version"]) from None
        doc["_id"] = result.inserted_id
        self._changed(doc["_id"])
        return to_model(doc)

    def update(self, model_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        oid = object_id(model_id, "model")
        try:
            doc = self.models.find_one_and_update(
                {"_id": oid},
                {"$set": {**changes, "updated_at": utcnow()}},
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            current = self._get_doc(model_id)
            raise _conflict(
                changes.get("name", current["name"]), changes.get("version", current["version"])
            ) from None
        if doc is None:
            raise NotFound(f"model {model_id!r} not found", {"id": model_id})
        self._changed(oid)
        return to_model(doc)

    def delete(self, model_id: str) -> dict[str, Any]:
        doc = self.models.find_one_and_delete({"_id": object_id(model_id, "model")})
        if doc is None:
            raise NotFound(f"model {model_id!r} not found", {"id": model_id})
        self._changed(doc["_id"])
        if doc.get("file"):
            self.artifacts.delete(doc["file"].get("artifact_id"))
        return to_model(doc)

    def list(
        self, filter_: dict[str, Any], sort: list[tuple[str, int]], skip: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        """A page and its total: decided by the list index, then only the page's
        documents are read; the database answers while the index is not ready."""
        found = self.list_index.page(self.db, filter_, sort, skip, limit, eventlet.spawn_n)
        if found is not None:
            ids, total = found
            docs = {doc["_id"]: doc for doc in self.models.find({"_id": {"$in": ids}})}
            return [to_model(docs[i]) for i in ids if i in docs], total
        total = self.models.count_documents(filter_)
        cursor = self.models.find(filter_).sort(sort).skip(skip).limit(limit)
        return [to_model(doc) for doc in cursor], total

    def facets(self, fields: tuple[str, ...]) -> dict[str, list[str]]:
        """The distinct non-empty values of each of ``fields``, sorted: ONE pass over the
        collection (SecantusDB scans for ``distinct``: 5 of them cost 5 scans)."""
        group: dict[str, Any] = {"_id": None}
        group.update({name: {"$addToSet": f"${name}"} for name in fields})
        rows = list(self.models.aggregate([{"$group": group}]))
        values = rows[0] if rows else {}
        return {
            name: sorted(str(v) for v in values.get(name) or [] if v not in (None, ""))
            for name in fields
        }

    def export(self, after: str | None, limit: int) -> list[dict[str, Any]]:
        """Models in ``_id`` order from ``after`` (exclusive): keyset pages, no skip."""
        from shared.mongo import export_page

        query, limit = export_page(after, limit)
        return [to_model(doc) for doc in
                self.models.find(query, {"input_schema": 0}).sort([("_id", 1)]).limit(limit)]

    def same_name(self, name: str) -> list[dict[str, Any]]:
        return [to_model(doc) for doc in self.models.find({"name": name})]

    # -- one outcome per upload (attach or abandon, never both) ------------------------
    #
    # ``uploads.<artifact_id>`` in the model document: ``pending`` while the registry
    # checks the file, then exactly one of ``attached`` (set in the same write as the
    # file), ``rejected`` (with the error) or ``abandoned`` (the gateway gave up waiting).
    # Each transition is one conditional write on the model document.

    def begin_upload(self, model_id: str, artifact_id: str) -> dict[str, Any] | None:
        """Mark the upload ``pending``; None if new, else the raw doc (already settled or
        pending from an earlier delivery). Raises ``NotFound``."""
        oid = object_id(model_id, "model")
        key = f"uploads.{artifact_id}"
        started = self.models.find_one_and_update(
            {"_id": oid, key: {"$exists": False}},
            {"$set": {key: {"state": "pending", "at": utcnow()}}},
        )
        if started is not None:
            return None
        return self._get_doc(model_id)

    def settle_upload(self, model_id: str, artifact_id: str, state: str,
                      error: dict[str, Any] | None = None) -> bool:
        """``pending`` → ``state`` (rejected/abandoned); False if already settled."""
        key = f"uploads.{artifact_id}"
        result = self.models.update_one(
            {"_id": object_id(model_id, "model"), f"{key}.state": "pending"},
            {"$set": {key: {"state": state, "at": utcnow(), "error": error}}},
        )
        return result.modified_count == 1

    def abandon_upload(self, model_id: str, artifact_id: str) -> dict[str, Any] | None:
        """Settle the upload ``abandoned`` unless it was attached or rejected first.

        Returns None when abandoned now (or the model is gone), else the raw doc.
        """
        key = f"uploads.{artifact_id}"
        oid = object_id(model_id, "model")
        abandoned = self.models.find_one_and_update(
            {"_id": oid, "file.artifact_id": {"$ne": artifact_id},
             "$or": [{key: {"$exists": False}}, {f"{key}.state": "pending"}]},
            {"$set": {key: {"state": "abandoned", "at": utcnow()}}},
        )
        if abandoned is not None:
            return None
        return self.models.find_one({"_id": oid})

    def attach_upload(
        self, model_id: str, file: dict[str, Any], extra: dict[str, Any]
    ) -> dict[str, Any] | None:
        """``pending`` → ``attached`` in the same write that sets the file (and the
        ``extra`` fields); the previous file's artifact is deleted. None when the
        upload is no longer pending (abandoned) or the model is gone."""
        artifact_id = file["artifact_id"]
        key = f"uploads.{artifact_id}"
        previous = self.models.find_one_and_update(
            {"_id": object_id(model_id, "model"), f"{key}.state": "pending"},
            {"$set": {**extra, "file": file, "updated_at": utcnow(),
                      key: {"state": "attached", "at": utcnow()}}},
            return_document=ReturnDocument.BEFORE,
        )
        if previous is None:
            return None
        self._changed(previous["_id"])
        old = (previous.get("file") or {}).get("artifact_id")
        if old and old != artifact_id:
            self.artifacts.delete(old)
        return self.get(model_id)

    def orphan_model_files(self, older_than: datetime, limit: int = 100) -> list[str]:
        """Stored model files (``metadata.model_id``) uploaded before ``older_than`` that
        no model uses and no check is running on: uploads whose gateway died before it
        could hand them over. Complete files only (GridFS writes the file document last)."""
        orphans = []
        for stored in self.artifacts.files.find(
            {"metadata.model_id": {"$exists": True}, "uploadDate": {"$lt": older_than}},
            {"_id": 1, "metadata.model_id": 1},
        ).limit(limit * 10):
            artifact_id = str(stored["_id"])
            model_id = (stored.get("metadata") or {}).get("model_id")
            doc = None
            if model_id and ObjectId.is_valid(str(model_id)):
                doc = self.models.find_one({"_id": ObjectId(str(model_id))},
                                           {"file.artifact_id": 1, f"uploads.{artifact_id}": 1})
            if doc is not None:
                if (doc.get("file") or {}).get("artifact_id") == artifact_id:
                    continue
                if ((doc.get("uploads") or {}).get(artifact_id) or {}).get("state") == "pending":
                    continue
            orphans.append(artifact_id)
            if len(orphans) >= limit:
                break
        return orphans

    def artifact_info(self, artifact_id: str) -> dict[str, Any]:
        """``{"size", "sha256"}`` as stored (not as the caller claims). Raises ``NotFound``."""
        stored = self.artifacts.files.find_one({"_id": object_id(artifact_id, "artifact")})
        if stored is None:
            raise NotFound(f"artifact {artifact_id!r} not found", {"id": artifact_id})
        return {
            "size": int(stored.get("length", 0)),
            "sha256": (stored.get("metadata") or {}).get("sha256"),
        }

    def delete_artifact(self, artifact_id: str | None) -> None:
        self.artifacts.delete(artifact_id)




class Inspector(DependencyProvider):
    """Runs the sandboxed model-file inspector, a few at a time.

    Each inspection is a child process of up to ``INSPECT_MEMORY_MB``, forked from
    the warm zygote the service starts with (``shared.modelfile.zygote``); the
    semaphore (``INSPECT_CONCURRENCY``) keeps a burst of uploads from
    starting one such child per worker at once.
    """

    def setup(self) -> None:
        config = self.container.config
        self.timeout_s = float(config.get("INSPECT_TIMEOUT_S", 60))
        self.memory_mb = int(config.get("INSPECT_MEMORY_MB", 2048))
        self.max_bytes = int(config.get("MAX_UPLOAD_MB", 200)) * 1024 * 1024
        # Decompression bombs: inflated-size and ratio caps (shared.modelfile.bombs).
        self.max_inflated_mb = float(config.get("INSPECT_MAX_INFLATED_MB", 1024))
        self.max_ratio = float(config.get("INSPECT_MAX_RATIO", 100))
        self.slots = eventlet.semaphore.Semaphore(int(config.get("INSPECT_CONCURRENCY", 2)))

    def start(self) -> None:
        server = zygote()  # the warm parent of the inspection children
        if server is not None:
            eventlet.spawn_n(server.warm)

    def stop(self) -> None:
        stop_zygote()

    def kill(self) -> None:
        stop_zygote()

    def get_dependency(self, worker_ctx) -> Inspector:
        return self

    def inspect(self, store: Any, artifact_id: str) -> dict[str, Any]:
        """The inspector's JSON answer (``ok`` true or false); see ``shared.modelfile``."""
        with self.slots:
            return inspect_artifact(
                store, artifact_id, timeout_s=self.timeout_s, memory_mb=self.memory_mb,
                max_inflated_mb=self.max_inflated_mb, max_ratio=self.max_ratio,
            )
