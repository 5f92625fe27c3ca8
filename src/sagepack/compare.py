"""Does an answer match the expected one? Structure equal, numbers within a tolerance.

Used wherever a model's output is checked against a recorded one: sample responses
(``invoke test``) and batch transform outputs (validation transforms). Text is compared
line by line and token by token; numbers (exponents, ``nan``, ``inf`` included) match when
within ``rel_tol`` of each other, or ``abs_tol`` near zero; everything else must be equal.
JSON bodies are compared as structures.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

REL_TOL = 1e-4
ABS_TOL = 1e-6
MAX_DIFFS = 5
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf)(?![A-Za-z])",
                     re.IGNORECASE)


def close(a: float, b: float, rel_tol: float = REL_TOL, abs_tol: float = ABS_TOL) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=rel_tol, abs_tol=abs_tol)


def tokens(text: str) -> list[str | float]:
    """``text`` split into numbers and the text between them."""
    out: list[str | float] = []
    pos = 0
    for m in _NUMBER.finditer(text):
        if m.start() > pos:
            out.append(text[pos:m.start()])
        out.append(float(m.group(0)))
        pos = m.end()
    if pos < len(text):
        out.append(text[pos:])
    return out


def _same(a: str | float, b: str | float, rel_tol: float, abs_tol: float) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return close(a, b, rel_tol, abs_tol)
    return a == b


def text_diffs(actual: str, expected: str, *, name: str = "", rel_tol: float = REL_TOL,
               abs_tol: float = ABS_TOL) -> list[str]:
    """Line-by-line differences (empty when the texts agree); ``name`` prefixes each."""
    where = f"{name}: " if name else ""
    diffs: list[str] = []
    a_lines = actual.rstrip("\n").split("\n") if actual else []
    e_lines = expected.rstrip("\n").split("\n") if expected else []
    if len(a_lines) != len(e_lines):
        diffs.append(f"{where}{len(a_lines)} lines, expected {len(e_lines)}")
    for number, (a, e) in enumerate(zip(a_lines, e_lines, strict=False), start=1):
        ta, te = tokens(a.rstrip("\r")), tokens(e.rstrip("\r"))
        if len(ta) != len(te) or not all(
                _same(x, y, rel_tol, abs_tol) for x, y in zip(ta, te, strict=True)):
            diffs.append(f"{where}line {number}: got {a[:200]!r}, expected {e[:200]!r}")
            if len(diffs) >= MAX_DIFFS:
                diffs.append(f"{where}further differences not listed")
                break
    return diffs


def json_diffs(actual: Any, expected: Any, path: str = "$", *, rel_tol: float = REL_TOL,
               abs_tol: float = ABS_TOL) -> list[str]:
    """Differences between two decoded JSON values, each named by its JSONPath."""
    out: list[str] = []

    def walk(a: Any, e: Any, where: str) -> None:
        if len(out) >= MAX_DIFFS:
            return
        number = (int, float)
        if isinstance(e, number) and not isinstance(e, bool):
            if not (isinstance(a, number) and not isinstance(a, bool)
                    and close(float(a), float(e), rel_tol, abs_tol)):
                out.append(f"{where}: got {a!r}, expected {e!r}")
        elif isinstance(e, dict):
            if not isinstance(a, dict):
                out.append(f"{where}: got {type(a).__name__}, expected an object")
                return
            if set(a) != set(e):
                out.append(f"{where}: keys {sorted(a)}, expected {sorted(e)}")
            for key in sorted(set(a) & set(e)):
                walk(a[key], e[key], f"{where}.{key}")
        elif isinstance(e, list):
            if not isinstance(a, list) or len(a) != len(e):
                out.append(f"{where}: got {str(a)[:200]}, expected {len(e)} items")
                return
            for i, (x, y) in enumerate(zip(a, e, strict=True)):
                walk(x, y, f"{where}[{i}]")
        elif a != e:
            out.append(f"{where}: got {a!r}, expected {e!r}")

    walk(actual, expected, path)
    return out


def bytes_diffs(actual: bytes, expected: bytes, *, name: str = "", rel_tol: float = REL_TOL,
                abs_tol: float = ABS_TOL) -> list[str]:
    """Text differences of two UTF-8 bodies; byte for byte when either is not UTF-8."""
    if actual == expected:
        return []
    try:
        return text_diffs(actual.decode("utf-8"), expected.decode("utf-8"), name=name,
                          rel_tol=rel_tol, abs_tol=abs_tol)
    except UnicodeDecodeError:
        where = f"{name}: " if name else ""
        return [f"{where}binary content differs ({len(actual)} bytes, "
                f"expected {len(expected)})"]


def expected_diffs(actual: bytes, expected: Path | None, media_type: str) -> list[str]:
    """Differences between ``actual`` and the response recorded in the file ``expected``;
    none when there is no expected response (a sample that must only answer 2xx)."""
    if expected is None:
        return []
    return response_diffs(actual, expected.read_bytes(), media_type)


def response_diffs(actual: bytes, expected: bytes, media_type: str) -> list[str]:
    """Differences between two response bodies of ``media_type`` (empty when they match)."""
    media = media_type.split(";")[0].strip().lower()
    if media.endswith("json") and "lines" not in media:
        try:
            a, e = json.loads(actual), json.loads(expected)
        except ValueError as exc:
            return [f"not valid JSON: {exc}: {actual[:200]!r}"]
        return json_diffs(a, e)
    return bytes_diffs(actual, expected)
