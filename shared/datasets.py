"""Reading and checking tabular datasets (deployment inputs, execution inputs).

Shared by the deployer (``PUT /deployments/{id}/input``) and the runner
(execution inputs), so both apply the same rules.

Formats, detected from the bytes first and the file name second:

* ``parquet``: the file starts with the magic ``PAR1``;
* ``json``: JSON *records*, i.e. ``[{"col": value, ...}, ...]`` (an object
  wrapping such a list under ``rows``, ``records``, ``instances`` or ``data``
  is accepted too); JSON Lines (one object per line, ``.jsonl``/``.ndjson``)
  as well;
* ``csv``: anything else (comma separated, header line first).

Public functions (all pure, no I/O but the local file they are given):

* ``detect_format(head, filename)`` → ``"csv" | "json" | "parquet"``
* ``inspect_dataset(path, filename=None, input_schema=None)`` →
  ``{"format", "rows", "columns"}``; reads CSV in chunks (never the whole file
  in memory) and Parquet from its footer only; raises
  ``shared.errors.InvalidInputData`` (422 ``invalid_input_data``) with the
  line or the reason when unreadable, and when columns of ``input_schema``
  are missing (``details.missing_columns``).
* ``check_columns(columns, input_schema)``: the column check alone.
* ``read_dataset(path, filename=None)`` → ``pandas.DataFrame`` (whole file;
  for scoring).
* ``inspect_dataset_offhub(...)``: ``inspect_dataset`` run in an OS thread
  through ``eventlet.tpool`` so a nameko service's hub keeps serving
  heartbeats while pandas/pyarrow parse (TRAPS.md: CPU work on the hub is
  re-executed). Call this one from nameko entrypoints.

``input_schema`` is the registry's list ``[{"name": str, "type": str}, ...]``
(``None`` or ``[]`` = nothing to check). Extra columns are allowed.

Example::

    info = inspect_dataset_offhub("/tmp/x.csv", "x.csv", model["input_schema"])
    # {"format": "csv", "rows": 150, "columns": ["sepal_length", ...]}
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from shared.errors import InvalidInputData

FORMATS = ("csv", "json", "parquet")
CSV_CHUNK_ROWS = 50_000
_JSON_WRAPPERS = ("rows", "records", "instances", "data")


def detect_format(head: bytes, filename: str | None = None) -> str:
    """The dataset format from its first bytes (and, for JSON Lines, its name)."""
    if head[:4] == b"PAR1":
        return "parquet"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped[:1] in (b"[", b"{"):
        return "json"
    name = (filename or "").lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"  # wrong magic: reading it will say why
    if name.endswith((".json", ".jsonl", ".ndjson")):
        return "json"
    return "csv"


def check_columns(columns: Iterable[str], input_schema: list[dict[str, Any]] | None) -> None:
    """Raise ``InvalidInputData`` naming the schema columns absent from ``columns``."""
    if not input_schema:
        return
    present = {str(c) for c in columns}
    missing = [f["name"] for f in input_schema if f.get("name") and f["name"] not in present]
    if missing:
        raise InvalidInputData(
            f"missing columns required by the model: {', '.join(missing)}",
            {"missing_columns": missing, "expected": [f.get("name") for f in input_schema]},
        )


def _invalid(reason: str, **details: Any) -> InvalidInputData:
    return InvalidInputData(f"unreadable dataset: {reason}", {"reason": reason, **details})


def _inspect_csv(path: str) -> tuple[int, list[str]]:
    import pandas as pd

    rows = 0
    columns: list[str] | None = None
    try:
        # Chunked: memory stays bounded whatever the file size.
        reader = pd.read_csv(path, chunksize=CSV_CHUNK_ROWS, encoding_errors="strict")
        with reader:
            for chunk in reader:
                if columns is None:
                    columns = [str(c) for c in chunk.columns]
                rows += len(chunk)
    except pd.errors.EmptyDataError:
        raise _invalid("empty file") from None
    except pd.errors.ParserError as exc:
        # pandas says e.g. "Error tokenizing data. C error: Expected 3 fields in line 7, saw 5"
        raise _invalid(str(exc).strip()) from None
    except UnicodeDecodeError as exc:
        raise _invalid(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if columns is None:  # header only
        import pandas as pd  # noqa: F811

        columns = [str(c) for c in pd.read_csv(path, nrows=0).columns]
    if not columns:
        raise _invalid("no columns")
    return rows, columns


def _json_records(path: str) -> list[dict[str, Any]]:
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _invalid(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        # Maybe JSON Lines: one object per line.
        lines = [ln for ln in text.splitlines() if ln.strip()]
        if len(lines) > 1 and lines[0].lstrip().startswith("{"):
            data = []
            for n, line in enumerate(text.splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    data.append(json.loads(line))
                except json.JSONDecodeError as line_exc:
                    raise _invalid(f"invalid JSON at line {n}: {line_exc.msg}", line=n) from None
        else:
            raise _invalid(
                f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", line=exc.lineno
            ) from None
    if isinstance(data, dict):
        for key in _JSON_WRAPPERS:
            if isinstance(data.get(key), list):
                data = data[key]
                break
        else:
            raise _invalid("JSON must be a list of records ([{column: value}, ...])")
    if not isinstance(data, list):
        raise _invalid("JSON must be a list of records ([{column: value}, ...])")
    for n, record in enumerate(data):
        if not isinstance(record, dict):
            raise _invalid(f"record {n} is not an object", record=n)
    return data


def _inspect_json(path: str) -> tuple[int, list[str]]:
    records = _json_records(path)
    columns: dict[str, None] = {}  # ordered union of keys
    for record in records:
        for key in record:
            columns.setdefault(str(key), None)
    if not columns:
        raise _invalid("no columns")
    return len(records), list(columns)


def _inspect_parquet(path: str) -> tuple[int, list[str]]:
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path)  # footer only: no row data read
        return meta.metadata.num_rows, [str(n) for n in meta.schema_arrow.names]
    except Exception as exc:  # pyarrow raises ArrowInvalid / OSError for bad files
        raise _invalid(f"invalid Parquet file: {exc}") from None


_INSPECTORS = {"csv": _inspect_csv, "json": _inspect_json, "parquet": _inspect_parquet}


def _format_of(path: str, filename: str | None) -> str:
    with open(path, "rb") as f:
        head = f.read(64)
    return detect_format(head, filename or Path(path).name)


def inspect_dataset(
    path: str, filename: str | None = None, input_schema: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Format, row count and columns of the file at ``path``; checks ``input_schema``.

    Raises ``InvalidInputData``. CPU-bound: from a nameko service use
    ``inspect_dataset_offhub``.
    """
    fmt = _format_of(path, filename)
    rows, columns = _INSPECTORS[fmt](path)
    check_columns(columns, input_schema)
    return {"format": fmt, "rows": int(rows), "columns": columns}


def inspect_dataset_offhub(
    path: str, filename: str | None = None, input_schema: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """``inspect_dataset`` in an OS thread (eventlet.tpool), so the hub keeps running."""
    from eventlet import tpool

    return tpool.execute(inspect_dataset, path, filename, input_schema)


def read_dataset(path: str, filename: str | None = None):
    """The whole dataset as a ``pandas.DataFrame`` (raises ``InvalidInputData``)."""
    import pandas as pd

    fmt = _format_of(path, filename)
    if fmt == "json":
        return pd.DataFrame.from_records(_json_records(path))
    if fmt == "parquet":
        _inspect_parquet(path)  # clean error for a bad file
        return pd.read_parquet(path)
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise _invalid("empty file") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise _invalid(str(exc).strip()) from None
