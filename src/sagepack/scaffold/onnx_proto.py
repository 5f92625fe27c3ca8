"""The graph inputs of an ONNX model, read from its protobuf without the onnx package.

Only the fields needed are decoded: ``ModelProto.graph`` (7) -> ``GraphProto.input`` (11)
and ``initializer`` (5) -> ``ValueInfoProto`` name (1) and type (2) -> ``TypeProto``
tensor_type (1) -> elem_type (1) and shape (2) -> dim (1) -> dim_value (1) or dim_param (2).
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# TensorProto.DataType values and the numpy names of the common ones.
ELEM_TYPES = {1: "float32", 2: "uint8", 3: "int8", 5: "int16", 6: "int32", 7: "int64",
              9: "bool", 10: "float16", 11: "float64"}


class _Malformed(ValueError):
    pass


@dataclass(frozen=True)
class OnnxInput:
    name: str
    elem_type: str
    shape: tuple[int | str | None, ...]
    """Each dimension: a size, a symbolic name ("batch"), or None when unset."""


def _varint(data: bytes | mmap.mmap, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise _Malformed("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _fields(data: bytes | mmap.mmap, start: int, end: int
            ) -> Iterator[tuple[int, int, int | tuple[int, int]]]:
    """(field number, wire type, varint value or (start, end) of a length-delimited one)."""
    pos = start
    while pos < end:
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            yield number, wire, value
        elif wire == 2:
            size, pos = _varint(data, pos)
            if pos + size > end:
                raise _Malformed("field runs past its message")
            yield number, wire, (pos, pos + size)
            pos += size
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        else:
            raise _Malformed(f"unsupported wire type {wire}")


def _sub(data: bytes | mmap.mmap, span: int | tuple[int, int], number: int
         ) -> Iterator[tuple[int, int]]:
    if isinstance(span, tuple):
        for field, wire, value in _fields(data, *span):
            if field == number and wire == 2 and isinstance(value, tuple):
                yield value


def _text(data: bytes | mmap.mmap, span: tuple[int, int]) -> str:
    return bytes(data[span[0]:span[1]]).decode("utf-8", errors="replace")


def _input(data: bytes | mmap.mmap, span: tuple[int, int]) -> OnnxInput:
    name, elem, dims = "", "", []
    for field, wire, value in _fields(data, *span):
        if field == 1 and wire == 2 and isinstance(value, tuple):
            name = _text(data, value)
        elif field == 2 and wire == 2:
            for tensor in _sub(data, value, 1):
                for f, _, v in _fields(data, *tensor):
                    if f == 1 and isinstance(v, int):
                        elem = ELEM_TYPES.get(v, f"type {v}")
                for shape in _sub(data, tensor, 2):
                    for dim in _sub(data, shape, 1):
                        size: int | str | None = None
                        for f, _, v in _fields(data, *dim):
                            if f == 1 and isinstance(v, int):
                                size = v
                            elif f == 2 and isinstance(v, tuple):
                                size = _text(data, v)
                        dims.append(size)
    return OnnxInput(name, elem, tuple(dims))


def read_inputs(path: Path) -> tuple[OnnxInput, ...] | None:
    """The graph's inputs (initializers left out), or None when the file does not parse."""
    try:
        with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
            graphs = list(_sub(data, (0, len(data)), 7))
            if not graphs:
                return None
            inputs: list[OnnxInput] = []
            initialized: set[str] = set()
            for field, wire, value in _fields(data, *graphs[0]):
                if field == 11 and wire == 2 and isinstance(value, tuple):
                    inputs.append(_input(data, value))
                elif field == 5 and wire == 2 and isinstance(value, tuple):
                    for f, w, v in _fields(data, *value):
                        if f == 8 and w == 2 and isinstance(v, tuple):  # TensorProto.name
                            initialized.add(_text(data, v))
            return tuple(i for i in inputs if i.name not in initialized)
    except (OSError, ValueError):
        return None
