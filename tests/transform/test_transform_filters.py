"""InputFilter, JoinSource and OutputFilter on CSV and JSON, per SageMaker's examples."""

from __future__ import annotations

from pathlib import Path

import pytest

from sagepack.errors import TransformError
from sagepack.transform.filters import DataProcessor
from sagepack.transform.params import TransformJob, resolve


def processor(tmp_path: Path, content_type: str, **kw: str) -> DataProcessor:
    job = TransformJob(input=tmp_path, output=tmp_path.parent / "out", content_type=content_type,
                       accept=content_type, split_type="Line", assemble_with="Line",
                       strategy="MultiRecord",
                       max_payload_mb=6, max_concurrent=1, **kw)
    return DataProcessor(resolve(job, None))


def test_csv_input_filter_drops_the_id_column(tmp_path: Path) -> None:
    p = processor(tmp_path, "text/csv", input_filter="$[1:]")
    assert p.filter_input(b"id7,5.1,3.5") == b"5.1,3.5"
    assert p.filter_input(b'id,"a,b",c') == b'"a,b",c'  # RFC 4180 quoting survives


def test_csv_join_appends_the_prediction_to_the_original_row(tmp_path: Path) -> None:
    # documented: record [1,2,3] with label [1] gives [1,2,3,1]
    p = processor(tmp_path, "text/csv", join_source="Input")
    assert p.finish(b"1,2,3", b"1") == b"1,2,3,1"
    assert p.finish(b"1,2,3", b"0.1,0.9") == b"1,2,3,0.1,0.9"


def test_csv_id_column_with_results(tmp_path: Path) -> None:
    p = processor(tmp_path, "text/csv", input_filter="$[1:]", join_source="Input",
                  output_filter="$[0,-1]")
    assert p.filter_input(b"id7,5.1,3.5") == b"5.1,3.5"
    assert p.finish(b"id7,5.1,3.5", b"0.97") == b"id7,0.97"


def test_csv_output_filter_without_join_selects_from_the_prediction(tmp_path: Path) -> None:
    p = processor(tmp_path, "text/csv", output_filter="$[1]")
    assert p.finish(b"ignored", b"cat,0.9") == b"0.9"


def test_json_join_puts_the_prediction_under_sagemakeroutput(tmp_path: Path) -> None:
    # documented: input {"key":1}, result {"label":1} -> {"key":1,"SageMakerOutput":{"label":1}}
    p = processor(tmp_path, "application/jsonlines", join_source="Input")
    assert p.finish(b'{"key":1}', b'{"label":1}') == b'{"key":1,"SageMakerOutput":{"label":1}}'


def test_json_join_wraps_an_input_that_is_not_an_object(tmp_path: Path) -> None:
    p = processor(tmp_path, "application/json", join_source="Input")
    assert p.finish(b"[1,2]", b"3") == b'{"SageMakerInput":[1,2],"SageMakerOutput":3}'


def test_json_id_attribute_with_results(tmp_path: Path) -> None:
    p = processor(tmp_path, "application/jsonlines", input_filter="$.features",
                  join_source="Input", output_filter="$['id','SageMakerOutput']")
    record = b'{"id":"r1","features":[1,2],"other":true}'
    assert p.filter_input(record) == b"[1,2]"
    assert p.finish(record, b"3") == b'{"id":"r1","SageMakerOutput":3}'


def test_response_split_one_prediction_per_record(tmp_path: Path) -> None:
    p = processor(tmp_path, "application/jsonlines", join_source="Input")
    assert p.split_response(b"1\n2\n3\n", 3) == [b"1", b"2", b"3"]
    assert p.split_response(b"[1,2,3]", 3) == [b"1", b"2", b"3"]
    assert p.split_response(b'{"a":\n1}\n', 1) == [b'{"a":\n1}']
    with pytest.raises(TransformError, match="holds 2 line"):
        p.split_response(b"1\n2\n", 3)


def test_a_record_that_does_not_fit_the_filter_is_an_error(tmp_path: Path) -> None:
    p = processor(tmp_path, "text/csv", input_filter="$[3]")
    with pytest.raises(TransformError, match="index 3 is outside"):
        p.filter_input(b"a,b")
    pj = processor(tmp_path, "application/json", input_filter="$.features")
    with pytest.raises(TransformError, match="not valid JSON"):
        pj.filter_input(b"{oops")
