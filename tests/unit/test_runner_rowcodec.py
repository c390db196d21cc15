"""The online prediction wire format: what the model process decodes is the frame
``pandas.DataFrame.from_records`` builds from the same instances, for every kind of
column; frames are bounded and a truncated stream is an error, not a hang."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from services.runner.rowcodec import (
    MAX_FRAME,
    FrameError,
    decode_request,
    encode_request,
    frame,
    read_frame,
)

CASES = {
    "floats": [{"a": 1.5, "b": -2.0}, {"a": 0.25, "b": 3.0}],
    "ints": [{"a": 1, "b": 2}, {"a": -3, "b": 2**62}],
    "ints and floats": [{"a": 1, "b": 2.5}, {"a": 2.0, "b": 3}],
    "nulls among numbers": [{"a": None, "b": 1}, {"a": 2.5, "b": None}],
    "all null": [{"a": None}, {"a": None}],
    "text": [{"a": "x", "b": 1}, {"a": "y", "b": 2}],
    "booleans": [{"a": True}, {"a": False}],
    "mixed objects": [{"a": 1}, {"a": "two"}],
    "huge int": [{"a": 2**70}, {"a": 1}],
    "missing keys": [{"a": 1.0, "b": "x"}, {"a": 2.0}],
    "one row": [{"f0": 0.1, "f1": 7}],
    "null and missing": [{"a": "x", "b": None}, {"a": "y"}],
    "text and missing": [{"a": "x"}, {"b": 1.0}],
}


def decoded(instances, columns=None, proba=False):
    return decode_request(io.BytesIO(encode_request(instances, columns, proba)))


@pytest.mark.parametrize("name", CASES)
def test_the_frame_is_the_one_from_records_builds(name):
    instances = CASES[name]
    header, data = decoded(instances)
    expected = pd.DataFrame.from_records(instances)
    pd.testing.assert_frame_equal(data, expected)
    assert header["rows"] == len(instances) and header["schema"] is False


def test_the_schema_selects_and_orders_the_columns():
    instances = [{"b": 1.0, "a": 2.0, "extra": 3.0}]
    header, data = decoded(instances, ["a", "b"], proba=True)
    assert list(data.columns) == ["a", "b"] and data.iloc[0].tolist() == [2.0, 1.0]
    assert header["schema"] is True and header["proba"] is True
    pd.testing.assert_frame_equal(
        data, pd.DataFrame.from_records(instances, columns=["a", "b"]))


def test_a_stream_of_requests_ends_cleanly():
    stream = io.BytesIO(encode_request([{"a": 1.0}], None, False) * 2)
    assert decode_request(stream) is not None and decode_request(stream) is not None
    assert decode_request(stream) is None


def test_truncated_and_oversized_frames_are_errors():
    whole = encode_request([{"a": 1.0}], None, False)
    with pytest.raises(FrameError):
        decode_request(io.BytesIO(whole[:-3]))
    with pytest.raises(FrameError):
        read_frame(io.BytesIO((MAX_FRAME + 1).to_bytes(4, "little")))
    assert read_frame(io.BytesIO(frame(b"abc"))) == b"abc"

