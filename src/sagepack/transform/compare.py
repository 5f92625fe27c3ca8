"""Comparing a transform's ``.out`` files with expected ones, numbers within a tolerance.

Used by validation transforms (``invoke test --no-network``): the expected folder holds the
``.out`` files a model must produce for its sample inputs. Text is compared token by token;
numbers (including exponents) match when within ``rel_tol`` of each other (or ``abs_tol``
near zero), everything else must be equal.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

__all__ = ["compare_outputs"]

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf)(?![A-Za-z])",
                     re.IGNORECASE)
_MAX_PER_FILE = 5


def _tokens(text: str) -> list[str | float]:
    out: list[str | float] = []
    pos = 0
    for m in _NUMBER.finditer(text):
        if m.start() > pos:
            out.append(text[pos : m.start()])
        out.append(float(m.group(0)))
        pos = m.end()
    if pos < len(text):
        out.append(text[pos:])
    return out


def _same(a: str | float, b: str | float, rel_tol: float, abs_tol: float) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=rel_tol, abs_tol=abs_tol)
    return a == b


def _compare_text(name: str, actual: str, expected: str, rel_tol: float,
                  abs_tol: float) -> list[str]:
    diffs: list[str] = []
    a_lines = actual.rstrip("\n").split("\n") if actual else []
    e_lines = expected.rstrip("\n").split("\n") if expected else []
    if len(a_lines) != len(e_lines):
        diffs.append(f"{name}: {len(a_lines)} lines, expected {len(e_lines)}")
    for number, (a, e) in enumerate(zip(a_lines, e_lines, strict=False), start=1):
        ta, te = _tokens(a.rstrip("\r")), _tokens(e.rstrip("\r"))
        if len(ta) != len(te) or not all(
            _same(x, y, rel_tol, abs_tol) for x, y in zip(ta, te, strict=True)
        ):
            diffs.append(f"{name}: line {number}: got {a[:200]!r}, expected {e[:200]!r}")
            if len(diffs) >= _MAX_PER_FILE:
                diffs.append(f"{name}: further differences not listed")
                break
    return diffs


def compare_outputs(actual_dir: Path, expected_dir: Path, rel_tol: float = 1e-4,
                    abs_tol: float = 1e-9) -> list[str]:
    """Differences between the ``.out`` files of two folders (empty when they agree).

    Every ``.out`` under ``expected_dir`` must exist at the same relative path under
    ``actual_dir`` and match; an ``.out`` in ``actual_dir`` that is not expected is a
    difference too. Non-UTF-8 files are compared byte for byte.
    """
    if not expected_dir.is_dir():
        return [f"expected outputs folder {expected_dir} does not exist"]
    expected = {p.relative_to(expected_dir).as_posix() for p in expected_dir.rglob("*.out")
                if p.is_file()}
    actual = ({p.relative_to(actual_dir).as_posix() for p in actual_dir.rglob("*.out")
               if p.is_file()} if actual_dir.is_dir() else set())
    diffs: list[str] = []
    for name in sorted(expected - actual):
        diffs.append(f"{name}: missing (no output produced)")
    for name in sorted(actual - expected):
        diffs.append(f"{name}: produced but not expected")
    for name in sorted(expected & actual):
        a_bytes = (actual_dir / name).read_bytes()
        e_bytes = (expected_dir / name).read_bytes()
        if a_bytes == e_bytes:
            continue
        try:
            a_text, e_text = a_bytes.decode("utf-8"), e_bytes.decode("utf-8")
        except UnicodeDecodeError:
            diffs.append(f"{name}: binary content differs ({len(a_bytes)} bytes, "
                         f"expected {len(e_bytes)})")
            continue
        diffs.extend(_compare_text(name, a_text, e_text, rel_tol, abs_tol))
    return diffs
