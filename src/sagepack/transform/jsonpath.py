"""The subset of JSONPath that SageMaker batch transform accepts in its data processing.

SageMaker documents these operators for ``InputFilter`` and ``OutputFilter``
(Developer Guide, "Associate Prediction Results with Input Records"):

=================  ===========================================  ==========================
operator           meaning                                      example
=================  ===========================================  ==========================
``$``              the root; every expression starts with it    ``$``
``.<name>``        a child by name                              ``$.features``
``*``              every child (object values, array items)     ``$.id.*``
``['a','b']``      one or several children by name              ``$['id','SageMakerOutput']``
``[i,j]``          one or several indexes, negatives allowed    ``$[1]``, ``$[0,-1]``
``[start:end]``    a slice; either bound may be omitted         ``$[1:]``, ``$[:5]``
=================  ===========================================  ==========================

Two points follow SageMaker's documentation rather than other JSONPath dialects:

* Slices include their end: "``$[1:4]`` specifies the second through fifth columns",
  "``[:5]`` includes all columns from the first column (index 0) through the sixth".
* An index outside the array is an error, not an empty result ("If you specify indexes
  that aren't within the dimension size of the joined dataset, you get an error").

Selecting one name or one index yields that value; several names yield an object with
those keys (in the order written); several indexes, slices or a wildcard yield an array.
Index lists and slices may be mixed, as in ``$[0,5:]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["JsonPath", "JsonPathError", "compile_path"]

MAX_LENGTH = 63  # DataProcessing.InputFilter / OutputFilter length constraint


class JsonPathError(ValueError):
    """An expression outside the supported subset, or one that does not fit the data."""


@dataclass(frozen=True)
class _Name:
    names: tuple[str, ...]


@dataclass(frozen=True)
class _Wildcard:
    pass


@dataclass(frozen=True)
class _Slice:
    start: int | None
    end: int | None  # inclusive, as SageMaker documents


@dataclass(frozen=True)
class _Index:
    items: tuple[int | _Slice, ...]


_Step = _Name | _Wildcard | _Index

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
_QUOTED = re.compile(r"\s*(?:'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\")\s*")
_INT = re.compile(r"\s*(-?\d+)?\s*")


@dataclass(frozen=True)
class JsonPath:
    """A compiled expression; :meth:`apply` evaluates it on parsed JSON."""

    expression: str
    steps: tuple[_Step, ...]

    @property
    def is_identity(self) -> bool:
        return not self.steps

    def apply(self, value: Any) -> Any:
        """Select from ``value``; raises :class:`JsonPathError` when the data does not fit."""
        return _apply(self.steps, value, self.expression)


def compile_path(expression: str) -> JsonPath:
    """Parse ``expression``; raises :class:`JsonPathError` naming what is wrong and where."""
    expr = expression.strip()
    if not expr.startswith("$"):
        raise JsonPathError(f"JSONPath {expression!r} must start with '$'")
    if len(expression) > MAX_LENGTH:
        raise JsonPathError(
            f"JSONPath {expression!r} is {len(expression)} characters long; "
            f"SageMaker accepts at most {MAX_LENGTH}"
        )
    steps: list[_Step] = []
    pos = 1
    while pos < len(expr):
        ch = expr[pos]
        if expr.startswith("..", pos):
            raise JsonPathError(
                f"JSONPath {expression!r}: deep scan '..' is not supported by SageMaker"
            )
        if ch == ".":
            pos += 1
            if pos < len(expr) and expr[pos] == "[":
                continue  # '$.field.['a','b']' is documented as valid
            if pos < len(expr) and expr[pos] == "*":
                steps.append(_Wildcard())
                pos += 1
                continue
            m = _IDENT.match(expr, pos)
            if m is None:
                raise JsonPathError(
                    f"JSONPath {expression!r}: expected a name after '.' at position {pos}"
                )
            steps.append(_Name((m.group(0),)))
            pos = m.end()
        elif ch == "[":
            close = _find_close(expr, pos, expression)
            steps.append(_parse_bracket(expr[pos + 1 : close], expression))
            pos = close + 1
        else:
            raise JsonPathError(f"JSONPath {expression!r}: unexpected {ch!r} at position {pos}")
    for i, step in enumerate(steps[:-1]):
        if isinstance(step, _Name) and len(step.names) > 1:
            raise JsonPathError(
                f"JSONPath {expression!r}: a list of names must be the last step "
                f"(step {i + 1} is followed by more)"
            )
    return JsonPath(expression, tuple(steps))


def _find_close(expr: str, start: int, original: str) -> int:
    quote: str | None = None
    i = start + 1
    while i < len(expr):
        c = expr[i]
        if quote:
            if c == "\\":
                i += 2
                continue
            if c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c == "]":
            return i
        i += 1
    raise JsonPathError(f"JSONPath {original!r}: '[' at position {start} is never closed")


def _parse_bracket(inner: str, original: str) -> _Step:
    text = inner.strip()
    if text == "*":
        return _Wildcard()
    if text.startswith(("'", '"')):
        names: list[str] = []
        pos = 0
        while True:
            m = _QUOTED.match(text, pos)
            if m is None:
                raise JsonPathError(f"JSONPath {original!r}: bad name list [{inner}]")
            raw = m.group(1) if m.group(1) is not None else m.group(2)
            names.append(re.sub(r"\\(.)", r"\1", raw))
            pos = m.end()
            if pos == len(text):
                return _Name(tuple(names))
            if text[pos] != ",":
                raise JsonPathError(f"JSONPath {original!r}: bad name list [{inner}]")
            pos += 1
    items: list[int | _Slice] = []
    for part in text.split(","):
        if ":" in part:
            bounds = part.split(":")
            if len(bounds) != 2:
                raise JsonPathError(
                    f"JSONPath {original!r}: slice [{part.strip()}] takes start:end (no step)"
                )
            start, end = (_parse_int(b, original, allow_empty=True) for b in bounds)
            items.append(_Slice(start, end))
        else:
            index = _parse_int(part, original, allow_empty=False)
            assert index is not None
            items.append(index)
    return _Index(tuple(items))


def _parse_int(text: str, original: str, *, allow_empty: bool) -> int | None:
    m = _INT.fullmatch(text)
    if m is None or (m.group(1) is None and not allow_empty):
        raise JsonPathError(f"JSONPath {original!r}: {text.strip()!r} is not an index")
    return int(m.group(1)) if m.group(1) is not None else None


def _apply(steps: tuple[_Step, ...], value: Any, expr: str) -> Any:
    if not steps:
        return value
    step, rest = steps[0], steps[1:]
    if isinstance(step, _Name):
        if not isinstance(value, dict):
            raise JsonPathError(
                f"JSONPath {expr!r}: cannot select {list(step.names)} from a "
                f"{_kind(value)}"
            )
        missing = [n for n in step.names if n not in value]
        if missing:
            raise JsonPathError(f"JSONPath {expr!r}: no attribute {missing[0]!r} in the record")
        if len(step.names) == 1:
            return _apply(rest, value[step.names[0]], expr)
        return {n: value[n] for n in step.names}
    if isinstance(step, _Wildcard):
        if isinstance(value, dict):
            return [_apply(rest, v, expr) for v in value.values()]
        if isinstance(value, list):
            return [_apply(rest, v, expr) for v in value]
        raise JsonPathError(f"JSONPath {expr!r}: '*' applied to a {_kind(value)}")
    if not isinstance(value, list):
        raise JsonPathError(f"JSONPath {expr!r}: indexes applied to a {_kind(value)}")
    if len(step.items) == 1 and isinstance(step.items[0], int):
        return _apply(rest, value[_checked(step.items[0], len(value), expr)], expr)
    selected: list[Any] = []
    for item in step.items:
        if isinstance(item, int):
            selected.append(value[_checked(item, len(value), expr)])
        else:
            selected.extend(value[_slice_range(item, len(value), expr)])
    return [_apply(rest, v, expr) for v in selected]


def _checked(index: int, size: int, expr: str) -> int:
    if not -size <= index < size:
        raise JsonPathError(
            f"JSONPath {expr!r}: index {index} is outside the record's {size} elements"
        )
    return index % size


def _slice_range(item: _Slice, size: int, expr: str) -> slice:
    start = 0 if item.start is None else _checked(item.start, size, expr)
    end = size - 1 if item.end is None else _checked(item.end, size, expr)
    return slice(start, end + 1)


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return type(value).__name__ if value is not None else "null"
