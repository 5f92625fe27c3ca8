"""Reading input objects and splitting them into records, as SageMaker's ``SplitType`` does.

* ``None``: the whole object is one record.
* ``Line``: a record is a line; its ``\\n`` (and a ``\\r`` before it) is framing. A final
  newline does not start an empty record; empty lines inside the file are records.
* ``RecordIO``: MXNet/dmlc RecordIO. Each part is ``magic 0xced7230a`` (uint32 LE), a length
  word whose top 3 bits are the continuation flag (0 whole, 1 first, 2 middle, 3 last) and
  whose low 29 bits are the part length, the data, then zero padding to 4 bytes. A record
  whose data contains the magic number is written in several parts; reading it back puts
  the magic number between them.
* ``TFRecord``: uint64 LE length, masked CRC-32C of those 8 bytes, the data, masked
  CRC-32C of the data. Both checksums are verified.

Every record keeps its framed bytes (what a MultiRecord request carries: SageMaker does not
remove framing or padding then) and its data (what a SingleRecord request carries: framing
and padding removed).
"""

from __future__ import annotations

import gzip
import mmap
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import google_crc32c

from sagepack.errors import TransformError

__all__ = [
    "CRC32C_IMPLEMENTATION",
    "RECORDIO_MAGIC",
    "Record",
    "crc32c",
    "encode_recordio",
    "encode_tfrecord",
    "iter_records",
    "masked_crc32c",
    "open_input",
]

RECORDIO_MAGIC = 0xCED7230A
_MAGIC_BYTES = struct.pack("<I", RECORDIO_MAGIC)
_LEN_MASK = (1 << 29) - 1


class RecordFormatError(TransformError):
    """An input object is not valid in the declared ``SplitType`` format."""


@dataclass(frozen=True)
class Record:
    """One record: ``framed`` is the bytes as found in the file, ``data`` without framing."""

    framed: bytes
    data: bytes


# --- reading ------------------------------------------------------------------------


@contextmanager
def open_input(path: Path, compression: str) -> Iterator[bytes | mmap.mmap]:
    """The whole (decompressed) content of ``path``; plain files are memory-mapped."""
    if compression == "Gzip":
        try:
            with gzip.open(path, "rb") as fh:
                content = fh.read()
        except (OSError, EOFError, zlib.error) as exc:
            raise RecordFormatError(f"{path}: not a valid gzip file ({exc})") from exc
        yield content
        return
    with path.open("rb") as fh:
        if path.stat().st_size == 0:
            yield b""
            return
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            yield mapped


def iter_records(data: bytes | mmap.mmap, split_type: str, source: Path) -> Iterator[Record]:
    """Records of ``data`` in file order; raises :class:`RecordFormatError` on bad framing."""
    if split_type == "None":
        if len(data):
            whole = bytes(data)
            yield Record(whole, whole)
    elif split_type == "Line":
        yield from _lines(data)
    elif split_type == "RecordIO":
        yield from _recordio(data, source)
    elif split_type == "TFRecord":
        yield from _tfrecord(data, source)
    else:
        raise TransformError(f"unknown SplitType {split_type!r}")


def _lines(data: bytes | mmap.mmap) -> Iterator[Record]:
    pos, size = 0, len(data)
    while pos < size:
        nl = data.find(b"\n", pos)
        end = size if nl < 0 else nl + 1
        framed = bytes(data[pos:end])
        yield Record(framed, framed.rstrip(b"\n").removesuffix(b"\r"))
        pos = end


def _recordio(data: bytes | mmap.mmap, source: Path) -> Iterator[Record]:
    pos, size, index = 0, len(data), 0
    while pos < size:
        start = pos
        parts: list[bytes] = []
        while True:
            if pos + 8 > size:
                raise RecordFormatError(
                    f"{source}: RecordIO record {index} is truncated at byte {pos} "
                    "(no room for a header)"
                )
            magic, lrec = struct.unpack_from("<II", data, pos)
            if magic != RECORDIO_MAGIC:
                raise RecordFormatError(
                    f"{source}: RecordIO record {index} at byte {pos}: bad magic "
                    f"0x{magic:08x} (expected 0x{RECORDIO_MAGIC:08x})"
                )
            cflag, length = lrec >> 29, lrec & _LEN_MASK
            padded = (length + 3) & ~3
            if pos + 8 + padded > size:
                raise RecordFormatError(
                    f"{source}: RecordIO record {index} at byte {pos} declares {length} "
                    f"bytes but the file ends first"
                )
            if not parts and cflag not in (0, 1):
                raise RecordFormatError(
                    f"{source}: RecordIO record {index} at byte {pos} starts with "
                    f"continuation flag {cflag}"
                )
            if parts and cflag not in (2, 3):
                raise RecordFormatError(
                    f"{source}: RecordIO record {index} at byte {pos}: expected a "
                    f"continuation part, found flag {cflag}"
                )
            parts.append(bytes(data[pos + 8 : pos + 8 + length]))
            pos += 8 + padded
            if cflag in (0, 3):
                break
        yield Record(bytes(data[start:pos]), _MAGIC_BYTES.join(parts))
        index += 1


def _tfrecord(data: bytes | mmap.mmap, source: Path) -> Iterator[Record]:
    pos, size, index = 0, len(data), 0
    while pos < size:
        if pos + 12 > size:
            raise RecordFormatError(
                f"{source}: TFRecord record {index} is truncated at byte {pos}"
            )
        header = bytes(data[pos : pos + 8])
        (length,) = struct.unpack("<Q", header)
        (len_crc,) = struct.unpack_from("<I", data, pos + 8)
        if masked_crc32c(header) != len_crc:
            raise RecordFormatError(
                f"{source}: TFRecord record {index} at byte {pos}: length checksum mismatch"
            )
        end = pos + 12 + length + 4
        if end > size:
            raise RecordFormatError(
                f"{source}: TFRecord record {index} at byte {pos} declares {length} bytes "
                "but the file ends first"
            )
        payload = bytes(data[pos + 12 : pos + 12 + length])
        (data_crc,) = struct.unpack_from("<I", data, pos + 12 + length)
        if masked_crc32c(payload) != data_crc:
            raise RecordFormatError(
                f"{source}: TFRecord record {index} at byte {pos}: data checksum mismatch"
            )
        yield Record(bytes(data[pos:end]), payload)
        pos, index = end, index + 1


# --- writing (for tests, samples and benchmarks) ------------------------------------


def encode_recordio(payload: bytes) -> bytes:
    """One record in RecordIO framing, split at embedded magic numbers like dmlc does."""
    out = bytearray()
    size = len(payload)
    dptr = 0
    for i in range(0, size - size % 4, 4):
        if payload[i : i + 4] == _MAGIC_BYTES:
            out += _MAGIC_BYTES + struct.pack("<I", ((1 if dptr == 0 else 2) << 29) | (i - dptr))
            out += payload[dptr:i]
            dptr = i + 4
    out += _MAGIC_BYTES + struct.pack("<I", ((3 if dptr else 0) << 29) | (size - dptr))
    out += payload[dptr:]
    out += b"\0" * (-size % 4)
    return bytes(out)


def encode_tfrecord(payload: bytes) -> bytes:
    """One record in TFRecord framing."""
    header = struct.pack("<Q", len(payload))
    return b"".join(
        (
            header,
            struct.pack("<I", masked_crc32c(header)),
            payload,
            struct.pack("<I", masked_crc32c(payload)),
        )
    )


# --- CRC-32C (Castagnoli), as TFRecord uses it --------------------------------------

# google-crc32c's C extension (hardware CRC32 instructions where the CPU has them). Without
# a wheel for the host it falls back to pure Python and warns (RuntimeWarning) on import;
# "c" or "python" says which one runs, and the transform benchmark reports it.
CRC32C_IMPLEMENTATION: str = google_crc32c.implementation


def crc32c(data: bytes) -> int:
    """CRC-32C of ``data`` (``crc32c(b"123456789") == 0xE3069283``)."""
    return int(google_crc32c.value(data))


def masked_crc32c(data: bytes) -> int:
    """The masked CRC TFRecord stores: rotate right by 15 bits, add ``0xa282ead8``."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF
