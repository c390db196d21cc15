"""The one input reader (shared/datasets.py): strict shapes and types, skip mode, streaming."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from shared import datasets
from shared.errors import InvalidInputData

SCHEMA = [{"name": n, "type": "number"} for n in ("a", "b", "c", "d")]


@pytest.fixture
def write(tmp_path):
    def make(name: str, data: bytes) -> str:
        path = tmp_path / name
        path.write_bytes(data)
        return str(path)

    return make


def refused(path, **kwargs) -> InvalidInputData:
    with pytest.raises(InvalidInputData) as exc:
        datasets.inspect_dataset(path, input_schema=SCHEMA, **kwargs)
    assert exc.value.code == "invalid_input_data"
    return exc.value


@pytest.mark.parametrize("row, fields", [("1,2,3,4,5,6,7", 7), ("1", 1)])
def test_ragged_csv_row_is_refused_with_its_line(write, row, fields):
    # The case: 4 header columns, a row of 7 (or 1) fields.
    path = write("r.csv", f"a,b,c,d\n1,2,3,4\n{row}\n5,6,7,8\n".encode())
    error = refused(path)
    assert error.details["line"] == 3
    assert f"{fields} field" in error.details["reason"] and "header has 4" in error.message


def test_every_row_ragged_is_refused_not_reindexed(write):
    data = "a,b,c,d\n" + "".join(f"{i},1,2,3,4,5,6\n" for i in range(10))
    assert refused(write("all.csv", data.encode())).details["line"] == 2


def test_unparseable_value_names_line_and_column(write):
    path = write("v.csv", b"a,b,c,d\n1,2,3,4\n1,2,3,4\n1,abc,3,4\n")
    error = refused(path)
    assert error.details["line"] == 4 and error.details["column"] == "b"
    # empty values are missing (NaN), not bad
    assert datasets.inspect_dataset(write("e.csv", b"a,b,c,d\n1,,3,4\n"), None, SCHEMA)["rows"] == 1


def test_value_line_accounts_for_skipped_rows(write):
    path = write("s.csv", b"a,b,c,d\n1,2\n1,2,3,4\n9,9\n1,x,3,4\n1,2,3,4\n")
    reported = []
    reader = datasets.DatasetReader(path, input_schema=SCHEMA, on_bad_rows="skip",
                                    on_bad_row=reported.append)
    frames = list(reader.batches())
    assert sum(len(f) for f in frames) == 2 and reader.skipped_rows == 3
    assert [r["line"] for r in reported] == [2, 4, 5]
    assert reported[2]["column"] == "b"
    assert frames[0]["b"].dtype.kind == "f"


def test_skip_mode_inspection_reports_the_bad_rows(write):
    path = write("k.csv", b"a,b,c,d\n1,2,3,4\n1,2,3,4,5,6,7\n5,6,7,8\n")
    info = datasets.inspect_dataset(path, None, SCHEMA, on_bad_rows="skip")
    assert info["rows"] == 2 and info["skipped_rows"] == 1
    assert info["bad_rows"][0]["line"] == 3
    with pytest.raises(InvalidInputData, match="every row"):
        datasets.inspect_dataset(write("x.csv", b"a,b,c,d\n1\n2\n"), None, SCHEMA, "skip")


def test_batches_are_bounded_and_complete(write):
    rows = "".join(f"{i},{i},{i},{i}\n" for i in range(1000))
    reader = datasets.DatasetReader(write("big.csv", f"a,b,c,d\n{rows}".encode()),
                                    input_schema=SCHEMA, batch_size=128)
    sizes = [len(f) for f in reader.batches()]
    assert max(sizes) == 128 and sum(sizes) == 1000
    assert reader.columns == ["a", "b", "c", "d"]


def test_non_schema_columns_keep_their_text(write):
    frame = datasets.read_dataset(write("t.csv", b"a,b,c,d,id\n1,2,3,4,x1\n5,6,7,8,x2\n"),
                                  input_schema=SCHEMA)
    assert list(frame["id"]) == ["x1", "x2"] and frame["a"].tolist() == [1, 5]


@pytest.mark.parametrize("records, reason", [
    ([{"a": 1, "b": 2, "c": 3, "d": 4}, {"a": 1, "b": 2, "c": 3}], "missing keys d"),
    ([{"a": 1, "b": 2, "c": 3, "d": 4}, {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}],
     "extra keys e"),
    ([{"a": 1, "b": 2, "c": 3, "d": 4}, {"a": 1, "b": "deux", "c": 3, "d": 4}], "not a number"),
    ([{"a": 1, "b": 2, "c": 3, "d": 4}, {"a": 1, "b": True, "c": 3, "d": 4}], "not a number"),
])
def test_json_records_keys_and_types(write, records, reason):
    error = refused(write("r.json", json.dumps(records).encode()))
    assert error.details["record"] == 2 and reason in error.details["reason"]
    lines = "\n".join(json.dumps(r) for r in records).encode()
    error = refused(write("r.jsonl", lines))
    assert error.details["line"] == 2 and reason in error.details["reason"]
    bad = datasets.check_records(records, SCHEMA, "skip")
    assert bad[0]["record"] == 2
    with pytest.raises(InvalidInputData) as exc:
        datasets.check_records(records, SCHEMA)
    assert exc.value.details["record"] == 2


def test_json_array_line_numbers_and_syntax(write):
    text = '[\n {"a": 1, "b": 2, "c": 3, "d": 4},\n {"a": 1, "b": 2, "c": 3, "d": 4}\n,{"a": }]'
    error = refused(write("s.json", text.encode()))
    assert error.details["line"] == 4 and "invalid JSON" in error.message


def test_parquet_wrong_column_type(write, tmp_path):
    path = str(tmp_path / "p.parquet")
    pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "2"], "c": [1, 2], "d": [1, 2]}).to_parquet(path)
    error = refused(path)
    assert "b (string)" in error.message or "b (large_string)" in error.message
    info = datasets.inspect_dataset(path, None, SCHEMA, on_bad_rows="skip")
    assert info["rows"] == 1 and info["bad_rows"][0] == {
        "line": 1, "column": "b", "reason": "column b: value is not a number"}
    typed = str(tmp_path / "ok.parquet")
    pd.DataFrame({k: [1.0] for k in "abcd"}).to_parquet(typed)
    assert datasets.inspect_dataset(typed, None, SCHEMA)["rows"] == 1


def test_on_bad_rows_value_is_checked(write):
    with pytest.raises(ValueError):
        datasets.DatasetReader(write("a.csv", b"a\n1\n"), on_bad_rows="ignore")


def test_json_numbers_written_as_text_are_numbers(write):
    records = [{"a": "1.5", "b": 2, "c": None, "d": "4"}]
    frame = datasets.read_dataset(write("t.json", json.dumps(records).encode()),
                                  input_schema=SCHEMA)
    assert frame["a"].tolist() == [1.5] and frame["d"].tolist() == [4]
    assert datasets.check_records(records, SCHEMA) == []
