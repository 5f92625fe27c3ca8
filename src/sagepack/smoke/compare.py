"""Does a response match the expected one? Structure equal, numbers within a tolerance."""

from __future__ import annotations

import json
import math
import re
from typing import Any

REL_TOL = 1e-4
ABS_TOL = 1e-6
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_MAX_DIFFS = 5


def _close(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL)


def _json_diffs(actual: Any, expected: Any, path: str, out: list[str]) -> None:
    if len(out) >= _MAX_DIFFS:
        return
    number = (int, float)
    if isinstance(expected, number) and not isinstance(expected, bool):
        if not (isinstance(actual, number) and not isinstance(actual, bool)
                and _close(float(actual), float(expected))):
            out.append(f"{path}: got {actual!r}, expected {expected!r}")
    elif isinstance(expected, dict):
        if not isinstance(actual, dict):
            out.append(f"{path}: got {type(actual).__name__}, expected an object")
            return
        if set(actual) != set(expected):
            out.append(f"{path}: keys {sorted(actual)}, expected {sorted(expected)}")
        for key in sorted(set(actual) & set(expected)):
            _json_diffs(actual[key], expected[key], f"{path}.{key}", out)
    elif isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            out.append(f"{path}: got {str(actual)[:200]}, expected {len(expected)} items")
            return
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            _json_diffs(a, e, f"{path}[{i}]", out)
    elif actual != expected:
        out.append(f"{path}: got {actual!r}, expected {expected!r}")


def _tokens(line: str) -> list[str | float]:
    out: list[str | float] = []
    pos = 0
    for m in _NUMBER.finditer(line):
        if m.start() > pos:
            out.append(line[pos:m.start()])
        out.append(float(m.group(0)))
        pos = m.end()
    if pos < len(line):
        out.append(line[pos:])
    return out


def _text_diffs(actual: str, expected: str) -> list[str]:
    a_lines = actual.strip("\n").split("\n")
    e_lines = expected.strip("\n").split("\n")
    out: list[str] = []
    if len(a_lines) != len(e_lines):
        out.append(f"{len(a_lines)} lines, expected {len(e_lines)}")
    for n, (a, e) in enumerate(zip(a_lines, e_lines, strict=False), start=1):
        ta, te = _tokens(a.rstrip("\r")), _tokens(e.rstrip("\r"))
        same = len(ta) == len(te) and all(
            _close(x, y) if isinstance(x, float) and isinstance(y, float) else x == y
            for x, y in zip(ta, te, strict=True))
        if not same:
            out.append(f"line {n}: got {a[:200]!r}, expected {e[:200]!r}")
        if len(out) >= _MAX_DIFFS:
            break
    return out


def response_diffs(actual: bytes, expected: bytes, media_type: str) -> list[str]:
    """Differences between two response bodies (empty when they match)."""
    media = media_type.split(";")[0].strip().lower()
    if media.endswith("json") and "lines" not in media:
        try:
            a, e = json.loads(actual), json.loads(expected)
        except ValueError as exc:
            return [f"not valid JSON: {exc}: {actual[:200]!r}"]
        out: list[str] = []
        _json_diffs(a, e, "$", out)
        return out
    try:
        return _text_diffs(actual.decode("utf-8"), expected.decode("utf-8"))
    except UnicodeDecodeError:
        return [] if actual == expected else [f"{len(actual)} bytes differ from the expected "
                                              f"{len(expected)}"]
