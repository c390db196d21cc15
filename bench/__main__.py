"""``python -m bench`` runs every benchmark; ``python -m bench <name> [...]`` runs those.

Each prints one summary line per figure (``<bench>.<figure>: ...``) and writes
``bench/results/<bench>-<timestamp>.json``. A benchmark whose prerequisites are
missing prints ``<bench>: skipped: <why>`` and the others still run.
"""

from __future__ import annotations

import importlib
import sys
import traceback
import warnings

# nameko imports eventlet, which warns on import that it is deprecated: noise here.
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

from bench.common import Skip  # noqa: E402

BENCHMARKS = ("registry", "scheduler", "runner", "webapp")


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown or any(n in ("-h", "--help") for n in names):
        print(__doc__)
        print("benchmarks: " + ", ".join(BENCHMARKS))
        return 0 if not unknown else 2
    failed = 0
    for name in names:
        try:
            importlib.import_module(f"bench.{name}").run()
        except Skip as exc:
            print(f"{name}: skipped: {exc}", flush=True)
        except KeyboardInterrupt:
            print(f"{name}: interrupted", flush=True)
            return 130
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            failed += 1
            traceback.print_exc()
            print(f"{name}: error: {exc.__class__.__name__}: {exc}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
