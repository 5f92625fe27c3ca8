"""Splitting input objects into records: Line, RecordIO and TFRecord framing, gzip."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import pytest

from sagepack.errors import TransformError
from sagepack.transform.records import (
    CRC32C_IMPLEMENTATION,
    Record,
    crc32c,
    encode_recordio,
    encode_tfrecord,
    iter_records,
    masked_crc32c,
    open_input,
)

SRC = Path("input.bin")
MAGIC = bytes.fromhex("0a23d7ce")  # 0xced7230a, little-endian


def test_lines_keep_their_newline_as_framing_and_a_final_newline_adds_no_record() -> None:
    records = list(iter_records(b"a,1\nb,2\r\n\nc,3", "Line", SRC))
    assert records == [
        Record(b"a,1\n", b"a,1"),
        Record(b"b,2\r\n", b"b,2"),
        Record(b"\n", b""),
        Record(b"c,3", b"c,3"),
    ]
    assert len(list(iter_records(b"a\nb\n", "Line", SRC))) == 2


def test_split_none_is_one_record_and_an_empty_file_has_none() -> None:
    assert list(iter_records(b"whole\nfile", "None", SRC)) == [
        Record(b"whole\nfile", b"whole\nfile")
    ]
    assert list(iter_records(b"", "None", SRC)) == []
    assert list(iter_records(b"", "Line", SRC)) == []


def test_recordio_framing_is_magic_length_data_padding() -> None:
    framed = encode_recordio(b"abcde")
    assert framed == MAGIC + struct.pack("<I", 5) + b"abcde" + b"\0\0\0"
    assert list(iter_records(framed, "RecordIO", SRC)) == [Record(framed, b"abcde")]


def test_recordio_record_containing_the_magic_number_is_split_into_parts() -> None:
    payload = b"ab\0\0" + MAGIC + b"xyz"
    framed = encode_recordio(payload)
    # first part: cflag 1, 4 bytes; last part: cflag 3, 3 bytes + 1 byte of padding
    assert framed == (
        MAGIC + struct.pack("<I", (1 << 29) | 4) + b"ab\0\0"
        + MAGIC + struct.pack("<I", (3 << 29) | 3) + b"xyz\0"
    )
    data = framed + encode_recordio(b"next")
    assert [r.data for r in iter_records(data, "RecordIO", SRC)] == [payload, b"next"]
    assert next(iter(iter_records(data, "RecordIO", SRC))).framed == framed


def test_recordio_with_a_bad_magic_fails_naming_file_record_and_offset() -> None:
    data = encode_recordio(b"good") + b"\x00\x00\x00\x00" + struct.pack("<I", 4) + b"oops"
    with pytest.raises(TransformError, match=r"input.bin: RecordIO record 1 at byte 12: bad magic"):
        list(iter_records(data, "RecordIO", SRC))


def test_recordio_truncated_fails() -> None:
    with pytest.raises(TransformError, match="file ends first"):
        list(iter_records(encode_recordio(b"abcdefgh")[:-3], "RecordIO", SRC))


def test_crc32c_check_value_and_tfrecord_mask() -> None:
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"") == 0
    crc = crc32c(b"abc")
    assert masked_crc32c(b"abc") == ((((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF)


def _reference_crc32c(data: bytes) -> int:
    """CRC-32C bit by bit (reflected polynomial 0x82F63B78), the definition itself."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


@pytest.mark.parametrize("size", [1, 7, 8, 63, 64, 1000, 4097])
def test_crc32c_agrees_with_the_definition(size: int) -> None:
    import random

    data = random.Random(size).randbytes(size)
    assert crc32c(data) == _reference_crc32c(data)


def test_crc32c_runs_the_c_implementation() -> None:
    import google_crc32c

    # The pure-Python fallback is about 40 times slower on TFRecord input.
    assert CRC32C_IMPLEMENTATION == google_crc32c.implementation == "c"


def test_tfrecord_framing_is_length_crc_data_crc() -> None:
    framed = encode_tfrecord(b"hello")
    header = struct.pack("<Q", 5)
    assert framed == (
        header + struct.pack("<I", masked_crc32c(header)) + b"hello"
        + struct.pack("<I", masked_crc32c(b"hello"))
    )
    data = framed + encode_tfrecord(b"") + encode_tfrecord(b"world!")
    records = list(iter_records(data, "TFRecord", SRC))
    assert [r.data for r in records] == [b"hello", b"", b"world!"]
    assert b"".join(r.framed for r in records) == data


def test_tfrecord_corrupted_data_fails_on_its_checksum() -> None:
    data = bytearray(encode_tfrecord(b"hello") + encode_tfrecord(b"world"))
    data[len(data) - 6] ^= 0xFF  # flip a byte of the second record's data
    with pytest.raises(TransformError, match="TFRecord record 1 at byte 21: data checksum"):
        list(iter_records(bytes(data), "TFRecord", SRC))


def test_tfrecord_corrupted_length_fails_on_its_checksum() -> None:
    data = bytearray(encode_tfrecord(b"hello"))
    data[0] = 6
    with pytest.raises(TransformError, match="length checksum mismatch"):
        list(iter_records(bytes(data), "TFRecord", SRC))


def test_open_input_decompresses_gzip_and_maps_plain_files(tmp_path: Path) -> None:
    plain = tmp_path / "a.csv"
    plain.write_bytes(b"1,2\n3,4\n")
    packed = tmp_path / "a.csv.gz"
    packed.write_bytes(gzip.compress(b"1,2\n3,4\n"))
    empty = tmp_path / "e.csv"
    empty.write_bytes(b"")
    with open_input(plain, "None") as data:
        assert data[:] == b"1,2\n3,4\n"
    with open_input(packed, "Gzip") as data:
        assert data == b"1,2\n3,4\n"
    with open_input(empty, "None") as data:
        assert data == b""


def test_open_input_names_a_file_that_is_not_gzip(tmp_path: Path) -> None:
    bad = tmp_path / "bad.gz"
    bad.write_bytes(b"not gzip at all")
    with pytest.raises(TransformError, match=r"bad.gz: not a valid gzip file"), \
            open_input(bad, "Gzip"):
        pass
