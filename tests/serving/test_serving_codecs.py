from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from sagepack.errors import InferenceError
from sagepack.serving import codecs
from sagepack.serving.context import Context

JSON, CSV, JSONL, NPY = "application/json", "text/csv", "application/jsonlines", "application/x-npy"


def ctx() -> Context:
    return Context(model_dir=Path("/opt/ml/model"))


@pytest.mark.parametrize(("accept", "expected"), [
    (None, JSON),
    ("", JSON),
    ("*/*", JSON),
    ("text/csv", CSV),
    ("text/csv; charset=utf-8", CSV),
    ("TEXT/CSV", CSV),
    ("application/x-jsonlines", JSONL),
    ("text/html, text/csv;q=0.5", CSV),
    ("application/json;q=0.2, text/csv;q=0.9", CSV),
    ("*/*, text/csv", CSV),
    ("text/*", CSV),
    ("application/*", JSON),
    ("text/html, */*;q=0.1", JSON),
    ("text/csv;q=0, application/json", JSON),
])
def test_accept_negotiation(accept: str | None, expected: str) -> None:
    assert codecs.negotiate(accept, JSON) == expected


@pytest.mark.parametrize("accept", ["text/html", "image/png, text/plain", "text/csv;q=0",
                                    "text/csv;q=nan", ";;,"])
def test_accept_with_nothing_supported_is_refused(accept: str) -> None:
    assert codecs.negotiate(accept, JSON) is None


def test_configured_default_answers_wildcards() -> None:
    assert codecs.negotiate("*/*", CSV) == CSV
    assert codecs.negotiate(None, CSV) == CSV


def test_accept_handed_to_handlers() -> None:
    assert codecs.accept_for_handler(None, JSON) == JSON
    assert codecs.accept_for_handler("*/*", CSV) == CSV
    assert codecs.accept_for_handler("image/png; q=1", JSON) == "image/png"
    assert codecs.accept_for_handler("image/png, text/csv", JSON) == "image/png, text/csv"


def test_json_decodes_to_an_array() -> None:
    context = ctx()
    array = codecs.decode(b"[[1, 2], [3, 4.5]]", JSON, context)
    assert array.tolist() == [[1, 2], [3, 4.5]]
    assert not context.multi_record


def test_json_documents_on_lines_are_many_records() -> None:
    context = ctx()
    array = codecs.decode(b"[1, 2]\n[3, 4]\n", JSON, context)
    assert array.tolist() == [[1, 2], [3, 4]]
    assert context.multi_record


@pytest.mark.parametrize(("body", "fragment"), [
    (b"", "empty body"),
    (b"   ", "empty body"),
    (b"[1, 2", "malformed application/json"),
    (b"\xff\xfe", "not valid UTF-8"),
    (b'{"a": 1}', "holds a dict"),
    (b'"text"', "holds a str"),
    (b"null", "holds a NoneType"),
    (b'[1, "a"]', "only of numbers"),
    (b"[[1, 2], [3]]", "not a rectangular array"),
    (b"[" * 100_000, "nested too deeply"),
    (b"1 2", "malformed application/json"),
])
def test_malformed_json_is_a_400(body: bytes, fragment: str) -> None:
    with pytest.raises(InferenceError) as caught:
        codecs.decode(body, JSON, ctx())
    assert caught.value.status_code == 400
    assert fragment in caught.value.message


def test_csv_rows_are_records() -> None:
    context = ctx()
    array = codecs.decode(b"1,2,3\n4,5,6\n\n", CSV, context)
    assert array.shape == (2, 3) and array.dtype == np.float64
    assert context.multi_record
    single = ctx()
    assert codecs.decode(b"1,2,3", CSV, single).shape == (1, 3)
    assert not single.multi_record


@pytest.mark.parametrize(("body", "fragment"), [
    (b"1,2\n3", "line 2 has 1 values"),
    (b"1,x", "line 1"),
    (b"1,,2", "line 1"),
    (b"\n\n", "empty body"),
    (b"1,2\x00", "malformed text/csv"),
])
def test_malformed_csv_is_a_400(body: bytes, fragment: str) -> None:
    with pytest.raises(InferenceError) as caught:
        codecs.decode(body, CSV, ctx())
    assert caught.value.status_code == 400
    assert fragment in caught.value.message


def test_jsonlines() -> None:
    context = ctx()
    assert codecs.decode(b"[1, 2]\n\n[3, 4]", JSONL, context).tolist() == [[1, 2], [3, 4]]
    assert context.multi_record
    with pytest.raises(InferenceError, match="line 2"):
        codecs.decode(b"[1]\n[2", JSONL, ctx())


def test_npy_round_trip() -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.arange(6, dtype=np.float32).reshape(2, 3))
    array = codecs.decode(buffer.getvalue(), NPY, ctx())
    assert array.dtype == np.float32 and array.tolist() == [[0, 1, 2], [3, 4, 5]]


def test_npy_that_lies_about_its_size_is_a_400() -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.zeros(4))
    truncated = buffer.getvalue()[:-8]
    for body in (truncated, b"\x93NUMPY garbage", b"not npy at all"):
        with pytest.raises(InferenceError) as caught:
            codecs.decode(body, NPY, ctx())
        assert caught.value.status_code == 400


def test_npy_refuses_object_arrays() -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InferenceError) as caught:
        codecs.decode(buffer.getvalue(), NPY, ctx())
    assert caught.value.status_code == 400


def test_unknown_content_type_is_a_415() -> None:
    with pytest.raises(InferenceError) as caught:
        codecs.decode(b"x", "image/png", ctx())
    assert caught.value.status_code == 415
    assert "image/png" in caught.value.message


def test_encoders() -> None:
    prediction = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert json.loads(codecs.encode(prediction, JSON, ctx())) == [[1, 2], [3, 4]]
    assert codecs.encode(prediction, CSV, ctx()) == b"1.0,2.0\n3.0,4.0\n"
    assert codecs.encode(np.array([0, 1, 1]), CSV, ctx()) == b"0\n1\n1\n"
    assert codecs.encode(prediction, JSONL, ctx()) == b"[1.0, 2.0]\n[3.0, 4.0]\n"
    back = np.load(io.BytesIO(codecs.encode(prediction, NPY, ctx())))
    assert back.tolist() == prediction.tolist()
    assert json.loads(codecs.encode({"p": np.float32(0.5), "ids": np.arange(2)}, JSON, ctx())) \
        == {"p": 0.5, "ids": [0, 1]}


def test_many_records_in_give_one_json_line_each_out() -> None:
    context = ctx()
    context.multi_record = True
    assert codecs.encode(np.array([1, 2, 3]), JSON, context) == b"1\n2\n3\n"


def test_a_prediction_that_cannot_be_encoded_is_a_500() -> None:
    with pytest.raises(InferenceError) as caught:
        codecs.encode(object(), JSON, ctx())
    assert caught.value.status_code == 500
    with pytest.raises(InferenceError) as caught:
        codecs.encode(np.zeros((2, 2, 2)), CSV, ctx())
    assert caught.value.status_code == 500 and "at most 2 dimensions" in caught.value.message


def test_media_type_strips_parameters() -> None:
    assert codecs.media_type("Application/JSON; charset=utf-8") == JSON
    assert codecs.media_type("application/jsonl") == JSONL
