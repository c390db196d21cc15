"""``python -m shared.modelfile.inspect <path>``: the sandbox child.

Loads the (untrusted) model file with the allow-list and prints ONE JSON line
on stdout: ``{"ok": true, "format", "estimator", "sklearn_version",
"parameters", "feature_names", "feature_types", "classes", "n_features",
"warnings"}`` or ``{"ok": false, "reason", "message", "offending_global"}``.

``--memory-mb`` sets RLIMIT_AS first thing, before the file is opened; the
parent enforces the wall-clock timeout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def _limit_memory(megabytes: int) -> None:
    """RLIMIT_AS (soft and hard: nothing later can raise it) and no core dumps."""
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if megabytes > 0:
        limit = megabytes * 1024 * 1024
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.modelfile.inspect")
    parser.add_argument("path")
    parser.add_argument("--memory-mb", type=int, default=0)
    parser.add_argument("--max-inflated-mb", type=float, default=0)
    parser.add_argument("--max-ratio", type=float, default=0)
    args = parser.parse_args(argv)
    _limit_memory(args.memory_mb)
    # Anything the model code prints must not corrupt the one JSON line.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    sys.stdout = sys.stderr
    from shared.modelfile import bombs

    try:
        # Bombs first, with the stdlib only: refused before numpy or sklearn is imported.
        bombs.check_path(
            args.path,
            int(args.max_inflated_mb * 1024 * 1024) or bombs.DEFAULT_MAX_BYTES,
            args.max_ratio or bombs.DEFAULT_MAX_RATIO,
        )
        from shared.modelfile.loader import inspect_path

        result = inspect_path(args.path, check_bombs=False)
    except bombs.DecompressionBomb as exc:
        result = {
            "ok": False,
            "reason": "decompression_bomb",
            "offending_global": None,
            "message": str(exc),
        }
    except MemoryError:
        result = {
            "ok": False,
            "reason": "memory_limit",
            "offending_global": None,
            "message": "the model needs more memory than the inspection limit",
        }
    except RecursionError:
        result = {
            "ok": False,
            "reason": "corrupt_file",
            "offending_global": None,
            "message": "the file nests too deeply",
        }
    except Exception as exc:  # report, never a traceback to the parent
        result = {
            "ok": False,
            "reason": "corrupt_file",
            "offending_global": None,
            "message": f"cannot inspect the file: {exc.__class__.__name__}: {exc}"[:1000],
        }
    out.write(json.dumps(result, allow_nan=False, default=repr) + "\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
