"""The reusable validating reader: every problem collected, each naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from sagepack.errors import ConfigError, ConfigProblem
from sagepack.problems import Reader

FILE = Path("pyproject.toml")
ENV = Path("environment")


def test_typed_values_collect_every_problem_with_file_and_prefixed_key(tmp_path: Path) -> None:
    reader = Reader({"region": 3, "count": True, "names": ["a", 1], "mode": "odd",
                     "sub": {"env": {"A": "1", "B": 2}}, "extra": 1}, FILE, "tool.x.")
    assert reader.get("region", str, "us-east-1") == "us-east-1"
    assert reader.get("count", int, 5) == 5  # a bool is not an int
    assert reader.get("missing", str, None, required=True) is None
    assert reader.strings("names", ("z",)) == ("z",)
    assert reader.choice("mode", ("a", "b"), "a") == "a"
    sub = reader.table("sub")
    assert sub is not None and sub.string_map("env") == {"A": "1"}
    assert reader.path("weights", tmp_path, required=False) is None
    reader.finish()
    assert [(p.key, p.message) for p in reader.problems] == [
        ("tool.x.region", "expected str, got int 3"),
        ("tool.x.count", "expected int, got bool True"),
        ("tool.x.missing", "required str is missing"),
        ("tool.x.names", "expected list of strings, got ['a', 1]"),
        ("tool.x.mode", "expected one of a, b, got 'odd'"),
        ("tool.x.sub.env.B", "expected string, got 2"),
        ("tool.x.extra", "unknown key"),
    ]
    assert all(p.file == FILE for p in reader.problems)


def test_paths_resolve_against_a_root_and_must_exist(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(b"m")
    reader = Reader({"weights": "model.onnx", "gone": "nope.bin", "out": "x.txt"}, FILE)
    assert reader.path("weights", tmp_path) == tmp_path / "model.onnx"
    assert reader.path("out", tmp_path, must_exist=False) == tmp_path / "x.txt"
    assert reader.path("gone", tmp_path) == tmp_path / "nope.bin"
    assert [str(p) for p in reader.problems] == [
        f"pyproject.toml: gone: path does not exist: {tmp_path / 'nope.bin'}"]


def test_readers_of_several_tables_share_one_list_and_raise_once() -> None:
    problems: list[ConfigProblem] = []
    Reader({"a": 1}, FILE, "one.", problems).get("a", str)
    Reader({"b": 2}, Path("other.toml"), "", problems).get("b", str)
    reader = Reader({}, FILE, "", problems)
    with pytest.raises(ConfigError, match="2 configuration errors") as info:
        reader.raise_if_problems()
    assert [str(p) for p in info.value.problems] == [
        "pyproject.toml: one.a: expected str, got int 1",
        "other.toml: b: expected str, got int 2"]
    Reader({}, FILE).raise_if_problems()  # nothing wrong: no error


def test_text_values_parse_as_the_environment_gives_them() -> None:
    env = {"WORKERS": " 4 ", "PORT": "", "TIMEOUT": "2.5", "DEBUG": "Yes", "QUIET": "",
           "STRATEGY": "multirecord"}
    reader = Reader(env, ENV)
    assert reader.integer("WORKERS", 1, low=1, high=256) == 4
    assert reader.integer("PORT", 8080, low=1, high=65535) == 8080  # blank: not set
    assert reader.number("TIMEOUT", 60.0, low=0.001) == 2.5
    assert reader.boolean("DEBUG", False) is True
    assert reader.boolean("QUIET", True) is False  # set but blank: false
    assert reader.boolean("ABSENT", True) is True
    upper = {"MULTIRECORD": "MULTI_RECORD"}
    assert reader.text_choice("STRATEGY", ("MULTI_RECORD", "SINGLE_RECORD"), "SINGLE_RECORD",
                              canonical=lambda v: upper.get(v.upper(), v.upper())
                              ) == "MULTI_RECORD"
    assert reader.text("PORT") is None and reader.text("WORKERS") == "4"
    assert reader.problems == []


def test_bad_text_values_fall_back_to_the_default_and_are_all_reported() -> None:
    env = {"WORKERS": "four", "PORT": "70000", "TIMEOUT": "soon", "GRACE": "inf",
           "HEARTBEAT": "nan", "DEBUG": "maybe", "LEVEL": "LOUD", "MODE": "x"}
    reader = Reader(env, ENV)
    assert reader.integer("WORKERS", 1, low=1, high=256) == 1
    assert reader.integer("PORT", 8080, low=1, high=65535) == 8080
    assert reader.number("TIMEOUT", 60.0, low=0.001, kind="a number of seconds") == 60.0
    assert reader.number("GRACE", 20.0, low=0.0) == 20.0
    assert reader.number("HEARTBEAT", 30.0, low=1.0) == 30.0
    assert reader.boolean("DEBUG", False) is False
    assert reader.text_choice("LEVEL", ("DEBUG", "INFO", "ERROR"), "INFO") == "INFO"
    assert reader.text_choice("MODE", ("A", "B"), "A") == "A"
    with pytest.raises(ConfigError) as info:
        reader.raise_if_problems()
    assert [str(p) for p in info.value.problems] == [
        "environment: WORKERS: must be a whole number, got 'four'",
        "environment: PORT: must be between 1 and 65535, got 70000",
        "environment: TIMEOUT: must be a number of seconds, got 'soon'",
        "environment: GRACE: must be a finite number >= 0.0, got 'inf'",
        "environment: HEARTBEAT: must be a finite number >= 1.0, got 'nan'",
        "environment: DEBUG: must be true or false, got 'maybe'",
        "environment: LEVEL: must be one of DEBUG, INFO, ERROR, got 'LOUD'",
        "environment: MODE: must be A or B, got 'x'",
    ]


def test_the_module_needs_only_the_standard_library() -> None:
    import ast

    import sagepack.problems

    tree = ast.parse(Path(sagepack.problems.__file__).read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    import sys

    assert imported - set(sys.stdlib_module_names) == {"sagepack"}
    sagepack_imports = {node.module for node in ast.walk(tree)
                        if isinstance(node, ast.ImportFrom) and node.module
                        and node.module.startswith("sagepack")}
    assert sagepack_imports == {"sagepack.errors"}
