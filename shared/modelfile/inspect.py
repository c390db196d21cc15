"""``python -m shared.modelfile.inspect <path>``: the sandbox child.

Loads the (untrusted) model file with the allow-list and prints ONE JSON line
on stdout: ``{"ok": true, "format", "estimator", "sklearn_version",
"parameters", "feature_names", "feature_types", "classes", "n_features",
"warnings"}`` or ``{"ok": false, "reason", "message", "offending_global"}``.

``--memory-mb`` sets RLIMIT_AS first thing, before the file is opened; the
parent enforces the wall-clock timeout. :func:`run` is the same inspection for a
child forked from the warm zygote (``shared.modelfile.zygote``).
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


def run(path: str, memory_mb: int = 0, max_inflated_mb: float = 0,
        max_ratio: float = 0) -> dict:
    """Inspect the file at ``path`` in THIS process (a sandbox child): the memory
    limit first, then the bomb check (stdlib only), then the allow-listed load."""
    _limit_memory(memory_mb)
    from shared.modelfile import bombs

    try:
        # Bombs first, with the stdlib only: refused before numpy or sklearn is imported
        # (in a cold child; a child forked from the zygote has them imported already).
        bombs.check_path(
            path,
            int(max_inflated_mb * 1024 * 1024) or bombs.DEFAULT_MAX_BYTES,
            max_ratio or bombs.DEFAULT_MAX_RATIO,
        )
        from shared.modelfile.loader import inspect_path

        return inspect_path(path, check_bombs=False)
    except bombs.DecompressionBomb as exc:
        return {
            "ok": False,
            "reason": "decompression_bomb",
            "offending_global": None,
            "message": str(exc),
        }
    except MemoryError:
        return {
            "ok": False,
            "reason": "memory_limit",
            "offending_global": None,
            "message": "the model needs more memory than the inspection limit",
        }
    except RecursionError:
        return {
            "ok": False,
            "reason": "corrupt_file",
            "offending_global": None,
            "message": "the file nests too deeply",
        }
    except Exception as exc:  # report, never a traceback to the parent
        return {
            "ok": False,
            "reason": "corrupt_file",
            "offending_global": None,
            "message": f"cannot inspect the file: {exc.__class__.__name__}: {exc}"[:1000],
        }


def answer(result: dict) -> str:
    """The one JSON line a child answers with."""
    return json.dumps(result, allow_nan=False, default=repr) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.modelfile.inspect")
    parser.add_argument("path")
    parser.add_argument("--memory-mb", type=int, default=0)
    parser.add_argument("--max-inflated-mb", type=float, default=0)
    parser.add_argument("--max-ratio", type=float, default=0)
    args = parser.parse_args(argv)
    # Anything the model code prints must not corrupt the one JSON line.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    sys.stdout = sys.stderr
    result = run(args.path, args.memory_mb, args.max_inflated_mb, args.max_ratio)
    out.write(answer(result))
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
