"""Comparing a transform's ``.out`` files with expected ones, numbers within a tolerance.

Used by validation transforms (``invoke test --no-network``): the expected folder holds the
``.out`` files a model must produce for its sample inputs. Text is compared token by token;
numbers (including exponents) match when within ``rel_tol`` of each other (or ``abs_tol``
near zero), everything else must be equal.
"""

from __future__ import annotations

from pathlib import Path

from sagepack.compare import bytes_diffs

__all__ = ["compare_outputs"]


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
        diffs.extend(bytes_diffs((actual_dir / name).read_bytes(),
                                 (expected_dir / name).read_bytes(), name=name,
                                 rel_tol=rel_tol, abs_tol=abs_tol))
    return diffs
