"""What the runner's zygote does once, after its imports and before any fork: a few
rows through the code path of a run (read the input, predict, write the results),
with estimators fitted here on synthetic data — never a model file. Libraries import
lazily and fill per-process caches on first use (pandas' IO, scikit-learn's input
validation, ABC subclass checks): ~0.1–0.3 s that every forked child would pay
again; done here, the children inherit it. Not Parquet: Arrow's IO starts thread
pools and reserves ~1 GB of address space, which every child would then start with
under its memory limit (and a zygote forks best with one thread).
"""

from __future__ import annotations

import io
import os
import tempfile


def exercise() -> None:
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    from services.runner import formats, worker
    from shared.datasets import DatasetReader

    columns = ["a", "b", "c"]
    frame = pd.DataFrame(np.random.default_rng(0).random((40, 3)), columns=columns)
    target = (frame["a"] > 0.5).astype(int)
    estimators = [LogisticRegression().fit(frame, target),
                  RandomForestClassifier(n_estimators=2, max_depth=2).fit(frame, target),
                  LogisticRegression().fit(frame.to_numpy(), target)]
    with tempfile.TemporaryDirectory(prefix="runner-warmup-") as tmp:
        inputs = {"csv": os.path.join(tmp, "in.csv"), "json": os.path.join(tmp, "in.json")}
        frame.to_csv(inputs["csv"], index=False)
        frame.to_json(inputs["json"], orient="records")
        for fmt, path in inputs.items():
            formats.count_batches(path, fmt, 20)
            reader = DatasetReader(path, os.path.basename(path), None, "fail", 20, fmt=fmt)
            for out_fmt in ("csv", "json"):
                writer = formats.BatchWriter(io.BytesIO(), out_fmt)
                for batch in reader.batches():
                    for estimator in estimators:
                        model = worker.Model(estimator, columns)
                        predictions, probabilities = model.predict(batch, True)
                        writer.write(model.frame_with(batch, predictions, probabilities))
                writer.close()
