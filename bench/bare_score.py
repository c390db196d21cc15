"""The baseline of the batch-scoring figure: the same work by hand, no platform.

``python -m bench.bare_score MODEL.joblib INPUT.csv OUTPUT.csv`` loads the model
with joblib, reads the whole CSV with pandas, ``model.predict``, writes the input
columns plus ``prediction`` as CSV, and prints its phase timings as one JSON line.
"""

from __future__ import annotations

import json
import sys
import time


def main(model_path: str, input_path: str, output_path: str) -> None:
    began = time.perf_counter()
    import joblib
    import pandas as pd

    model = joblib.load(model_path)
    loaded = time.perf_counter()
    frame = pd.read_csv(input_path)
    read = time.perf_counter()
    frame["prediction"] = model.predict(frame[list(model.feature_names_in_)])
    predicted = time.perf_counter()
    frame.to_csv(output_path, index=False)
    written = time.perf_counter()
    print(json.dumps({"rows": len(frame), "import_load_s": loaded - began,
                      "read_s": read - loaded, "predict_s": predicted - read,
                      "write_s": written - predicted, "total_s": written - began}))


if __name__ == "__main__":
    main(*sys.argv[1:4])
