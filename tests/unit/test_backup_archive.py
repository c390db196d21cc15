"""The backup archive's checks (shared/backup_archive.py): a whole archive passes; a
damaged, truncated, tampered or foreign one is refused with a reason, before anything
could be written."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from datetime import UTC, datetime

import bson
import pytest

from shared import backup_archive as archive
from shared.backup_archive import ArchiveRefused

COLLECTIONS = {
    "models": [{"_id": i, "name": f"m{i}", "blob": b"\x00\x01" * i} for i in range(5)],
    "artifacts.chunks": [{"_id": 1, "files_id": 7, "n": 0, "data": bytes(range(256)) * 40}],
    "empty": [],
}


def _dumps(tmp_path, collections=COLLECTIONS):
    dumps = []
    for index, (name, docs) in enumerate(sorted(collections.items())):
        raw = b"".join(bson.encode(d) for d in docs)
        path = tmp_path / f"{index}.bson"
        path.write_bytes(raw)
        dumps.append(archive.Dump(name, str(path), len(docs), hashlib.sha256(raw).hexdigest(),
                                  len(raw), [{"name": "name_1", "key": [["name", 1]],
                                              "unique": True}]))
    return dumps


def _archive(tmp_path, collections=COLLECTIONS) -> tuple[bytes, dict]:
    dumps = _dumps(tmp_path, collections)
    manifest = archive.manifest_of(dumps, "ml_platform", "b1", datetime(2026, 1, 2, tzinfo=UTC))
    out = io.BytesIO()
    archive.write_archive(dumps, manifest, out)
    return out.getvalue(), manifest


def _tar(members: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _members(data: bytes) -> list[tuple[str, bytes]]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return [(m.name, tar.extractfile(m).read()) for m in tar]


def _refused(data: bytes) -> ArchiveRefused:
    with pytest.raises(ArchiveRefused) as caught:
        archive.verify(io.BytesIO(data))
    return caught.value


def test_a_whole_archive_passes_and_its_manifest_says_what_it_holds(tmp_path):
    data, manifest = _archive(tmp_path)
    checked = archive.verify(io.BytesIO(data))
    assert checked == json.loads(json.dumps(manifest))
    assert checked["format"] == "ml-platform-backup" and checked["format_version"] == 1
    assert checked["created_at"] == "2026-01-02T00:00:00.000Z"
    assert checked["collections"]["models"]["count"] == 5
    assert checked["collections"]["empty"] == {**checked["collections"]["empty"], "count": 0}
    names = [name for name, _ in _members(data)]
    assert names[0] == "manifest.json"
    assert set(names[1:]) == {"collections/models.bson", "collections/artifacts.chunks.bson",
                              "collections/empty.bson"}


def test_the_manifest_sha256_is_that_of_the_member_bytes(tmp_path):
    data, manifest = _archive(tmp_path)
    for name, body in _members(data)[1:]:
        collection = name.removeprefix("collections/").removesuffix(".bson")
        assert hashlib.sha256(body).hexdigest() == manifest["collections"][collection]["sha256"]


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.99])
def test_a_truncated_archive_is_refused(tmp_path, keep):
    data, _ = _archive(tmp_path)
    error = _refused(data[: int(len(data) * keep)])
    assert "truncated" in error.message or "lacks" in error.message
    assert "file" in error.details


def test_a_foreign_targz_is_refused(tmp_path):
    error = _refused(_tar([("etc/hosts", b"127.0.0.1 localhost\n")]))
    assert "not a backup of this platform" in error.message


def test_a_file_that_is_not_gzip_is_refused():
    assert "truncated or damaged" in _refused(b"PK\x03\x04 a zip file, not a tar.gz").message
    assert "file" in _refused(gzip.compress(b"")).details  # a gzip of nothing


def test_a_manifest_of_another_format_or_a_newer_version_is_refused(tmp_path):
    data, manifest = _archive(tmp_path)
    members = _members(data)
    for change, words in (({"format": "mongodump"}, "not a backup of this platform"),
                          ({"format_version": 99}, "unsupported backup format version"),
                          ({"collections": "all"}, "lists no collections")):
        body = json.dumps({**manifest, **change}).encode()
        assert words in _refused(_tar([("manifest.json", body), *members[1:]])).message


def test_a_changed_byte_fails_its_sha256(tmp_path):
    data, _ = _archive(tmp_path)
    members = _members(data)
    name, body = next(m for m in members if m[0] == "collections/models.bson")
    tampered = bytearray(body)
    tampered[-3] ^= 0xFF
    rebuilt = [(n, bytes(tampered) if n == name else b) for n, b in members]
    error = _refused(_tar(rebuilt))
    assert "sha256 does not match" in error.message and error.details["collection"] == "models"


def test_a_missing_collection_is_refused_even_with_a_valid_gzip_end(tmp_path):
    data, _ = _archive(tmp_path)
    members = [m for m in _members(data) if m[0] != "collections/models.bson"]
    error = _refused(_tar(members))
    assert "lacks collection(s) models" in error.message


def test_an_extra_member_is_refused(tmp_path):
    data, _ = _archive(tmp_path)
    error = _refused(_tar([*_members(data), ("collections/intruder.bson", bson.encode({}))]))
    assert "unexpected member" in error.message


def test_a_manifest_that_is_not_first_is_refused(tmp_path):
    data, _ = _archive(tmp_path)
    members = _members(data)
    error = _refused(_tar([*members[1:], members[0]]))
    assert "does not start with manifest.json" in error.message


def test_counts_follow_the_bson_length_prefixes():
    counter = archive._DocCounter()
    raw = b"".join(bson.encode({"i": i, "pad": "x" * i}) for i in range(50))
    for start in range(0, len(raw), 7):  # odd chunk boundaries, inside length prefixes
        counter.feed(raw[start:start + 7])
    assert counter.count == 50 and counter.complete()


def test_what_is_never_backed_up_and_what_is_only_appended():
    assert not archive.backed_up("signing_keys")  # private keys never leave in a file
    assert not archive.backed_up("backups.chunks") and not archive.backed_up("system.views")
    assert archive.backed_up("artifacts.chunks") and archive.backed_up("users")
    assert archive.APPEND_ONLY == {"audit_log", "audit_objects"}


def test_a_failure_reason_never_shows_a_server_path():
    error = FileNotFoundError(2, "No such file or directory", "/srv/platform/var/tmp/x.tar.gz")
    assert archive.public_reason(error) == "FileNotFoundError: No such file or directory"
    assert archive.public_reason(ValueError("bad value")) == "ValueError: bad value"
