"""The JSONPath subset of SageMaker's data processing, on the documentation's examples."""

from __future__ import annotations

import pytest

from sagepack.transform.jsonpath import JsonPathError, compile_path

ROW = ["id7", "5.1", "3.5", "1.4", "0.2", "setosa"]


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("$", ROW),
        ("$[1:]", ["5.1", "3.5", "1.4", "0.2", "setosa"]),  # drops the ID column
        ("$[0,-1]", ["id7", "setosa"]),
        ("$[1]", "5.1"),
        ("$[1,3,5]", ["5.1", "1.4", "setosa"]),
        # slices include their end, as documented: $[1:4] = second through fifth columns
        ("$[1:4]", ["5.1", "3.5", "1.4", "0.2"]),
        ("$[:2]", ["id7", "5.1", "3.5"]),
        ("$[0,4:]", ["id7", "0.2", "setosa"]),
        ("$[-2:]", ["0.2", "setosa"]),
    ],
)
def test_index_paths_on_a_csv_row(expr: str, expected: object) -> None:
    assert compile_path(expr).apply(ROW) == expected


DOC = {"id": 3, "features": [1.0, 2.0], "meta": {"a": 1, "b": 2}, "SageMakerOutput": {"label": 1}}


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("$.features", [1.0, 2.0]),
        ("$.features[0]", 1.0),
        ("$['id','SageMakerOutput']", {"id": 3, "SageMakerOutput": {"label": 1}}),
        ("$['id']", 3),
        ("$.meta.*", [1, 2]),
        ("$.meta.['a','b']", {"a": 1, "b": 2}),
        ("$.meta['b']", 2),
        ("$.SageMakerOutput.label", 1),
    ],
)
def test_name_paths_on_a_json_record(expr: str, expected: object) -> None:
    assert compile_path(expr).apply(DOC) == expected


def test_identity() -> None:
    assert compile_path("$").is_identity
    assert not compile_path("$[1:]").is_identity


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("features", "must start with '\\$'"),
        ("$..id", "deep scan"),
        ("$[1:2:3]", "no step"),
        ("$[a]", "not an index"),
        ("$['id'", "never closed"),
        ("$['a','b'].c", "must be the last step"),
        ("$." + "x" * 70, "at most 63"),
    ],
)
def test_unsupported_expressions_are_refused(expr: str, message: str) -> None:
    with pytest.raises(JsonPathError, match=message):
        compile_path(expr)


def test_indexes_outside_the_record_are_errors_not_empty_results() -> None:
    with pytest.raises(JsonPathError, match="index 6 is outside the record's 6 elements"):
        compile_path("$[0,6]").apply(ROW)
    with pytest.raises(JsonPathError, match="no attribute 'label'"):
        compile_path("$.label").apply(DOC)
    with pytest.raises(JsonPathError, match="indexes applied to a object"):
        compile_path("$[0]").apply(DOC)
