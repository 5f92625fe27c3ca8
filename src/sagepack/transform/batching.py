"""Packing records into request payloads, as SageMaker's ``BatchStrategy`` does.

* ``SingleRecord``: one record per request, its framing and padding removed.
* ``MultiRecord``: as many whole records as fit in ``MaxPayloadInMB`` (MB = 2**20 bytes),
  in file order, framing kept (lines keep their newline, RecordIO and TFRecord records
  their headers and padding). A record is never split: one larger than the limit fails
  its file. ``MaxPayloadInMB`` 0 lifts the limit (the whole file goes in one request).
"""

from __future__ import annotations

import mmap
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sagepack.errors import TransformError
from sagepack.transform.records import Record

__all__ = ["Batch", "RecordTooLarge", "line_batches", "pack"]


class RecordTooLarge(TransformError):
    """A record does not fit in ``MaxPayloadInMB``."""


@dataclass(frozen=True)
class Batch:
    """One request: ``count`` records starting at record ``first`` (0-based) of a file."""

    first: int
    count: int
    body: bytes
    source_bytes: int
    inputs: tuple[bytes, ...] = ()  # the records' data, kept when outputs are joined

    def describe(self) -> str:
        """``record 4`` or ``records 4-9`` (1-based), for messages."""
        if self.count == 1:
            return f"record {self.first + 1}"
        return f"records {self.first + 1}-{self.first + self.count}"


def _too_large(source: Path, index: int, size: int, limit: int, split_type: str) -> RecordTooLarge:
    what = "the whole file (SplitType None)" if split_type == "None" else f"record {index + 1}"
    mb = 1024 * 1024
    bound = (f"MaxPayloadInMB {limit // mb} ({limit:,} bytes)" if limit % mb == 0
             else f"the payload limit of {limit:,} bytes")
    return RecordTooLarge(f"{source}: {what} is {size:,} bytes, larger than {bound}; "
                          "a record is never split")


def pack(
    records: Iterable[Record],
    *,
    strategy: str,
    limit: int | None,
    split_type: str,
    source: Path,
    transform: Callable[[bytes], bytes] | None = None,
    keep_inputs: bool = False,
) -> Iterator[Batch]:
    """Batches of ``records``; ``transform`` (an input filter) applies to each record's data.

    Raises :class:`RecordTooLarge` when a record does not fit, after yielding the batches
    before it.
    """
    pending: list[bytes] = []
    inputs: list[bytes] = []
    size = source_bytes = 0
    first = 0
    index = -1
    for index, record in enumerate(records):
        data = transform(record.data) if transform else record.data
        if strategy == "SingleRecord" or split_type == "None":
            unit = data
        elif transform is not None:
            unit = data + b"\n"  # filtered lines are sent one per line
        else:
            unit = record.framed
        if limit is not None and len(unit) > limit:
            if pending:
                yield Batch(first, len(pending), b"".join(pending), source_bytes, tuple(inputs))
            raise _too_large(source, index, len(unit), limit, split_type)
        if strategy == "SingleRecord":
            yield Batch(index, 1, unit, len(record.framed), (record.data,) if keep_inputs else ())
            continue
        if pending and limit is not None and size + len(unit) > limit:
            yield Batch(first, len(pending), b"".join(pending), source_bytes, tuple(inputs))
            pending, inputs, size, source_bytes, first = [], [], 0, 0, index
        pending.append(unit)
        if keep_inputs:
            inputs.append(record.data)
        size += len(unit)
        source_bytes += len(record.framed)
    if pending:
        yield Batch(first, len(pending), b"".join(pending), source_bytes, tuple(inputs))


def line_batches(data: bytes | mmap.mmap, limit: int | None, source: Path) -> Iterator[Batch]:
    """MultiRecord batches of a Line-split file without data processing, found by slicing.

    The same batches :func:`pack` makes, without a Python object per record.
    """
    pos, size, first = 0, len(data), 0
    while pos < size:
        end = size if limit is None or pos + limit >= size else -1
        if end < 0:
            assert limit is not None
            nl = data.rfind(b"\n", pos, pos + limit)
            if nl < 0:
                nxt = data.find(b"\n", pos)
                rec_size = (size if nxt < 0 else nxt + 1) - pos
                raise _too_large(source, first, rec_size, limit, "Line")
            end = nl + 1
        chunk = bytes(data[pos:end])
        count = chunk.count(b"\n") + (0 if chunk.endswith(b"\n") else 1)
        yield Batch(first, count, chunk, len(chunk))
        first += count
        pos = end
