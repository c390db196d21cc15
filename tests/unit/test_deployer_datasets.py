"""shared/datasets.py: format detection, CSV / JSON records / Parquet, column checks."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from shared import datasets
from shared.errors import InvalidInputData

SCHEMA = [{"name": "age", "type": "float"}, {"name": "income", "type": "float"}]


@pytest.fixture
def write(tmp_path):
    def make(name: str, data: bytes) -> str:
        path = tmp_path / name
        path.write_bytes(data)
        return str(path)

    return make


def test_detect_format():
    assert datasets.detect_format(b"PAR1\x15\x04") == "parquet"
    assert datasets.detect_format(b'  [{"a": 1}]') == "json"
    assert datasets.detect_format(b'\xef\xbb\xbf{"rows": []}') == "json"
    assert datasets.detect_format(b"a,b\n1,2\n") == "csv"
    assert datasets.detect_format(b"a,b", "x.jsonl") == "json"


def test_csv_counts_rows_in_chunks(write, monkeypatch):
    monkeypatch.setattr(datasets, "CSV_CHUNK_ROWS", 3)  # several chunks
    rows = "\n".join(f"{i},{i * 10},x" for i in range(10))
    path = write("in.csv", f"age,income,extra\n{rows}\n".encode())
    info = datasets.inspect_dataset(path, "in.csv", SCHEMA)
    assert info == {"format": "csv", "rows": 10, "columns": ["age", "income", "extra"]}


def test_csv_header_only_and_empty(write):
    assert datasets.inspect_dataset(write("h.csv", b"age,income\n"))["rows"] == 0
    with pytest.raises(InvalidInputData) as exc:
        datasets.inspect_dataset(write("e.csv", b""))
    assert "empty" in exc.value.message


def test_csv_bad_line_is_named(write):
    path = write("bad.csv", b"age,income\n1,2\n3,4\n5,6,7,8\n")
    with pytest.raises(InvalidInputData) as exc:
        datasets.inspect_dataset(path)
    assert "line 4" in exc.value.message and exc.value.code == "invalid_input_data"


def test_csv_not_utf8(write):
    with pytest.raises(InvalidInputData) as exc:
        datasets.inspect_dataset(write("b.csv", b"age,income\n\xff\xfe,1\n"))
    assert "UTF-8" in exc.value.message


def test_missing_columns_are_named(write):
    with pytest.raises(InvalidInputData) as exc:
        datasets.inspect_dataset(write("m.csv", b"age,x\n1,2\n"), input_schema=SCHEMA)
    assert exc.value.details["missing_columns"] == ["income"]
    assert "income" in exc.value.message
    datasets.check_columns(["age", "income", "more"], SCHEMA)
    datasets.check_columns([], None)


def test_json_records_and_wrappers(write):
    records = [{"age": 1, "income": 2, "extra": 0}, {"age": 3, "income": 4, "extra": 5}]
    info = datasets.inspect_dataset(
        write("r.json", json.dumps(records).encode()), input_schema=SCHEMA
    )
    assert info == {"format": "json", "rows": 2, "columns": ["age", "income", "extra"]}
    wrapped = datasets.inspect_dataset(write("w.json", json.dumps({"rows": records}).encode()))
    assert wrapped["rows"] == 2
    lines = "\n".join(json.dumps(r) for r in records).encode()
    assert datasets.inspect_dataset(write("l.jsonl", lines))["rows"] == 2


@pytest.mark.parametrize(
    "data, reason",
    [
        (b'[{"age": 1,', "invalid JSON at line 1"),
        (b'{"age": 1}', "list of records"),
        (b"[1, 2]", "record 1 is not an object"),
        (b"[]", "no columns"),
    ],
)
def test_bad_json(write, data, reason):
    with pytest.raises(InvalidInputData) as exc:
        datasets.inspect_dataset(write("b.json", data))
    assert reason in exc.value.message


def test_parquet_from_footer_and_corrupt(write, tmp_path):
    path = str(tmp_path / "p.parquet")
    pd.DataFrame({"age": [1.0, 2.0, 3.0], "income": [1, 2, 3]}).to_parquet(path)
    assert datasets.inspect_dataset(path, input_schema=SCHEMA) == {
        "format": "parquet",
        "rows": 3,
        "columns": ["age", "income"],
    }
    assert list(datasets.read_dataset(path).columns) == ["age", "income"]
    with pytest.raises(InvalidInputData) as exc:
        datasets.inspect_dataset(write("c.parquet", b"PAR1 not really parquet"))
    assert "Parquet" in exc.value.message


def test_read_dataset_all_formats(write):
    assert datasets.read_dataset(write("a.csv", b"age,income\n1,2\n")).shape == (1, 2)
    frame = datasets.read_dataset(write("a.json", b'[{"age": 1, "income": 2}]'))
    assert frame.to_dict("records") == [{"age": 1, "income": 2}]


def test_offhub_runs_in_a_thread(write):
    path = write("t.csv", b"age,income\n1,2\n")
    assert datasets.inspect_dataset_offhub(path, "t.csv", SCHEMA)["rows"] == 1
    with pytest.raises(InvalidInputData):
        datasets.inspect_dataset_offhub(write("t2.csv", b"age\n1\n"), None, SCHEMA)
