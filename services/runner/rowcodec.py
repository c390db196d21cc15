"""The wire format of online predictions between the runner and its model processes.

Messages are frames: a 4-byte little-endian length, then that many bytes.

* request (runner → model process): a JSON header frame
  ``{"proba": bool, "schema": bool, "rows": n, "columns": [[name, kind], ...]}``, then one
  frame per column: ``f8`` / ``i8`` = the values as little-endian float64 / int64
  (no parsing, one copy into numpy), ``json`` = a JSON list (text, booleans, mixed).
* answer (model process → runner): one JSON frame. The runner never unpickles what a
  model process sends: JSON only.

``encode_request`` runs in the runner (no numpy); ``decode_request`` in the model
process gives the DataFrame ``pandas.DataFrame.from_records`` would have built from the
same instances (same columns, same dtypes: ints → int64, numbers with a float or a
null → float64 with NaN, anything else as the objects themselves).
"""

from __future__ import annotations

import json
import math
import struct
from array import array
from typing import Any, BinaryIO

_LENGTH = struct.Struct("<I")
_INT64 = (-(2**63), 2**63 - 1)
#: The largest frame a reader accepts (a model process's answer to 10,000 rows with
#: many classes stays far below it).
MAX_FRAME = 256 * 2**20


class FrameError(Exception):
    """The other side closed the pipe or sent something that is not a frame."""


def frame(payload: bytes) -> bytes:
    return _LENGTH.pack(len(payload)) + payload


def read_frame(stream: BinaryIO) -> bytes | None:
    """The next frame's payload; None at a clean end of stream."""
    head = stream.read(4)
    if not head:
        return None
    if len(head) < 4:
        raise FrameError("truncated frame header")
    (size,) = _LENGTH.unpack(head)
    if size > MAX_FRAME:
        raise FrameError(f"frame of {size} bytes is over the limit")
    payload = stream.read(size)
    if len(payload) < size:
        raise FrameError("truncated frame")
    return payload


def _column_kind(values: list[Any]) -> str:
    ints = floats = 0
    for value in values:
        if value is None:
            continue
        kind = type(value)
        if kind is int:
            if not _INT64[0] <= value <= _INT64[1]:
                return "json"
            ints += 1
        elif kind is float:
            floats += 1
        else:  # bool, str, dict, ... : pandas keeps the objects
            return "json"
    if ints == len(values):
        return "i8"
    if ints + floats == 0:
        return "json"  # all null: an object column of None
    return "f8"


def _column_names(instances: list[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for instance in instances:
        for key in instance:
            seen.setdefault(key, None)
    return list(seen)


def encode_request(instances: list[dict[str, Any]], columns: list[str] | None,
                   proba: bool) -> bytes:
    """The request frames for ``instances``; ``columns`` (the model's input schema)
    selects and orders the columns, else every key in order of first appearance."""
    names = list(columns) if columns else _column_names(instances)
    described: list[list[str]] = []
    blocks: list[bytes] = []
    for name in names:
        values = [instance.get(name) for instance in instances]
        kind = _column_kind(values)
        if kind == "i8":
            block = array("q", values).tobytes()
        elif kind == "f8":
            block = array("d", [math.nan if v is None else v for v in values]).tobytes()
        else:
            # A missing key is NaN in from_records; an explicit null stays None.
            values = [instance.get(name, math.nan) for instance in instances]
            block = json.dumps(values, allow_nan=True).encode()
        described.append([name, kind])
        blocks.append(block)
    header = json.dumps({"proba": bool(proba), "schema": bool(columns),
                         "rows": len(instances), "columns": described}).encode()
    return b"".join([frame(header), *(frame(block) for block in blocks)])


def decode_request(stream: BinaryIO) -> tuple[dict[str, Any], Any] | None:
    """``(header, DataFrame)`` of the next request; None at the end of the stream."""
    import numpy as np
    import pandas as pd

    raw = read_frame(stream)
    if raw is None:
        return None
    header = json.loads(raw)
    data: dict[str, Any] = {}
    for name, kind in header["columns"]:
        block = read_frame(stream)
        if block is None:
            raise FrameError("the request ended before its columns")
        if kind == "json":
            data[name] = json.loads(block)
        else:
            data[name] = np.frombuffer(block, dtype="<f8" if kind == "f8" else "<i8")
    names = [name for name, _ in header["columns"]]
    return header, pd.DataFrame(data, columns=names, index=pd.RangeIndex(header["rows"]))
