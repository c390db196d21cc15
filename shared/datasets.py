"""The platform's ONE reader of tabular inputs (CSV, JSON records, Parquet).

Shared by the deployer (``PUT /deployments/{id}/input``), the runner at
submission (inline rows, uploaded files) and the runner's child process (the
batches it scores), so all of them apply the same strict rules.

Formats, detected from the bytes first and the file name second:

* ``parquet``: the file starts with the magic ``PAR1``;
* ``json``: JSON *records*, i.e. ``[{"col": value, ...}, ...]`` (an object
  wrapping such a list under ``rows``, ``records``, ``instances`` or ``data``
  is accepted too); JSON Lines (one object per line, ``.jsonl``/``.ndjson``)
  as well;
* ``csv``: anything else (comma separated, header line first).

Shape and type rules (a row breaking one is a *bad row*):

* CSV: every row has as many fields as the header (never a shifted column or
  an all-empty row made up from a short line);
* JSON: every record is an object with exactly the keys of the first record
  (missing or extra keys are named);
* a value of a column the model's ``input_schema`` types as numeric must parse
  as a number (CSV text such as ``"abc"``, a JSON string or boolean, a Parquet
  text column holding ``"abc"`` are bad); empty values are missing (NaN), not bad;
* the schema's columns must all be present (``details.missing_columns``).

``on_bad_rows``: ``"fail"`` (default) raises ``InvalidInputData`` (422
``invalid_input_data``) at the first bad row, with ``details.line`` (CSV /
JSON Lines line, header = line 1; JSON array: ``details.record``, 1-based),
``details.column`` when one value is at fault, and ``details.reason``;
``"skip"`` leaves bad rows out of the batches and reports each one
(``DatasetReader.bad_rows``, ``skipped_rows`` and the ``on_bad_row`` callback).

Streaming: CSV is read with pyarrow's streaming reader, Parquet batch by
batch, JSON Lines line by line; a JSON array is parsed record by record from
its text (no second copy as a list). Nothing is read twice into memory.

Public functions:

* ``detect_format(head, filename)`` → ``"csv" | "json" | "parquet"``
* ``DatasetReader(path, filename, input_schema, on_bad_rows, batch_size)``:
  ``.format``, ``.columns``, ``.batches()`` → ``pandas.DataFrame`` batches.
* ``inspect_dataset(path, filename=None, input_schema=None, on_bad_rows="fail")`` →
  ``{"format", "rows", "columns"}`` (plus ``skipped_rows``/``bad_rows`` when
  rows were skipped); reads every row (Parquet with a matching schema: its
  footer only).
* ``check_records(records, input_schema, on_bad_rows)``: the same checks on a
  list of dicts already in memory (inline ``rows``).
* ``check_columns(columns, input_schema)``: the column check alone.
* ``read_dataset(path, filename=None)`` → one ``pandas.DataFrame``.
* ``inspect_dataset_offhub(...)``: ``inspect_dataset`` in an OS thread
  (``eventlet.tpool``) so a nameko hub keeps serving heartbeats (TRAPS.md).

Example::

    info = inspect_dataset_offhub("/tmp/x.csv", "x.csv", model["input_schema"])
    # {"format": "csv", "rows": 150, "columns": ["sepal_length", ...]}
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from shared.errors import InvalidInputData

FORMATS = ("csv", "json", "parquet")
ON_BAD_ROWS = ("fail", "skip")
CSV_CHUNK_ROWS = 50_000
#: How many bad rows a reader keeps (the count goes on); logs and summaries show these.
MAX_REPORTED_BAD_ROWS = 1000
_JSON_WRAPPERS = ("rows", "records", "instances", "data")
_NUMERIC_TYPES = ("float", "double", "int", "integer", "number", "numeric", "float64", "float32",
                  "int64", "int32", "tensor(float)", "tensor(double)", "tensor(int64)")


def is_numeric_type(type_name: Any) -> bool:
    """Whether an ``input_schema`` type (``number``, ``float``, ``tensor(float)``...) is numeric."""
    name = str(type_name or "").lower()
    return any(name.startswith(t) for t in _NUMERIC_TYPES)


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


def _numeric_columns(input_schema: list[dict[str, Any]] | None) -> set[str]:
    return {str(f["name"]) for f in input_schema or []
            if isinstance(f, dict) and f.get("name") and is_numeric_type(f.get("type"))}


def bad_row(reason: str, line: int | None = None, record: int | None = None,
            column: str | None = None) -> dict[str, Any]:
    """One bad row as reported: ``{"line"|"record", "column"?, "reason"}``."""
    row: dict[str, Any] = {}
    if line is not None:
        row["line"] = int(line)
    if record is not None:
        row["record"] = int(record)
    if column is not None:
        row["column"] = column
    row["reason"] = reason
    return row


def describe_bad_row(row: dict[str, Any]) -> str:
    """``line 7: 7 fields, the header has 4`` (for messages and log lines)."""
    where = f"line {row['line']}" if "line" in row else f"record {row.get('record')}"
    return f"{where}: {row['reason']}"


def refusal(row: dict[str, Any]) -> InvalidInputData:
    """The 422 for the first bad row of an input read with ``on_bad_rows="fail"``."""
    return InvalidInputData(
        f"invalid input data at {describe_bad_row(row)} (send on_bad_rows=\"skip\" to score "
        f"the other rows)", dict(row))


def _check_on_bad_rows(value: str) -> str:
    if value not in ON_BAD_ROWS:
        raise ValueError(f"on_bad_rows must be one of {', '.join(ON_BAD_ROWS)}")
    return value


class DatasetReader:
    """Strict, streaming reader of one input file.

    ``batches()`` yields ``pandas.DataFrame`` batches of good rows (at most
    ``batch_size``). Bad rows raise ``InvalidInputData`` (``on_bad_rows="fail"``)
    or are skipped and reported (``"skip"``): ``bad_rows`` (the first
    ``MAX_REPORTED_BAD_ROWS``), ``skipped_rows`` (all), ``on_bad_row(row)``
    called for each one as it is found. ``rows`` counts the good rows yielded.
    """

    def __init__(self, path: str, filename: str | None = None,
                 input_schema: list[dict[str, Any]] | None = None, on_bad_rows: str = "fail",
                 batch_size: int = CSV_CHUNK_ROWS, fmt: str | None = None,
                 on_bad_row: Callable[[dict[str, Any]], None] | None = None):
        self.path = path
        self.filename = filename or Path(path).name
        self.schema = input_schema or []
        self.numeric = _numeric_columns(input_schema)
        self.on_bad_rows = _check_on_bad_rows(on_bad_rows or "fail")
        self.batch_size = max(1, int(batch_size))
        self.format = fmt or _format_of(path, self.filename)
        self.columns: list[str] | None = None
        self.rows = 0
        self.skipped_rows = 0
        self.bad_rows: list[dict[str, Any]] = []
        self._on_bad_row = on_bad_row

    # -- reporting -------------------------------------------------------------

    def _bad(self, row: dict[str, Any]) -> None:
        if self.on_bad_rows == "fail":
            raise refusal(row)
        self.skipped_rows += 1
        if len(self.bad_rows) < MAX_REPORTED_BAD_ROWS:
            self.bad_rows.append(row)
        if self._on_bad_row is not None:
            self._on_bad_row(row)

    def summary(self) -> dict[str, Any]:
        """``{"skipped_rows", "bad_rows"}`` (the first 100) for an execution's result."""
        return {"skipped_rows": self.skipped_rows, "bad_rows": self.bad_rows[:100]}

    def _set_columns(self, columns: list[str]) -> None:
        if not columns:
            raise _invalid("no columns")
        self.columns = columns
        check_columns(columns, self.schema)

    def batches(self) -> Iterator[Any]:
        reader = {"csv": self._csv, "json": self._json, "parquet": self._parquet}[self.format]
        for frame in reader():
            self.rows += len(frame)
            yield frame

    # -- typed values (CSV text, Parquet columns) -------------------------------------

    @staticmethod
    def _arrow_frame(batch):
        """A CSV batch read as text → pandas, each column cast in Arrow (fast, strict) to
        int64, else float64, else kept as text (then checked by ``_typed``)."""
        import pandas as pd
        import pyarrow as pa
        import pyarrow.compute as pc

        columns = {}
        for index, _name in enumerate(batch.schema.names):
            text = batch.column(index)
            try:
                array = text.cast(pa.float64())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                array = text  # not all numbers: text (a numeric schema column: checked next)
            else:
                whole = pc.match_substring_regex(text, r"^[-+]?[0-9]+$")
                if len(text) and pc.all(whole, skip_nulls=True).as_py() and not text.null_count:
                    array = text.cast(pa.int64())  # integers stay integers (ids, counts)
            columns[index] = array.to_pandas()
        frame = pd.DataFrame(columns)
        frame.columns = list(batch.schema.names)
        return frame

    def _typed(self, frame, lines: Callable[[Any], list[int | None]], infer: bool = True):
        """Numeric schema columns parsed strictly, others inferred (``infer``); bad rows
        dropped."""
        import pandas as pd

        bad_mask = None
        first_bad: dict[int, str] = {}
        for column in frame.columns:
            values = frame[column]
            if column in self.numeric:
                if pd.api.types.is_bool_dtype(values.dtype):
                    frame[column] = values.astype("float64")
                    continue
                if pd.api.types.is_numeric_dtype(values.dtype):
                    continue
                parsed = pd.to_numeric(values, errors="coerce")
                wrong = parsed.isna() & values.notna()
                if wrong.any():
                    for position in wrong.to_numpy().nonzero()[0]:
                        first_bad.setdefault(int(position), str(column))
                    bad_mask = wrong if bad_mask is None else (bad_mask | wrong)
                frame[column] = parsed
            elif infer and (values.dtype == object or pd.api.types.is_string_dtype(values.dtype)):
                try:
                    frame[column] = pd.to_numeric(values)
                except (ValueError, TypeError):
                    pass  # text column (the model does not need it as a number)
        if bad_mask is None:
            return frame
        positions = sorted(first_bad)
        line_of = lines(positions)
        for position, line in zip(positions, line_of, strict=True):
            column = first_bad[position]
            self._bad(bad_row(f"column {column}: value is not a number", line=line,
                              column=column))
        return frame[~bad_mask.to_numpy()].reset_index(drop=True)

    # -- CSV -----------------------------------------------------------------------

    def _csv(self) -> Iterator[Any]:
        import pyarrow as pa
        import pyarrow.csv as pacsv

        skipped_lines: list[int] = []
        pending: list[dict[str, Any]] = []

        def on_invalid(row) -> str:
            line = row.number
            if line is not None:
                skipped_lines.append(int(line))
            fields = "field" if row.actual_columns == 1 else "fields"
            pending.append(bad_row(f"{row.actual_columns} {fields}, the header has "
                                   f"{row.expected_columns}", line=line))
            return "skip"

        header = _csv_header(self.path)
        self._set_columns(header)
        try:
            reader = pacsv.open_csv(
                self.path,
                read_options=pacsv.ReadOptions(use_threads=False, block_size=1 << 22),
                parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid,
                                                 newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(
                    column_types={name: pa.string() for name in header},
                    strings_can_be_null=True, quoted_strings_can_be_null=True),
            )
        except pa.ArrowInvalid as exc:
            raise _invalid(_arrow_reason(exc)) from None
        good = 0  # good rows seen so far (their index maps to a line, given the skipped ones)

        def lines_for(base: int) -> Callable[[list[int]], list[int]]:
            def lines(positions: list[int]) -> list[int]:
                ordered = sorted(skipped_lines)
                out = []
                for position in positions:
                    line = base + position + 2
                    for skipped in ordered:
                        if skipped <= line:
                            line += 1
                        else:
                            break
                    out.append(line)
                return out
            return lines

        buffer = []
        buffered = 0
        try:
            for batch in reader:
                for row in sorted(pending, key=lambda r: r.get("line") or 0):
                    self._bad(row)
                pending.clear()
                if batch.num_rows == 0:
                    continue
                frame = self._arrow_frame(batch)
                frame.columns = self.columns
                count = len(frame)
                frame = self._typed(frame, lines_for(good), infer=False)
                good += count
                buffer.append(frame)
                buffered += len(frame)
                while buffered >= self.batch_size:
                    out, buffer, buffered = _take(buffer, self.batch_size)
                    yield out
        except pa.ArrowInvalid as exc:
            raise _invalid(_arrow_reason(exc)) from None
        for row in sorted(pending, key=lambda r: r.get("line") or 0):
            self._bad(row)
        if buffered:
            out, buffer, buffered = _take(buffer, buffered)
            yield out

    # -- JSON ----------------------------------------------------------------------

    def _json(self) -> Iterator[Any]:

        header: list[str] | None = None
        batch: list[dict[str, Any]] = []
        for where, record in _json_records(self.path):
            if header is None:
                if not isinstance(record, dict):
                    raise _invalid(f"{_where_text(where)} is not an object", **where)
                header = [str(k) for k in record]
                self._set_columns(header)
            problem = record_problem(record, header, self.numeric)
            if problem is not None:
                self._bad(bad_row(problem[0], column=problem[1], **where))
                continue
            batch.append(record)
            if len(batch) >= self.batch_size:
                yield self._json_frame(batch, header)
                batch = []
        if header is None:
            raise _invalid("no columns")
        if batch:
            yield self._json_frame(batch, header)

    def _json_frame(self, records: list[dict[str, Any]], header: list[str]):
        import pandas as pd

        frame = pd.DataFrame.from_records(records, columns=header)
        for name in self.numeric & set(header):
            frame[name] = pd.to_numeric(frame[name])  # checked: numbers, numeric text, null
        return frame

    # -- Parquet ----------------------------------------------------------------------

    def _parquet_file(self):
        import pyarrow.parquet as pq

        try:
            return pq.ParquetFile(self.path)  # footer only: no row data read
        except Exception as exc:  # pyarrow raises ArrowInvalid / OSError for bad files
            raise _invalid(f"invalid Parquet file: {exc}") from None

    def parquet_type_problems(self, parquet) -> list[str]:
        """Schema numeric columns stored as non-numeric Parquet types."""
        import pyarrow.types as pat

        problems = []
        for field in parquet.schema_arrow:
            if field.name in self.numeric and not (
                pat.is_integer(field.type) or pat.is_floating(field.type)
                or pat.is_boolean(field.type) or pat.is_decimal(field.type)
                or pat.is_null(field.type)
            ):
                problems.append(f"{field.name} ({field.type})")
        return problems

    def _parquet(self) -> Iterator[Any]:
        parquet = self._parquet_file()
        self._set_columns([str(n) for n in parquet.schema_arrow.names])
        problems = self.parquet_type_problems(parquet)
        if problems and self.on_bad_rows == "fail":
            raise InvalidInputData(
                f"invalid input data: Parquet columns of the wrong type for the model "
                f"(expected numbers): {', '.join(problems)}",
                {"reason": "wrong column type", "columns": problems})
        seen = 0
        try:
            for batch in parquet.iter_batches(batch_size=self.batch_size):
                frame = batch.to_pandas()
                count = len(frame)
                base = seen

                def lines(positions, base=base):  # 1-based row numbers, no header
                    return [base + p + 1 for p in positions]

                frame = self._typed(frame, lines)
                seen += count
                if len(frame):
                    yield frame
        except InvalidInputData:
            raise
        except Exception as exc:
            raise _invalid(f"invalid Parquet file: {exc}") from None


def _take(buffer: list, n: int):
    import pandas as pd

    frame = pd.concat(buffer, ignore_index=True) if len(buffer) > 1 else buffer[0]
    out, rest = frame.iloc[:n].reset_index(drop=True), frame.iloc[n:]
    return out, ([rest] if len(rest) else []), len(rest)


def _csv_header(path: str) -> list[str]:
    """The header row (the csv module reads just that much; quoted names allowed)."""
    import csv

    with open(path, encoding="utf-8-sig", errors="strict", newline="") as f:
        try:
            header = next(csv.reader(f), None)
        except UnicodeDecodeError as exc:
            raise _invalid(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        except csv.Error as exc:
            raise _invalid(f"unreadable header line: {exc}") from None
    if header is None:
        raise _invalid("empty file")
    return [str(c) for c in header]


def _arrow_reason(exc: Exception) -> str:
    text = str(exc).strip()
    if "invalid UTF8" in text:
        return f"not UTF-8 text ({text})"
    if "Empty CSV file" in text:
        return "empty file"
    return text


def _where_text(where: dict[str, int]) -> str:
    return f"line {where['line']}" if "line" in where else f"record {where['record']}"


def record_problem(record: Any, header: list[str],
                   numeric: set[str]) -> tuple[str, str | None] | None:
    """Why a JSON record is bad (reason, column), or None."""
    if not isinstance(record, dict):
        return "not an object", None
    keys = [str(k) for k in record]
    if len(keys) != len(header) or set(keys) != set(header):
        known = set(header)
        missing = [k for k in header if k not in record]
        extra = [k for k in keys if k not in known]
        parts = []
        if missing:
            parts.append(f"missing keys {', '.join(missing)}")
        if extra:
            parts.append(f"extra keys {', '.join(extra)}")
        return "; ".join(parts) + " (every record needs the keys of the first one)", None
    for name in numeric:
        value = record.get(name)
        if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
            continue
        if isinstance(value, str):
            try:
                float(value)  # "1.5" is a number written as text, as in a CSV
                continue
            except ValueError:
                pass
        return f"column {name}: {type(value).__name__} value is not a number", name
    return None


def check_records(records: list[dict[str, Any]], input_schema: list[dict[str, Any]] | None,
                  on_bad_rows: str = "fail") -> list[dict[str, Any]]:
    """The reader's checks on inline records; returns the bad rows (``"skip"``) or raises."""
    _check_on_bad_rows(on_bad_rows)
    if not records:
        raise _invalid("no rows")
    if not isinstance(records[0], dict):
        raise _invalid("record 1 is not an object", record=1)
    header = [str(k) for k in records[0]]
    check_columns(header, input_schema)
    numeric = _numeric_columns(input_schema)
    bad = []
    for n, record in enumerate(records, start=1):
        problem = record_problem(record, header, numeric)
        if problem is not None:
            row = bad_row(problem[0], record=n, column=problem[1])
            if on_bad_rows == "fail":
                raise refusal(row)
            bad.append(row)
    if len(bad) == len(records):
        raise InvalidInputData("invalid input data: every row is bad", {"bad_rows": bad[:100]})
    return bad


def _json_records(path: str) -> Iterator[tuple[dict[str, int], Any]]:
    """``({"line": n} | {"record": n}, record)`` for each record of a JSON input."""
    with open(path, "rb") as f:
        first = f.readline()
        rest_head = f.read(1)
    try:
        first_text = first.decode("utf-8-sig").strip()
    except UnicodeDecodeError as exc:
        raise _invalid(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if first_text.startswith("{") and rest_head:
        try:
            json.loads(first_text)
        except json.JSONDecodeError:
            pass  # a wrapper object over several lines
        else:
            yield from _json_lines(path)
            return
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _invalid(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    del raw
    start = len(text) - len(text.lstrip())
    if text[start:start + 1] == "[":
        yield from _json_array(text, start + 1)
        return
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _invalid(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
                       line=exc.lineno) from None
    if isinstance(data, dict):
        for key in _JSON_WRAPPERS:
            if isinstance(data.get(key), list):
                for n, record in enumerate(data[key], start=1):
                    yield {"record": n}, record
                return
    raise _invalid("JSON must be a list of records ([{column: value}, ...])")


def _json_lines(path: str) -> Iterator[tuple[dict[str, int], Any]]:
    with open(path, encoding="utf-8-sig", errors="strict") as f:
        try:
            for n, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    yield {"line": n}, json.loads(line)
                except json.JSONDecodeError as exc:
                    raise _invalid(f"invalid JSON at line {n}: {exc.msg}", line=n) from None
        except UnicodeDecodeError as exc:
            raise _invalid(f"not UTF-8 text ({exc.reason})") from None


def _json_array(text: str, index: int) -> Iterator[tuple[dict[str, int], Any]]:
    """The elements of the JSON array whose ``[`` is just before ``index``, one by one."""
    decoder = json.JSONDecoder()
    n = 0
    length = len(text)

    def skip_ws(i: int) -> int:
        while i < length and text[i] in " \t\r\n":
            i += 1
        return i

    def error(i: int, msg: str) -> InvalidInputData:
        line = text.count("\n", 0, i) + 1
        column = i - (text.rfind("\n", 0, i) + 1) + 1
        return _invalid(f"invalid JSON at line {line} column {column}: {msg}", line=line)

    i = skip_ws(index)
    if i < length and text[i] == "]":
        if text[skip_ws(i + 1):].strip():
            raise error(skip_ws(i + 1), "Extra data")
        return
    while True:
        try:
            value, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError as exc:
            raise error(exc.pos, exc.msg) from None
        n += 1
        yield {"record": n}, value
        i = skip_ws(end)
        if i >= length:
            raise error(i, "Expecting ',' delimiter")
        if text[i] == ",":
            i = skip_ws(i + 1)
            continue
        if text[i] == "]":
            if skip_ws(i + 1) < length:
                raise error(skip_ws(i + 1), "Extra data")
            return
        raise error(i, "Expecting ',' delimiter")


def _format_of(path: str, filename: str | None) -> str:
    with open(path, "rb") as f:
        head = f.read(64)
    return detect_format(head, filename or Path(path).name)


def inspect_dataset(
    path: str, filename: str | None = None, input_schema: list[dict[str, Any]] | None = None,
    on_bad_rows: str = "fail",
) -> dict[str, Any]:
    """Format, row count and columns of the file at ``path``, every row checked.

    Raises ``InvalidInputData`` (unreadable, missing columns, the first bad row
    unless ``on_bad_rows="skip"``). CPU-bound: from a nameko service use
    ``inspect_dataset_offhub``.
    """
    reader = DatasetReader(path, filename, input_schema, on_bad_rows)
    if reader.format == "parquet":
        parquet = reader._parquet_file()
        columns = [str(n) for n in parquet.schema_arrow.names]
        reader._set_columns(columns)
        if not reader.parquet_type_problems(parquet):  # typed columns: the footer is enough
            return {"format": "parquet", "rows": int(parquet.metadata.num_rows),
                    "columns": columns}
    for _ in reader.batches():
        pass
    info = {"format": reader.format, "rows": int(reader.rows), "columns": reader.columns}
    if reader.skipped_rows:
        if not reader.rows:
            raise InvalidInputData("invalid input data: every row is bad",
                                   {"bad_rows": reader.bad_rows[:100]})
        info.update(reader.summary())
    return info


def inspect_dataset_offhub(
    path: str, filename: str | None = None, input_schema: list[dict[str, Any]] | None = None,
    on_bad_rows: str = "fail",
) -> dict[str, Any]:
    """``inspect_dataset`` in an OS thread (eventlet.tpool), so the hub keeps running."""
    from eventlet import tpool

    return tpool.execute(inspect_dataset, path, filename, input_schema, on_bad_rows)


def read_dataset(path: str, filename: str | None = None,
                 input_schema: list[dict[str, Any]] | None = None):
    """The whole dataset as one ``pandas.DataFrame`` (raises ``InvalidInputData``)."""
    import pandas as pd

    reader = DatasetReader(path, filename, input_schema)
    frames = list(reader.batches())
    if not frames:
        return pd.DataFrame(columns=reader.columns or [])
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
