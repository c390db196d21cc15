"""Build the web app (``frontend/``) when its sources changed.

* ``npm ci`` from the committed lock file when ``node_modules`` is missing or was
  installed from another lock file;
* ``npm run build`` when a source file, the lock file or a build setting changed
  since the last build (a hash of them is kept in ``frontend/dist/.build-stamp``);
* without ``npm`` it says that the web app is not built, and the platform runs
  without it (the API works).

Used by the launcher (``make run``) and ``make test`` (``--test`` also runs Vitest)::

    .venv/bin/python -m scripts.webapp_build [--force] [--test]
"""

from __future__ import annotations

import argparse
import fcntl
import gzip
import hashlib
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from shared.config import ROOT

FRONTEND = ROOT / "frontend"
DIST = FRONTEND / "dist"
BUILD_STAMP = DIST / ".build-stamp"
DEPS_STAMP = FRONTEND / "node_modules" / ".ci-stamp"
#: What a build depends on besides src/ (public/ holds static files, when there are any).
BUILD_INPUTS = ("index.html", "package.json", "package-lock.json", "vite.config.ts",
                "tsconfig.json")
SOURCE_DIRS = ("src", "public")
COMPRESSIBLE = {".js", ".css", ".svg", ".json", ".map"}

Log = Callable[[str], None]


def _digest(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(str(path.relative_to(FRONTEND)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _sources() -> list[Path]:
    files = [FRONTEND / name for name in BUILD_INPUTS if (FRONTEND / name).is_file()]
    for folder in SOURCE_DIRS:
        root = FRONTEND / folder
        if root.is_dir():
            files += [p for p in root.rglob("*") if p.is_file() and not p.name.endswith(".test.tsx")
                      and not p.name.endswith(".test.ts")]
    return files


def sources_digest() -> str:
    return _digest(_sources())


def lock_digest() -> str:
    return _digest([FRONTEND / "package-lock.json"])


def _read(path: Path) -> str:
    return path.read_text().strip() if path.is_file() else ""


def needs_install() -> bool:
    return _read(DEPS_STAMP) != lock_digest()


def needs_build() -> bool:
    return not (DIST / "index.html").is_file() or _read(BUILD_STAMP) != sources_digest()


@contextmanager
def _locked() -> Iterator[None]:
    """One build at a time (two stacks starting together share frontend/)."""
    with open(FRONTEND / ".build.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _npm(args: list[str], log: Log) -> None:
    log(f"web app: npm {' '.join(args)}")
    result = subprocess.run(["npm", *args], cwd=FRONTEND, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-25:])
        raise RuntimeError(f"npm {' '.join(args)} failed:\n{tail}")


def precompress(dist: Path = DIST) -> int:
    """``name.gz`` beside each built asset (the gateway sends it to gzip-capable clients)."""
    count = 0
    for path in (dist / "assets").glob("*"):
        if path.suffix in COMPRESSIBLE and path.stat().st_size > 1024:
            with open(path, "rb") as source, gzip.open(f"{path}.gz", "wb", compresslevel=9) as out:
                shutil.copyfileobj(source, out)
            count += 1
    return count


def ensure_built(log: Log = print, force: bool = False, test: bool = False) -> bool:
    """Install and build as needed; True when ``frontend/dist`` is up to date."""
    if shutil.which("npm") is None:
        log("web app: npm not found — the web app is not built (install Node.js 20 and npm); "
            "the API still works")
        return False
    with _locked():
        if needs_install():
            log("web app: installing its packages (npm ci, from package-lock.json)")
            _npm(["ci", "--no-audit", "--no-fund"], log)
            DEPS_STAMP.write_text(lock_digest())
        if force or needs_build():
            log("web app: sources changed, building it (npm run build)")
            _npm(["run", "build"], log)
            precompress()
            BUILD_STAMP.write_text(sources_digest())
        else:
            log("web app: up to date (frontend/dist)")
        if test:
            _npm(["test"], log)
            _npm(["run", "lint"], log)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="build even when up to date")
    parser.add_argument("--test", action="store_true", help="also run Vitest and ESLint")
    args = parser.parse_args(argv)
    try:
        built = ensure_built(force=args.force, test=args.test)
    except RuntimeError as exc:
        print(f"web app: {exc}", file=sys.stderr)
        return 1
    # make test needs the app: no npm there is a failure, not a warning.
    return 0 if built or not args.test else 1


if __name__ == "__main__":
    raise SystemExit(main())
