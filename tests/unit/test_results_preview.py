"""The results preview reads only the first rows of CSV, Parquet and JSON results."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from services.gateway.results_preview import MAX_JSON_BYTES, read_preview
from shared.errors import Conflict

FRAME = pd.DataFrame({"x": [1.5, np.nan, 3.0, 4.0], "prediction": ["a", "b", "c", "d"]})


def encoded(fmt: str) -> io.BytesIO:
    buffer = io.BytesIO()
    if fmt == "csv":
        FRAME.to_csv(buffer, index=False)
    elif fmt == "parquet":
        FRAME.to_parquet(buffer, index=False)
    else:
        buffer.write(FRAME.to_json(orient="records").encode())
    buffer.seek(0)
    return buffer


@pytest.mark.parametrize("fmt", ["csv", "parquet", "json"])
def test_first_rows_with_missing_values_as_null(fmt):
    preview = read_preview(encoded(fmt), fmt, None, 2)
    assert preview == {"columns": ["x", "prediction"], "rows": [[1.5, "a"], [None, "b"]]}


def test_limit_larger_than_the_file():
    assert len(read_preview(encoded("csv"), "csv", None, 50)["rows"]) == 4


def test_large_json_is_not_parsed():
    with pytest.raises(Conflict):
        read_preview(encoded("json"), "json", MAX_JSON_BYTES + 1, 5)
