"""The backup archive: one ``tar.gz`` of every collection of the platform's database.

Layout (``FORMAT`` version ``FORMAT_VERSION``)::

    manifest.json                 first member, always
    collections/<name>.bson       every document of <name>, BSON, one after the other
                                  (mongodump's format; GridFS buckets are the two
                                  collections <bucket>.files and <bucket>.chunks, so
                                  every model file, dataset and result is in here)

``manifest.json``: ``{"format", "format_version", "created_at", "backup_id",
"database", "collections": {name: {"count", "sha256", "bytes", "indexes"}},
"artifacts": {"files", "bytes"}}``; ``sha256`` and ``count`` are those of the
member's bytes and documents.

Everything streams: ``snapshot()`` copies each collection to a temporary file
with a cursor (the short part, done while writes are held), ``write_archive()``
then compresses those files into the archive; ``verify()`` reads an archive once,
as a stream, and checks the manifest, every sha256 and every count without
keeping anything; ``apply()`` reads it again and writes. Nothing is ever whole in
memory. Only standard pymongo operations are used (find, insert_many,
delete_many, list_indexes, create_index), so it works the same on MongoDB and on
the embedded database.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

FORMAT = "ml-platform-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
PREFIX = "collections/"
SUFFIX = ".bson"
MANIFEST_MAX_BYTES = 16 * 1024 * 1024
CHUNK = 1024 * 1024
BATCH_DOCS = 500
BATCH_BYTES = 8 * 1024 * 1024

#: Never in an archive: the identity's private signing keys and its short-lived
#: session state (restoring them would sign everyone out, and a downloadable file
#: must not carry private keys), and the backups themselves.
NOT_BACKED_UP = frozenset({
    "signing_keys", "auth_sessions", "auth_codes", "login_failures",
    "backups", "restores", "maintenance", "backups.files", "backups.chunks",
})
#: Restored by appending what is missing, never by rewriting: the audit trail.
APPEND_ONLY = frozenset({"audit_log", "audit_objects"})


#: The short reason of a refusal (``details["file"][0]``) → a stable code for clients
#: (the web app words each one).
REASONS = {
    "foreign archive": "foreign",
    "unsupported version": "unsupported_version",
    "bad manifest": "bad_manifest",
    "truncated or damaged archive": "truncated",
    "truncated archive": "truncated",
    "damaged": "damaged",
    "checksum mismatch": "checksum_mismatch",
    "count mismatch": "checksum_mismatch",
    "empty archive": "empty",
}


class ArchiveRefused(Exception):
    """The file is not a whole, untampered backup of this platform. ``details``:
    ``{"file": [short reason], "reason": code of REASONS, ...}``."""

    def __init__(self, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.details = dict(details or {})
        short = (self.details.get("file") or [""])[0]
        self.details.setdefault("reason", REASONS.get(short, "damaged"))


@dataclass
class Dump:
    """One collection copied to a temporary file."""

    name: str
    path: str
    count: int
    sha256: str
    size: int
    indexes: list[dict[str, Any]]


def _utc_iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def backed_up(name: str) -> bool:
    return not name.startswith("system.") and name not in NOT_BACKED_UP


def _index_specs(collection) -> list[dict[str, Any]]:
    specs = []
    for index in collection.list_indexes():
        info = dict(index)
        if info.get("name") == "_id_":
            continue
        spec = {"name": info["name"], "key": [[k, v] for k, v in info["key"].items()]}
        for option in ("unique", "sparse", "expireAfterSeconds", "partialFilterExpression"):
            if option in info:
                spec[option] = info[option]
        specs.append(spec)
    return specs


def snapshot(db, workdir: str, names: Iterable[str] | None = None) -> list[Dump]:
    """Copy every backed-up collection of ``db`` to ``workdir`` (BSON, raw documents as
    the server sent them), counting and hashing. The consistent moment of the backup."""
    from bson.raw_bson import RawBSONDocument

    if names is None:
        names = db.list_collection_names()
    dumps = []
    for name in sorted(n for n in names if backed_up(n)):
        collection = db.get_collection(name)
        path = os.path.join(workdir, f"{len(dumps):04d}.bson")
        digest, count, size = hashlib.sha256(), 0, 0
        with open(path, "wb") as out:
            cursor = collection.with_options(
                codec_options=collection.codec_options.with_options(
                    document_class=RawBSONDocument)).find({}, sort=[("_id", 1)])
            for doc in cursor:
                raw = doc.raw
                digest.update(raw)
                out.write(raw)
                count += 1
                size += len(raw)
        dumps.append(Dump(name, path, count, digest.hexdigest(), size, _index_specs(collection)))
    return dumps


def manifest_of(dumps: list[Dump], database: str, backup_id: str | None,
                created_at: datetime) -> dict[str, Any]:
    collections = {d.name: {"count": d.count, "sha256": d.sha256, "bytes": d.size,
                            "indexes": d.indexes} for d in dumps}
    files = [d for d in dumps if d.name.endswith(".files")]
    chunks = [d for d in dumps if d.name.endswith(".chunks")]
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created_at": _utc_iso(created_at),
        "backup_id": backup_id,
        "database": database,
        "collections": collections,
        "artifacts": {"files": sum(d.count for d in files),
                      "bytes": sum(d.size for d in chunks)},
    }


def write_archive(dumps: list[Dump], manifest: dict[str, Any], out: IO[bytes]) -> None:
    """The tar.gz of ``manifest`` (first) and every dump, streamed to ``out``."""
    body = json.dumps(manifest, indent=2, sort_keys=True, default=str).encode()
    mtime = datetime.now(UTC).timestamp()
    with tarfile.open(fileobj=out, mode="w|gz") as tar:
        info = tarfile.TarInfo(MANIFEST)
        info.size, info.mtime, info.mode = len(body), mtime, 0o600
        import io

        tar.addfile(info, io.BytesIO(body))
        for dump in dumps:
            info = tarfile.TarInfo(f"{PREFIX}{dump.name}{SUFFIX}")
            info.size, info.mtime, info.mode = dump.size, mtime, 0o600
            with open(dump.path, "rb") as handle:
                tar.addfile(info, handle)


# -- reading -----------------------------------------------------------------------


def check_manifest(manifest: Any) -> dict[str, Any]:
    """The manifest, or ArchiveRefused saying what is wrong with it."""
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArchiveRefused("not a backup of this platform: manifest.json has no "
                             f"format {FORMAT!r}", {"file": ["foreign archive"]})
    version = manifest.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version > FORMAT_VERSION \
            or version < 1:
        raise ArchiveRefused(f"unsupported backup format version {version!r} (this platform "
                             f"reads 1 to {FORMAT_VERSION})", {"file": ["unsupported version"]})
    collections = manifest.get("collections")
    if not isinstance(collections, dict):
        raise ArchiveRefused("manifest.json lists no collections", {"file": ["bad manifest"]})
    for name, entry in collections.items():
        ok = (isinstance(name, str) and name and "/" not in name and isinstance(entry, dict)
              and isinstance(entry.get("count"), int) and entry["count"] >= 0
              and isinstance(entry.get("sha256"), str) and len(entry["sha256"]) == 64
              and isinstance(entry.get("indexes", []), list))
        if not ok:
            raise ArchiveRefused(f"manifest.json: bad entry for collection {name!r}",
                                 {"file": ["bad manifest"]})
    if not isinstance(manifest.get("created_at"), str):
        raise ArchiveRefused("manifest.json has no created_at", {"file": ["bad manifest"]})
    return manifest


class _DocCounter:
    """Counts concatenated BSON documents by their length prefixes, chunk by chunk."""

    def __init__(self) -> None:
        self.count = 0
        self._need = 0  # bytes left of the current document
        self._head = b""

    def feed(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self._need:
                take = min(self._need, len(view))
                self._need -= take
                view = view[take:]
                continue
            missing = 4 - len(self._head)
            self._head += bytes(view[:missing])
            view = view[missing:]
            if len(self._head) == 4:
                (length,) = struct.unpack("<i", self._head)
                if length < 5:
                    raise ValueError("bad BSON document length")
                self._head = b""
                self._need = length - 4
                self.count += 1

    def complete(self) -> bool:
        return not self._need and not self._head


def _member_name(name: str) -> str | None:
    if name.startswith(PREFIX) and name.endswith(SUFFIX) and name.count("/") == 1:
        return name[len(PREFIX):-len(SUFFIX)]
    return None


class _Gunzip:
    """The decompressed bytes of a gzip stream, read on demand; ``finish()`` reads the
    rest and checks the gzip trailer (CRC-32 and length): a file cut anywhere, even
    after the last member, is caught."""

    def __init__(self, source: IO[bytes]):
        self.source = source
        self.inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self.buffer = b""

    def _more(self) -> bool:
        if self.inflate.eof:
            return False
        data = self.source.read(CHUNK)
        if not data:
            raise EOFError("the gzip stream ends before its trailer")
        self.buffer += self.inflate.decompress(data)
        return True

    def read(self, size: int = -1) -> bytes:
        size = size if size and size > 0 else CHUNK
        while len(self.buffer) < size and self._more():
            pass
        out, self.buffer = self.buffer[:size], self.buffer[size:]
        return out

    def finish(self) -> None:
        while self._more():
            self.buffer = b""
        if self.inflate.unused_data or self.source.read(1):
            raise EOFError("data after the gzip stream")


def _members(fileobj: IO[bytes]) -> Iterator[tuple[tarfile.TarInfo, IO[bytes] | None]]:
    gunzip = _Gunzip(fileobj)
    with tarfile.open(fileobj=gunzip, mode="r|") as tar:
        for member in tar:
            yield member, tar.extractfile(member) if member.isfile() else None
    gunzip.finish()


def public_reason(exc: BaseException) -> str:
    """What an admin reads of a failure: its kind and words, never a server path (an
    OSError's file name is left out; the full error is in the service's log)."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.__class__.__name__}: {exc.strerror}"
    return f"{exc.__class__.__name__}: {exc}"[:500]


def _reason(exc: BaseException) -> str:
    text = str(exc) or exc.__class__.__name__
    return text.split(":")[0][:120] if "/" in text else text[:120]


def verify(fileobj: IO[bytes]) -> dict[str, Any]:
    """Read the whole archive once: the manifest first, then every collection whose
    sha256 and document count must match it, none missing, none unexpected. Returns
    the manifest; raises ArchiveRefused (nothing is written anywhere)."""
    try:
        return _verify(fileobj)
    except ArchiveRefused:
        raise
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise ArchiveRefused(f"the archive is truncated or damaged ({_reason(exc)})",
                             {"file": ["truncated or damaged archive"]}) from None


def _verify(fileobj: IO[bytes]) -> dict[str, Any]:
    manifest: dict[str, Any] | None = None
    seen: set[str] = set()
    for index, (member, handle) in enumerate(_members(fileobj)):
        if index == 0:
            if member.name != MANIFEST or handle is None:
                raise ArchiveRefused("not a backup of this platform: the archive does not "
                                     "start with manifest.json", {"file": ["foreign archive"]})
            if member.size > MANIFEST_MAX_BYTES:
                raise ArchiveRefused("manifest.json is too large", {"file": ["bad manifest"]})
            try:
                manifest = check_manifest(json.loads(handle.read()))
            except (ValueError, UnicodeDecodeError):
                raise ArchiveRefused("manifest.json is not valid JSON",
                                     {"file": ["bad manifest"]}) from None
            continue
        assert manifest is not None
        name = _member_name(member.name)
        if name is None or handle is None or name not in manifest["collections"]:
            raise ArchiveRefused(f"unexpected member {member.name!r} (not in the manifest)",
                                 {"file": ["foreign archive"]})
        if name in seen:
            raise ArchiveRefused(f"collection {name!r} appears twice", {"file": ["damaged"]})
        seen.add(name)
        digest, counter = hashlib.sha256(), _DocCounter()
        try:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
                counter.feed(chunk)
        except ValueError:
            raise ArchiveRefused(f"collection {name!r}: not BSON documents",
                                 {"file": ["damaged"], "collection": name}) from None
        expected = manifest["collections"][name]
        if digest.hexdigest() != expected["sha256"]:
            raise ArchiveRefused(f"collection {name!r}: sha256 does not match the manifest",
                                 {"file": ["checksum mismatch"], "collection": name})
        if not counter.complete() or counter.count != expected["count"]:
            raise ArchiveRefused(
                f"collection {name!r}: {counter.count} documents, the manifest says "
                f"{expected['count']}", {"file": ["count mismatch"], "collection": name})
    if manifest is None:
        raise ArchiveRefused("the archive is empty", {"file": ["empty archive"]})
    missing = sorted(set(manifest["collections"]) - seen)
    if missing:
        raise ArchiveRefused(f"the archive lacks collection(s) {', '.join(missing)} listed "
                             "in its manifest (truncated?)",
                             {"file": ["truncated archive"], "collections": missing})
    return manifest


def verify_path(path: str) -> dict[str, Any]:
    with open(path, "rb") as handle:
        return verify(handle)


# -- restoring ---------------------------------------------------------------------


def _raw_documents(handle: IO[bytes]) -> Iterator[Any]:
    from bson.raw_bson import RawBSONDocument

    while head := handle.read(4):
        if len(head) < 4:
            raise ArchiveRefused("truncated document", {"file": ["damaged"]})
        (length,) = struct.unpack("<i", head)
        body = handle.read(length - 4)
        if len(body) != length - 4:
            raise ArchiveRefused("truncated document", {"file": ["damaged"]})
        yield RawBSONDocument(head + body)


def _batches(docs: Iterable[Any]) -> Iterator[list[Any]]:
    batch: list[Any] = []
    size = 0
    for doc in docs:
        batch.append(doc)
        size += len(doc.raw)
        if len(batch) >= BATCH_DOCS or size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _insert_missing(collection, batch: list[Any]) -> int:
    """Insert each document unless one with its key is there already (append only)."""
    from pymongo.errors import BulkWriteError

    try:
        return len(collection.insert_many(batch, ordered=False).inserted_ids)
    except BulkWriteError as exc:
        others = [e for e in exc.details.get("writeErrors", []) if e.get("code") != 11000]
        if others:
            raise
        return exc.details.get("nInserted", 0)


def _ensure_indexes(collection, specs: list[dict[str, Any]]) -> None:
    import logging

    existing = {index["name"] for index in collection.list_indexes()}
    for spec in specs:
        if spec["name"] in existing:
            continue
        options = {k: v for k, v in spec.items() if k not in ("key",)}
        try:
            collection.create_index([(k, v) for k, v in spec["key"]], **options)
        except Exception as exc:  # an equivalent index under another name
            logging.getLogger(__name__).warning("index %s on %s not recreated: %s",
                                                spec["name"], collection.name, exc)


def apply(db, path: str, manifest: dict[str, Any],
          progress: Callable[[str, int, int], None] | None = None) -> dict[str, int]:
    """Write the (verified) archive at ``path`` into ``db``: each backed-up collection
    is emptied and refilled with the archive's documents; one the archive lacks is
    emptied; the audit trail (APPEND_ONLY) only gains what it lacks; NOT_BACKED_UP
    ones are never touched. Returns documents written per collection."""
    names = sorted(manifest["collections"])
    total = len(names)
    written: dict[str, int] = {}
    for name in db.list_collection_names():
        if backed_up(name) and name not in APPEND_ONLY and name not in manifest["collections"]:
            db[name].delete_many({})  # created after the backup: not in the restored state
            written[name] = 0
    with open(path, "rb") as raw, tarfile.open(fileobj=raw, mode="r|gz") as tar:
        done = 0
        for member in tar:
            name = _member_name(member.name)
            if name is None or name not in manifest["collections"] or not backed_up(name):
                continue
            collection = db[name]
            append = name in APPEND_ONLY
            if not append:
                collection.delete_many({})
            handle = tar.extractfile(member)
            count = 0
            for batch in _batches(_raw_documents(handle)):
                if append:
                    count += _insert_missing(collection, batch)
                else:
                    collection.insert_many(batch, ordered=True)
                    count += len(batch)
            _ensure_indexes(collection, manifest["collections"][name].get("indexes") or [])
            written[name] = count
            done += 1
            if progress is not None:
                progress(name, done, total)
    return written


def new_workdir(prefix: str = "ml-backup-") -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix=prefix)
