"""Model file format detection by magic bytes (never by file name).

Only the first bytes are looked at, so this is safe to run in the service
process: nothing is parsed, decompressed or loaded here.
"""

from __future__ import annotations

from dataclasses import dataclass

HEAD_BYTES = 16

PICKLE = "pickle"
JOBLIB = "joblib"
SKOPS = "skops"
ONNX = "onnx"

FORMATS = (PICKLE, JOBLIB, SKOPS, ONNX)

CONTENT_TYPES = {
    PICKLE: "application/python-pickle",
    JOBLIB: "application/x-joblib",
    SKOPS: "application/x-skops",
    ONNX: "application/onnx",
}

#: joblib's compressed containers, by magic prefix (joblib.compressor._COMPRESSORS).
_COMPRESSED = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bz2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"]\x00\x00", "lzma"),
    (b'\x04"M\x18', "lz4"),
)

#: Protobuf tags of ModelProto fields that may follow ``ir_version`` (field 1).
_ONNX_NEXT_TAGS = {0x12, 0x1A, 0x22, 0x28, 0x32, 0x3A, 0x42, 0x72, 0x7A, 0x82}


class UnrecognisedFormat(ValueError):
    """Not a model file format the platform knows."""

    def __init__(self, message: str, reason: str = "unrecognised_format"):
        self.reason = reason
        super().__init__(message)


@dataclass(frozen=True)
class Detected:
    format: str
    compression: str | None = None


def _is_zlib(head: bytes) -> bool:
    # joblib's zlib files start with a raw zlib header: CMF 0x78 and a
    # FLG byte making (CMF*256 + FLG) a multiple of 31.
    return len(head) >= 2 and head[0] == 0x78 and (head[0] * 256 + head[1]) % 31 == 0


def _is_onnx(head: bytes) -> bool:
    # ModelProto starts with field 1 (ir_version, varint): tag 0x08, a small
    # version, then another known field.
    return len(head) >= 3 and head[0] == 0x08 and 1 <= head[1] <= 30 and head[2] in _ONNX_NEXT_TAGS


def detect_format(head: bytes) -> Detected:
    """Format of a model file from its first bytes (at least ``HEAD_BYTES``).

    >>> detect_format(b"\\x80\\x04\\x95...").format
    'pickle'

    Raises ``UnrecognisedFormat`` for anything else (text, random bytes, empty).
    """
    if not head:
        raise UnrecognisedFormat("the file is empty", reason="empty_file")
    if head[0] == 0x80 and len(head) > 1:
        if 2 <= head[1] <= 5:
            return Detected(PICKLE)
        raise UnrecognisedFormat(f"unsupported pickle protocol {head[1]}")
    if _is_zlib(head):
        return Detected(JOBLIB, "zlib")
    for prefix, name in _COMPRESSED:
        if head.startswith(prefix):
            return Detected(JOBLIB, name)
    if head.startswith(b"PK\x03\x04"):
        return Detected(SKOPS)
    if _is_onnx(head):
        return Detected(ONNX)
    raise UnrecognisedFormat(
        "not a recognised model file: expected a pickle/joblib, skops or ONNX file"
    )


def detect_file(path: str) -> Detected:
    with open(path, "rb") as handle:
        return detect_format(handle.read(HEAD_BYTES))
