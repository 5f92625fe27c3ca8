"""compare_outputs: .out files compared with expected ones, numbers within a tolerance."""

from __future__ import annotations

from pathlib import Path

from sagepack.transform import compare_outputs


def tree(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return root


def test_equal_within_tolerance(tmp_path: Path) -> None:
    expected = tree(tmp_path / "e", {"a.csv.out": "0.5,1e-3\nsetosa,2\n",
                                     "sub/b.json.out": '{"p": [0.25, 0.75]}\n'})
    actual = tree(tmp_path / "a", {"a.csv.out": "0.50002,0.0010000001\nsetosa,2\n",
                                   "sub/b.json.out": '{"p": [0.2500001, 0.75]}\n'})
    assert compare_outputs(actual, expected) == []


def test_numbers_outside_tolerance_and_text_differences_are_listed(tmp_path: Path) -> None:
    expected = tree(tmp_path / "e", {"a.csv.out": "0.5\nsetosa\n"})
    actual = tree(tmp_path / "a", {"a.csv.out": "0.51\nvirginica\n"})
    diffs = compare_outputs(actual, expected)
    assert diffs == [
        "a.csv.out: line 1: got '0.51', expected '0.5'",
        "a.csv.out: line 2: got 'virginica', expected 'setosa'",
    ]
    assert compare_outputs(actual, expected, rel_tol=0.05) == [
        "a.csv.out: line 2: got 'virginica', expected 'setosa'"]


def test_missing_extra_and_line_count(tmp_path: Path) -> None:
    expected = tree(tmp_path / "e", {"a.out": "1\n2\n", "b.out": "x"})
    actual = tree(tmp_path / "a", {"a.out": "1\n", "c.out": "y"})
    assert compare_outputs(actual, expected) == [
        "b.out: missing (no output produced)",
        "c.out: produced but not expected",
        "a.out: 1 lines, expected 2",
    ]


def test_binary_outputs_compare_by_bytes(tmp_path: Path) -> None:
    expected = tree(tmp_path / "e", {"a.out": b"\xff\x00"})
    actual = tree(tmp_path / "a", {"a.out": b"\xff\x01"})
    assert compare_outputs(actual, expected) == [
        "a.out: binary content differs (2 bytes, expected 2)"]
    assert compare_outputs(tree(tmp_path / "same", {"a.out": b"\xff\x00"}), expected) == []
