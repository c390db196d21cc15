"""Batch reading and writing of tabular files (CSV, JSON records, Parquet).

Used by the runner's child process (results written batch by batch; the input
is read by ``shared.datasets.DatasetReader``) and by the gateway to convert a
result to another format while streaming it. CPU-bound: never call it on an
eventlet hub.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import IO, Any

from shared.datasets import DatasetReader, detect_format

DEFAULT_BATCH = 50_000


def format_of(path: str, filename: str | None = None) -> str:
    with open(path, "rb") as f:
        head = f.read(64)
    return detect_format(head, filename)


def count_batches(path: str, fmt: str, batch_size: int) -> int | None:
    """How many batches the input will give (CSV: counted lines; cheap)."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return max(1, math.ceil(pq.ParquetFile(path).metadata.num_rows / batch_size))
    if fmt == "csv":
        lines = 0
        last = b"\n"
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                lines += chunk.count(b"\n")
                last = chunk[-1:]
        if last != b"\n":
            lines += 1
        return max(1, math.ceil(max(lines - 1, 0) / batch_size))
    return None


def iter_batches(path: str, fmt: str, batch_size: int = DEFAULT_BATCH,
                 filename: str | None = None) -> Iterator[Any]:
    """``pandas.DataFrame`` batches of at most ``batch_size`` rows, read by the
    platform's one strict reader (``shared.datasets.DatasetReader``)."""
    yield from DatasetReader(path, filename, None, "fail", batch_size, fmt=fmt).batches()


class BatchWriter:
    """Writes DataFrames one after the other into one file of the given format."""

    def __init__(self, out: IO[bytes], fmt: str):
        self.out = out
        self.fmt = fmt
        self.rows = 0
        self._first = True
        self._parquet = None
        self._schema = None

    def write(self, frame) -> None:
        if self.fmt == "csv":
            self.out.write(frame.to_csv(index=False, header=self._first).encode())
        elif self.fmt == "json":
            body = frame.to_json(orient="records", double_precision=15)[1:-1]
            if body:
                self.out.write((b"[" if self._first else b",") + body.encode())
                self._first = False
                self.rows += len(frame)
            return
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self._parquet is None:
                self._schema = table.schema
                self._parquet = pq.ParquetWriter(self.out, self._schema)
            elif table.schema != self._schema:
                # pandas may infer int in one CSV chunk and float in the next
                table = table.cast(self._schema, safe=False)
            self._parquet.write_table(table)
        self._first = False
        self.rows += len(frame)

    def close(self) -> None:
        if self.fmt == "json":
            self.out.write(b"]" if not self._first else b"[]")
        elif self.fmt == "parquet" and self._parquet is not None:
            self._parquet.close()
        elif self.fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.table({}), self.out)


def convert(path: str, src_fmt: str, dst_fmt: str, out: IO[bytes],
            batch_size: int = DEFAULT_BATCH) -> int:
    """Copy the table at ``path`` into ``out`` in ``dst_fmt``; returns the rows written."""
    writer = BatchWriter(out, dst_fmt)
    for frame in iter_batches(path, src_fmt, batch_size):
        writer.write(frame)
    writer.close()
    return writer.rows
