"""Decompression-bomb guard for model files, run before anything is unpickled.

A compressed joblib file (zlib, gzip, bz2, xz, lzma, lz4) is stream-decompressed
1 MiB at a time and only *counted*; a skops file (a zip) is judged by its
members' sizes. The file is refused as soon as its inflated size passes::

    limit = min(max_bytes, max(RATIO_FREE_BYTES, compressed_size * max_ratio))

and, past ``RATIO_FREE_BYTES``, as soon as the ratio *so far* (inflated bytes
over compressed bytes read) passes ``max_ratio``: a 1 MB gzip that inflates to
1 GiB stops after 32 MB of counting (a fraction of a second), memory stays at
one chunk, and nothing is parsed. Only
stdlib decompressors (and ``lz4`` when installed): cheap to import in the
inspector child before the heavy libraries.

``check_path(path, max_bytes, max_ratio)`` raises ``DecompressionBomb`` (a
``ValueError`` with a user-facing message); uncompressed pickles and ONNX files
pass untouched.
"""

from __future__ import annotations

import bz2
import lzma
import os
import zipfile
import zlib
from collections.abc import Callable
from typing import IO

from shared.modelfile.formats import SKOPS, UnrecognisedFormat, detect_file

DEFAULT_MAX_BYTES = 1024 * 1024 * 1024  # 1 GiB inflated, whatever the ratio
DEFAULT_MAX_RATIO = 100
#: Below this many inflated bytes the ratio is not looked at (tiny files compress well).
RATIO_FREE_BYTES = 32 * 1024 * 1024
MAX_ZIP_MEMBERS = 10_000
CHUNK = 1024 * 1024  # inflated bytes per step
READ = 64 * 1024  # compressed bytes per read: the ratio so far is known to within this


class DecompressionBomb(ValueError):
    """The file inflates beyond the limits: refused before it is loaded."""

    reason = "decompression_bomb"


def inflated_limit(compressed_size: int, max_bytes: int, max_ratio: float) -> int:
    return int(min(max_bytes, max(RATIO_FREE_BYTES, compressed_size * max_ratio)))


def _refuse(limit: int, max_ratio: float) -> DecompressionBomb:
    return DecompressionBomb(
        f"the model file inflates beyond the limits (more than {max_ratio:g} times its "
        f"compressed size, or more than {limit // (1024 * 1024)} MB): refused as a "
        f"decompression bomb, before loading")


def _zlib_reader(handle: IO[bytes], wbits: int = zlib.MAX_WBITS) -> Callable[[], bytes]:
    """Raw zlib (``wbits`` 15) or gzip (31) with members one after the other, in C."""
    decompressor = zlib.decompressobj(wbits)
    pending = b""

    def read() -> bytes:
        nonlocal pending, decompressor
        while True:
            if pending:
                out = decompressor.decompress(pending, CHUNK)
                pending = decompressor.unconsumed_tail
                if decompressor.eof and decompressor.unused_data:
                    if wbits == zlib.MAX_WBITS:
                        return out  # trailing bytes after a zlib stream: not ours to judge
                    pending = decompressor.unused_data + pending  # the next gzip member
                    decompressor = zlib.decompressobj(wbits)
                if out:
                    return out
            if decompressor.eof and not pending:
                return b""
            data = handle.read(READ)
            if not data:
                return decompressor.flush()
            pending += data

    return read


def _opener(compression: str, handle: IO[bytes]) -> Callable[[], bytes]:
    if compression == "zlib":
        return _zlib_reader(handle)
    if compression == "gzip":
        return _zlib_reader(handle, 16 + zlib.MAX_WBITS)
    if compression == "bz2":
        stream: IO[bytes] = bz2.BZ2File(handle, mode="rb")
    elif compression == "xz":
        stream = lzma.LZMAFile(handle, mode="rb", format=lzma.FORMAT_XZ)
    elif compression == "lzma":
        stream = lzma.LZMAFile(handle, mode="rb", format=lzma.FORMAT_ALONE)
    elif compression == "lz4":
        try:
            import lz4.frame
        except ImportError:  # the loader will say it cannot read it
            return lambda: b""
        stream = lz4.frame.LZ4FrameFile(handle, mode="rb")
    else:
        return lambda: b""
    return lambda: stream.read(CHUNK)


def _check_stream(path: str, compression: str, max_bytes: int, max_ratio: float) -> None:
    compressed = os.path.getsize(path)
    limit = inflated_limit(compressed, max_bytes, max_ratio)
    total = 0
    with open(path, "rb") as handle:
        read = _opener(compression, handle)
        while True:
            try:
                chunk = read()
            except (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError, RuntimeError):
                return  # corrupt stream: the loader reports it
            if not chunk:
                return
            total += len(chunk)
            # The ratio so far (against the compressed bytes read): a bomb shows at once.
            if total > limit or (total > RATIO_FREE_BYTES
                                 and total > max_ratio * max(handle.tell(), 1)):
                raise _refuse(limit, max_ratio)


def _check_zip(path: str, max_bytes: int, max_ratio: float) -> None:
    compressed = os.path.getsize(path)
    limit = inflated_limit(compressed, max_bytes, max_ratio)
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return  # the loader reports an unreadable archive
    if len(members) > MAX_ZIP_MEMBERS:
        raise DecompressionBomb(f"the skops archive has {len(members)} members (more than "
                                f"{MAX_ZIP_MEMBERS}): refused")
    total = 0
    for member in members:
        total += member.file_size
        ratio = member.file_size / max(member.compress_size, 1)
        if total > limit or (member.file_size > RATIO_FREE_BYTES and ratio > max_ratio):
            raise _refuse(limit, max_ratio)


def check_path(path: str, max_bytes: int = DEFAULT_MAX_BYTES,
               max_ratio: float = DEFAULT_MAX_RATIO) -> None:
    """Raise ``DecompressionBomb`` if the model file at ``path`` inflates past the limits."""
    try:
        detected = detect_file(path)
    except (UnrecognisedFormat, OSError):
        return  # not a model format: the loader refuses it with the reason
    if detected.format == SKOPS:
        _check_zip(path, max_bytes, max_ratio)
    elif detected.compression:
        _check_stream(path, detected.compression, max_bytes, max_ratio)
