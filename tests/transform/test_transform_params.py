"""Parameter precedence (job > container > defaults) and validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from sagepack.errors import TransformError
from sagepack.transform.params import ExecutionParameters, TransformJob, resolve


def job(tmp_path: Path, **kw: object) -> TransformJob:
    (tmp_path / "in").mkdir(exist_ok=True)
    return TransformJob(input=tmp_path / "in", output=tmp_path / "out",
                        content_type="text/csv", **kw)  # type: ignore[arg-type]


def test_defaults_without_container_parameters(tmp_path: Path) -> None:
    p = resolve(job(tmp_path), None)
    assert (p.strategy, p.max_payload_mb, p.max_concurrent) == ("MultiRecord", 6, 1)
    assert p.sources == {"BatchStrategy": "default", "MaxPayloadInMB": "default",
                         "MaxConcurrentTransforms": "default"}
    assert (p.timeout_s, p.retries) == (600, 3)


def test_container_parameters_win_over_defaults_and_speak_multi_record(tmp_path: Path) -> None:
    container = ExecutionParameters.from_json(
        {"MaxConcurrentTransforms": 4, "BatchStrategy": "SINGLE_RECORD", "MaxPayloadInMB": 5},
        "http://c")
    p = resolve(job(tmp_path), container)
    assert (p.strategy, p.max_payload_mb, p.max_concurrent) == ("SingleRecord", 5, 4)
    assert set(p.sources.values()) == {"container"}


def test_job_values_win_over_the_container(tmp_path: Path) -> None:
    container = ExecutionParameters(max_concurrent=4, strategy="SingleRecord", max_payload_mb=5)
    p = resolve(job(tmp_path, strategy="MULTI_RECORD", max_payload_mb=2, max_concurrent=8),
                container)
    assert (p.strategy, p.max_payload_mb, p.max_concurrent) == ("MultiRecord", 2, 8)
    assert set(p.sources.values()) == {"job"}


def test_max_concurrent_zero_means_not_given(tmp_path: Path) -> None:
    p = resolve(job(tmp_path, max_concurrent=0), ExecutionParameters(max_concurrent=3))
    assert p.max_concurrent == 3


def test_both_strategy_spellings_and_case_insensitive_choices(tmp_path: Path) -> None:
    for spelling in ("MultiRecord", "MULTI_RECORD", "multirecord"):
        assert resolve(job(tmp_path, strategy=spelling), None).strategy == "MultiRecord"
    for spelling in ("SingleRecord", "SINGLE_RECORD"):
        assert resolve(job(tmp_path, strategy=spelling), None).strategy == "SingleRecord"
    p = resolve(job(tmp_path, split_type="line", assemble_with="LINE", compression="gzip"), None)
    assert (p.split_type, p.assemble_with, p.compression) == ("Line", "Line", "Gzip")


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"max_payload_mb": 101}, "MaxPayloadInMB 101 \\(job\\) must be between 0 and 100"),
        ({"max_payload_mb": -1}, "between 0 and 100"),
        ({"max_concurrent": 20, "max_payload_mb": 6}, "20 x 6 = 120 exceeds 100"),
        ({"retries": 4}, "retries 4 must be between 0 and 3"),
        ({"timeout_s": 0}, "timeout 0 s must be between 1 and 3600"),
        ({"timeout_s": 3601}, "between 1 and 3600"),
        ({"strategy": "Batch"}, "BatchStrategy 'Batch' is not one of"),
        ({"split_type": "Paragraph"}, "SplitType 'Paragraph' is not one of"),
        ({"assemble_with": "Comma"}, "AssembleWith 'Comma'"),
        ({"compression": "Zstd"}, "CompressionType 'Zstd'"),
        ({"join_source": "Output"}, "JoinSource 'Output'"),
        ({"input_filter": "features"}, "InputFilter: JSONPath 'features' must start"),
        ({"output_filter": "$..x"}, "OutputFilter: .*deep scan"),
    ],
)
def test_invalid_parameters_are_refused(tmp_path: Path, kw: dict[str, object],
                                        message: str) -> None:
    with pytest.raises(TransformError, match=message):
        resolve(job(tmp_path, **kw), None)


def test_product_limit_counts_container_values_and_names_their_source(tmp_path: Path) -> None:
    container = ExecutionParameters(max_concurrent=30, max_payload_mb=None)
    with pytest.raises(TransformError, match=r"30 x 6 = 180 .*from container.*from default"):
        resolve(job(tmp_path), container)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    with pytest.raises(TransformError, match="3 problems") as info:
        resolve(job(tmp_path, retries=9, timeout_s=0, split_type="X"), None)
    assert "retries" in str(info.value) and "timeout" in str(info.value)


def test_data_processing_needs_csv_or_json(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    bad = TransformJob(input=tmp_path / "in", output=tmp_path / "out",
                       content_type="application/x-recordio", join_source="Input")
    with pytest.raises(TransformError, match="need a CSV or JSON content type"):
        resolve(bad, None)
    mixed = TransformJob(input=tmp_path / "in", output=tmp_path / "out", content_type="text/csv",
                         accept="application/json", join_source="Input")
    with pytest.raises(TransformError, match="Accept of the same format"):
        resolve(mixed, None)


def test_csv_data_processing_needs_line_split_and_line_assembly(tmp_path: Path) -> None:
    # documented: "If you set input and output formats to text/csv, you must also set the
    # SplitType and AssemblyType parameters to line"
    with pytest.raises(TransformError, match="needs SplitType Line and AssembleWith Line"):
        resolve(job(tmp_path, input_filter="$[1:]", split_type="None"), None)
    assert resolve(job(tmp_path, input_filter="$[1:]", split_type="Line",
                       assemble_with="Line"), None).processing


def test_input_must_exist_and_output_must_not_be_inside_it(tmp_path: Path) -> None:
    with pytest.raises(TransformError, match="does not exist"):
        resolve(TransformJob(input=tmp_path / "nope", output=tmp_path / "out",
                             content_type=None), None)
    (tmp_path / "in").mkdir()
    with pytest.raises(TransformError, match="inside the input folder"):
        resolve(TransformJob(input=tmp_path / "in", output=tmp_path / "in" / "out",
                             content_type=None), None)


def test_container_parameters_of_the_wrong_type_are_refused() -> None:
    with pytest.raises(TransformError, match="MaxPayloadInMB must be an integer"):
        ExecutionParameters.from_json({"MaxPayloadInMB": "6"}, "http://c")
    with pytest.raises(TransformError, match="BatchStrategy 'BATCH'"):
        ExecutionParameters.from_json({"BatchStrategy": "BATCH"}, "http://c")
