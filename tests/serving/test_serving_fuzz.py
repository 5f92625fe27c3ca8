"""Random bodies, content types and headers: never a hang, never a dead worker, no 5xx."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from serving_helpers import invoke, request, write_model

from sagepack.serving.app import READY, ServingApp
from sagepack.serving.settings import Settings

# A model that accepts any array: what is fuzzed here is the server, not the model.
ECHO = """
import numpy as np

def model_fn(model_dir):
    return lambda data: np.asarray(data).reshape(-1)[:3]
"""

CONTENT_TYPES = ["application/json", "text/csv", "application/jsonlines", "application/x-npy",
                 "application/json; charset=utf-8", "TEXT/CSV;charset=latin-1", "text/plain",
                 "application/octet-stream", "", ";", "multipart/form-data; boundary=x"]
ACCEPTS = ["application/json", "text/csv", "*/*", "application/*", "text/html",
           "text/csv;q=0.5, application/json;q=0.9", "application/x-npy", "application/jsonlines",
           "", ",,,", "*/*;q=abc", "text/csv;q=0"]

header_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60)
header_name = st.from_regex(r"\A[a-zA-Z][a-zA-Z0-9-]{0,30}\Z")
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner,
                                                                max_size=3),
    max_leaves=20)


def npy_bytes(array: np.ndarray) -> bytes:  # type: ignore[type-arg]
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


bodies = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=200).map(str.encode),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.lists(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=4),
             min_size=1, max_size=5).map(
        lambda rows: "\n".join(",".join(map(str, r)) for r in rows).encode()),
    hnp.arrays(st.sampled_from([np.float32, np.int64, np.bool_]),
               hnp.array_shapes(min_dims=0, max_dims=3, max_side=4)).map(npy_bytes),
    st.binary(max_size=200).map(lambda tail: b"\x93NUMPY\x01\x00" + tail),
)


@pytest.fixture(scope="module")
def echo_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServingApp]:
    root = write_model(tmp_path_factory.mktemp("fuzz"), ECHO)
    app = ServingApp(replace(Settings(), model_dir=root, handler_dir=root / "code",
                             timeout_s=5, access_log=False))
    app.load()
    assert app.state == READY
    yield app
    app.pool.shutdown()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies, content_type=st.sampled_from(CONTENT_TYPES) | header_text,
       accept=st.none() | st.sampled_from(ACCEPTS) | header_text,
       extra=st.dictionaries(header_name, header_text, max_size=4))
def test_fuzzed_invocations_never_fail_the_server(echo_app: ServingApp, body: bytes,
                                                  content_type: str, accept: str | None,
                                                  extra: dict[str, str]) -> None:
    headers = {k: v for k, v in extra.items()
               if k.lower() not in {"content-length", "transfer-encoding", "host"}}
    headers["content-type"] = content_type
    if accept is not None:
        headers["accept"] = accept
    response = request(echo_app, "POST", "/invocations", body, headers, timeout=10)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.json()["message"]
    assert request(echo_app, "GET", "/ping").status_code == 200


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]),
       path=st.from_regex(r"\A/([a-z._-][a-z/._-]{0,19})?\Z"), body=st.binary(max_size=50))
def test_fuzzed_routes_answer_cleanly(echo_app: ServingApp, method: str, path: str,
                                      body: bytes) -> None:
    response = request(echo_app, method, path, body if method != "GET" else b"", timeout=10)
    assert response.status_code < 500
    assert invoke(echo_app, "[1, 2]").json() == [1, 2]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy overflow warnings are not errors
def test_example_model_under_fuzz_if_present(tmp_path: Path) -> None:
    iris = Path(__file__).resolve().parents[2] / "artifacts" / "iris"
    if not (iris / "code" / "inference.py").is_file():
        pytest.skip("artifacts/iris is not there")
    app = ServingApp(replace(Settings(), model_dir=iris, handler_dir=iris / "code",
                             access_log=False))
    app.load()
    try:
        @settings(max_examples=150, deadline=None)
        @given(body=bodies, content_type=st.sampled_from(CONTENT_TYPES),
               accept=st.none() | st.sampled_from(ACCEPTS))
        def check(body: bytes, content_type: str, accept: str | None) -> None:
            response = invoke(app, body, content_type, accept=accept)
            assert response.status_code < 500, response.text

        check()
        assert request(app, "GET", "/ping").status_code == 200
    finally:
        app.pool.shutdown()
