"""The child process that reads and writes backup archives (``shared/backup_archive``).

The admin service runs it (never its eventlet hub: dumping, compressing and
hashing a whole database is CPU work, TRAPS.md) and reads its progress, one JSON
object per line on stdout::

    python -m services.admin.backup_worker dump  --out PATH --backup-id ID [--hold S]
    python -m services.admin.backup_worker verify --archive PATH
    python -m services.admin.backup_worker apply  --archive PATH

``dump`` prints ``{"event": "snapshot_done"}`` as soon as every collection is copied
(the end of the maintenance window), then ``{"event": "done", "manifest", "size",
"sha256"}``. ``verify`` prints ``{"event": "verified", "manifest"}`` or exits 2 after
``{"event": "refused", "message", "details"}``. ``apply`` prints ``progress`` lines,
then ``done`` with the documents written per collection. Any other failure: exit 1
after ``{"event": "error", "message"}`` (the traceback goes to stderr, which the
admin service writes to its log). The database comes from ``MONGO_URI`` and
``MONGO_DB`` in the environment (never on the command line).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
import traceback
from datetime import UTC, datetime

from shared import backup_archive as archive


def _say(**event) -> None:
    sys.stdout.write(json.dumps(event, default=str) + "\n")
    sys.stdout.flush()


def _db():
    from shared.mongo import connect

    client = connect(os.environ["MONGO_URI"], float(os.environ.get("MONGO_SELECTION_TIMEOUT_MS")
                                                    or 5000))
    return client, client[os.environ.get("MONGO_DB") or "ml_platform"]


def dump(args) -> int:
    client, db = _db()
    try:
        with archive.new_workdir() as workdir:
            created_at = datetime.now(UTC)
            dumps = archive.snapshot(db, workdir)
            if args.hold:  # test-only: keep the window open so that a test can see it
                time.sleep(args.hold)
            _say(event="snapshot_done", collections=len(dumps))
            manifest = archive.manifest_of(dumps, db.name, args.backup_id, created_at)
            with open(args.out, "wb") as out:
                archive.write_archive(dumps, manifest, out)
    finally:
        client.close()
    digest = hashlib.sha256()
    with open(args.out, "rb") as handle:
        while chunk := handle.read(archive.CHUNK):
            digest.update(chunk)
    _say(event="done", manifest=manifest, size=os.path.getsize(args.out),
         sha256=digest.hexdigest())
    return 0


def verify(args) -> int:
    try:
        manifest = archive.verify_path(args.archive)
    except archive.ArchiveRefused as exc:
        _say(event="refused", message=exc.message, details=exc.details)
        return 2
    _say(event="verified", manifest=manifest)
    return 0


def apply(args) -> int:
    manifest = archive.verify_path(args.archive)  # never write from an unchecked file
    client, db = _db()
    try:
        written = archive.apply(
            db, args.archive, manifest,
            lambda name, done, total: _say(event="progress", collection=name, done=done,
                                           total=total))
    finally:
        client.close()
    _say(event="done", written=written)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="backup_worker")
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("dump")
    p.add_argument("--out", required=True)
    p.add_argument("--backup-id", default=None)
    p.add_argument("--hold", type=float, default=0.0)
    for name in ("verify", "apply"):
        commands.add_parser(name).add_argument("--archive", required=True)
    args = parser.parse_args(argv)
    try:
        return {"dump": dump, "verify": verify, "apply": apply}[args.command](args)
    except archive.ArchiveRefused as exc:
        _say(event="refused", message=exc.message, details=exc.details)
        return 2
    except Exception as exc:
        traceback.print_exc()
        _say(event="error", message=archive.public_reason(exc))
        return 1


if __name__ == "__main__":
    sys.exit(main())
