"""Streaming edge cases, in process: what counts as a stream, empty streams, bad chunks."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from serving_helpers import invoke

from sagepack.serving.app import ServingApp
from sagepack.serving.handler import is_stream
from sagepack.serving.streaming import StreamAborted

App = Callable[..., ServingApp]


def test_iterators_stream_other_iterables_do_not() -> None:
    assert is_stream(iter([b"a"])) and is_stream(x for x in "ab")
    assert not any(is_stream(value) for value in ([b"a"], (b"a",), b"a", "a", {"a": 1}))


def test_an_empty_stream_is_an_empty_chunked_body(make_app: App) -> None:
    app = make_app("""
def model_fn(model_dir):
    return None

def transform_fn(model, body, content_type, accept):
    return iter(()), "application/jsonlines"
""")
    response = invoke(app, b"{}")
    assert response.status_code == 200 and response.content == b""
    assert "content-length" not in response.headers
    assert response.headers["content-type"] == "application/jsonlines"


def test_a_chunk_that_is_not_bytes_or_str_cuts_the_stream(
        make_app: App, caplog: pytest.LogCaptureFixture) -> None:
    app = make_app("""
def model_fn(model_dir):
    return None

def predict_fn(data, model):
    return data

def output_fn(prediction, accept):
    def chunks():
        yield "fine\\n"
        yield 42
    return chunks()
""")
    with pytest.raises(StreamAborted):
        invoke(app, b"[1]", accept="application/jsonlines",
               x_amzn_sagemaker_inference_id="inf-int")
    cut = [r.getMessage() for r in caplog.records if "inf-int" in r.getMessage()]
    assert cut and "after 5 bytes in 1 chunks" in cut[0]
    assert "output_fn yielded int; a stream yields bytes or str" in cut[0]
