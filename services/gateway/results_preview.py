"""The first rows of an execution's results, read from the artifact store without
reading the whole file: CSV and Parquet are read incrementally from the GridFS
stream; a JSON array cannot be read in pieces, so JSON results are previewed only
up to ``MAX_JSON_BYTES`` (larger ones are downloaded instead).

The gateway is a plain threaded WSGI app, so the parsing here does not stall an
eventlet hub; it touches at most ``limit`` rows (and one Parquet row group).
"""

from __future__ import annotations

import json
from typing import IO, Any

from shared.errors import Conflict

MAX_JSON_BYTES = 5 * 1024 * 1024


def read_preview(stream: IO[bytes], fmt: str, size: int | None, limit: int) -> dict[str, Any]:
    """``{"columns": [...], "rows": [[...], ...]}`` of the first ``limit`` rows."""
    import pandas as pd

    if fmt == "csv":
        frame = pd.read_csv(stream, nrows=limit)
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        batches = pq.ParquetFile(stream).iter_batches(batch_size=limit)
        batch = next(batches, None)
        frame = batch.to_pandas() if batch is not None else pd.DataFrame()
    else:
        if size is not None and size > MAX_JSON_BYTES:
            raise Conflict("the results are too large to preview as JSON: download them",
                           {"size": size, "max_preview_bytes": MAX_JSON_BYTES})
        frame = pd.read_json(stream, orient="records").head(limit)
    # pandas' own JSON writer turns NaN/NaT/numpy scalars into plain JSON values.
    split = json.loads(frame.head(limit).to_json(orient="split", index=False,
                                                 date_format="iso"))
    return {"columns": [str(c) for c in split["columns"]], "rows": split["data"]}
