"""``python -m services.runner.zygote``: a warm parent for the runner's run children.

A cold ``python -m services.runner.worker run`` spends seconds importing pandas,
pyarrow and scikit-learn before it reads a byte of the model. This zygote imports
them once, then forks one fresh child per run (the loop and protocol of
``shared.modelfile.zygote``): the child puts itself in its own session, dies with
the zygote, sets its own memory limit and runs ONE execution exactly as the cold
worker does (:func:`services.runner.worker.main`), its stdout and stderr being the
two FIFOs the runner reads. The zygote itself never opens a model file: no process
ever holds two users' models, and every run still gets a process of its own with
its own limits. Before its first fork it puts a few synthetic rows through a run's
code path (``services.runner.warmup``: lazy imports and caches, inherited by every
child).

Job (one JSON line on stdin): ``{"job", "spec": "<scratch>/spec.json",
"stdout": "<fifo>", "stderr": "<fifo>"}``.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from shared.modelfile.zygote import serve

#: What a run of a typical model imports (a missing optional library costs speed in
#: the child, never correctness).
PRELOAD = (
    "numpy", "pandas", "pyarrow", "pyarrow.csv", "pyarrow.parquet", "scipy.sparse", "joblib",
    "sklearn", "sklearn.base", "sklearn.linear_model", "sklearn.ensemble", "sklearn.tree",
    "sklearn.svm", "sklearn.neighbors", "sklearn.naive_bayes", "sklearn.pipeline",
    "sklearn.preprocessing", "sklearn.compose", "sklearn.cluster", "sklearn.decomposition",
    "sklearn.impute", "skops.io", "onnx", "onnxruntime", "shared.modelfile.loader",
    "shared.datasets", "shared.errors", "services.runner.formats", "services.runner.redact",
    "services.runner.worker",
)


ZYGOTE_PID = os.getpid()


def child(job: dict[str, Any]) -> None:
    """In the forked child: isolate, run one execution, exit with the worker's code."""
    code = 1
    try:
        from services.runner import worker

        worker.die_with_parent()  # first: a zygote killed now takes this child along
        if os.getppid() != ZYGOTE_PID:  # it died before that took effect
            return
        os.setsid()  # its own process group: cancel and timeouts signal it and all it started
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)  # the zygote's job pipe is none of the model's business
        os.close(devnull)
        if not (job.get("stdout") and job.get("stderr")):
            return  # its output would go into the zygote's protocol: exit 1, nothing run
        code = worker.main(["run", job["spec"]])
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001 - exiting anyway
                pass
        os._exit(code)


if __name__ == "__main__":
    from services.runner.warmup import exercise

    sys.exit(serve(PRELOAD, child, exercise))
