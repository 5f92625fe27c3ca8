"""MultiRecord / SingleRecord packing by byte size, never splitting a record."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sagepack.transform.batching import Batch, RecordTooLarge, line_batches, pack
from sagepack.transform.records import encode_tfrecord, iter_records

SRC = Path("data.csv")


def batches(data: bytes, strategy: str, limit: int | None, split: str = "Line") -> list[bytes]:
    return [b.body for b in pack(iter_records(data, split, SRC), strategy=strategy, limit=limit,
                                 split_type=split, source=SRC)]


def test_multirecord_packs_whole_lines_up_to_the_limit() -> None:
    data = b"aaa\nbbb\ncc\nd\neeeeeee\n"  # line sizes with newline: 4 4 3 2 8
    assert batches(data, "MultiRecord", 8) == [b"aaa\nbbb\n", b"cc\nd\n", b"eeeeeee\n"]
    assert batches(data, "MultiRecord", 11) == [b"aaa\nbbb\ncc\n", b"d\neeeeeee\n"]
    assert batches(data, "MultiRecord", None) == [data]


def test_singlerecord_sends_each_record_without_its_framing() -> None:
    assert batches(b"aaa\nbbb\r\nc", "SingleRecord", 100) == [b"aaa", b"bbb", b"c"]


def test_a_record_over_the_limit_raises_after_the_batches_before_it() -> None:
    data = b"ok\nok\n" + b"x" * 20 + b"\nok\n"
    got: list[bytes] = []
    with pytest.raises(RecordTooLarge, match=r"data.csv: record 3 is 21 bytes, larger than"):
        for b in pack(iter_records(data, "Line", SRC), strategy="MultiRecord", limit=10,
                      split_type="Line", source=SRC):
            got.append(b.body)
    assert got == [b"ok\nok\n"]


def test_split_none_over_the_limit_names_the_whole_file() -> None:
    with pytest.raises(RecordTooLarge, match=r"the whole file \(SplitType None\) is 11 bytes"):
        batches(b"0123456789\n", "MultiRecord", 10, "None")


def test_tfrecord_multirecord_keeps_framing_and_singlerecord_removes_it() -> None:
    records = [encode_tfrecord(p) for p in (b"one", b"two", b"three")]
    data = b"".join(records)
    limit = len(records[0]) + len(records[1])
    assert batches(data, "MultiRecord", limit, "TFRecord") == [records[0] + records[1], records[2]]
    assert batches(data, "SingleRecord", limit, "TFRecord") == [b"one", b"two", b"three"]


def test_batches_count_records_and_describe_them() -> None:
    got = list(pack(iter_records(b"a\nb\nc\n", "Line", SRC), strategy="MultiRecord", limit=4,
                    split_type="Line", source=SRC))
    assert [(b.first, b.count, b.describe()) for b in got] == [
        (0, 2, "records 1-2"), (2, 1, "record 3")]


@pytest.mark.parametrize("limit", [2, 3, 5, 8, 13, 64, None])
def test_fast_line_batches_match_the_general_packer(limit: int | None) -> None:
    data = b"a\nbb\nccc\n\ndddd\ne\nff\nggg"

    def outcome(batches: Iterator[Batch]) -> list[object]:
        got: list[object] = []
        try:
            got.extend((b.first, b.count, b.body) for b in batches)
        except RecordTooLarge as exc:
            got.append(str(exc))
        return got

    slow = outcome(pack(iter_records(data, "Line", SRC), strategy="MultiRecord", limit=limit,
                        split_type="Line", source=SRC))
    assert outcome(line_batches(data, limit, SRC)) == slow
    assert slow


def test_fast_line_batches_refuse_a_long_line_with_its_number() -> None:
    with pytest.raises(RecordTooLarge, match="record 3 is 7 bytes"):
        list(line_batches(b"a\nb\n123456\nc\n", 4, SRC))
