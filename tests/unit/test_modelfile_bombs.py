"""shared/modelfile/bombs.py: decompression bombs refused fast, before any unpickling."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import time
import zipfile
import zlib

import joblib
import pytest

from shared.modelfile import bombs, inspect_file
from shared.modelfile.loader import Rejected, load

ZEROS = b"\0" * (8 << 20)  # 8 MiB: over the (lowered) ratio-free size below


@pytest.fixture
def small_limits(monkeypatch):
    monkeypatch.setattr(bombs, "RATIO_FREE_BYTES", 1 << 20)


def _lz4(data: bytes) -> bytes:
    import lz4.frame

    return lz4.frame.compress(data)


COMPRESSORS = {
    "zlib": lambda d: zlib.compress(d, 9),
    "gzip": lambda d: gzip.compress(d, 9),
    "bz2": lambda d: bz2.compress(d, 9),
    "xz": lambda d: lzma.compress(d, format=lzma.FORMAT_XZ),
    "lzma": lambda d: lzma.compress(d, format=lzma.FORMAT_ALONE),
    "lz4": _lz4,
}


@pytest.mark.parametrize("name", sorted(COMPRESSORS))
def test_every_joblib_compression_is_counted(tmp_path, small_limits, name):
    path = tmp_path / f"bomb.{name}"
    path.write_bytes(COMPRESSORS[name](ZEROS))
    assert bombs.detect_file(str(path)).compression == name
    with pytest.raises(bombs.DecompressionBomb, match="decompression bomb"):
        bombs.check_path(str(path))
    # the runner's loader refuses it the same way
    with pytest.raises(Rejected) as exc:
        load(str(path))
    assert exc.value.reason == "decompression_bomb"


@pytest.mark.parametrize("compress", [3, ("lz4", 3), ("xz", 3), ("bz2", 3)])
def test_real_compressed_models_pass(tmp_path, compress):
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier

    x, y = load_iris(return_X_y=True)
    path = tmp_path / "model.joblib"
    joblib.dump(RandomForestClassifier(n_estimators=20).fit(x, y), path, compress=compress)
    bombs.check_path(str(path))  # no exception
    assert load(str(path)).obj.predict(x[:2]) is not None


def test_absolute_cap_whatever_the_ratio(tmp_path):
    path = tmp_path / "big.gz"
    path.write_bytes(gzip.compress(ZEROS, 1))
    with pytest.raises(bombs.DecompressionBomb):
        bombs.check_path(str(path), max_bytes=4 << 20, max_ratio=10_000)


def test_skops_zip_members_are_judged_by_size(tmp_path, small_limits):
    path = tmp_path / "bomb.skops"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("schema.json", "{}")
        archive.writestr("big.npy", ZEROS)
    with pytest.raises(bombs.DecompressionBomb):
        bombs.check_path(str(path))


def test_plain_pickles_and_corrupt_streams_pass_to_the_loader(tmp_path):
    pickle_path = tmp_path / "m.pkl"
    pickle_path.write_bytes(b"\x80\x04\x95" + b"\0" * 100)
    bombs.check_path(str(pickle_path))
    corrupt = tmp_path / "c.gz"
    corrupt.write_bytes(b"\x1f\x8b\x08\x00garbage")
    bombs.check_path(str(corrupt))


def test_one_megabyte_gzip_inflating_to_a_gibibyte_is_refused_within_a_second(tmp_path):
    # 1,024 gzip members of 1 MiB of zeros: ~1 MB on disk, 1 GiB inflated
    member = gzip.compress(b"\0" * (1 << 20), 9)
    path = tmp_path / "bomb.joblib"
    with open(path, "wb") as out:
        buffer = io.BytesIO(member * 1024)
        out.write(buffer.getvalue())
    assert path.stat().st_size < 1.2e6
    started = time.monotonic()
    result = inspect_file(str(path))  # the registry's sandboxed inspector child
    elapsed = time.monotonic() - started
    assert result["ok"] is False and result["reason"] == "decompression_bomb", result
    assert elapsed < 1.0, f"refused after {elapsed:.2f} s"
