"""Every route, codec and error of the ASGI app, in process."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from http import HTTPStatus

import numpy as np
import pytest
from serving_helpers import invoke, request

from sagepack.serving.app import LOADING, READY, ServingApp

App = Callable[..., ServingApp]


# --- /ping ------------------------------------------------------------------------------


def test_ping_is_200_with_an_empty_body_once_loaded(make_app: App) -> None:
    response = request(make_app(), "GET", "/ping")
    assert response.status_code == 200
    assert response.content == b""


def test_ping_is_503_while_the_model_loads(make_app: App) -> None:
    gate = threading.Event()
    app = make_app("""
        import builtins
        def model_fn(model_dir):
            builtins.serving_test_gate.wait(10)
            return lambda data: data
    """, load=False)
    import builtins
    builtins.serving_test_gate = gate  # type: ignore[attr-defined]
    try:
        app.start_loading()
        response = request(app, "GET", "/ping")
        assert app.state == LOADING
        assert response.status_code == 503
        assert response.json() == {"status": "loading", "message": "the model is loading"}
        # An invocation that arrives while loading waits for the model instead of failing.
        waiter = threading.Timer(0.2, gate.set)
        waiter.start()
        assert invoke(app, "[1]").json() == [1]
        assert request(app, "GET", "/ping").status_code == 200
    finally:
        gate.set()
        del builtins.serving_test_gate  # type: ignore[attr-defined]


@pytest.mark.parametrize(("method", "path", "status"), [
    ("POST", "/ping", 405), ("GET", "/invocations", 405), ("PUT", "/execution-parameters", 405),
    ("GET", "/", 404), ("POST", "/predict", 404),
])
def test_wrong_routes_and_methods(make_app: App, method: str, path: str, status: int) -> None:
    response = request(make_app(), method, path)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert path in response.json()["message"]


def test_head_ping(make_app: App) -> None:
    assert request(make_app(), "HEAD", "/ping").status_code == 200


# --- /execution-parameters ----------------------------------------------------------------


def test_execution_parameters(make_app: App) -> None:
    app = make_app(max_concurrent_transforms=4, batch_strategy="SINGLE_RECORD", max_payload_mb=12)
    response = request(app, "GET", "/execution-parameters")
    assert response.status_code == 200
    assert response.json() == {"MaxConcurrentTransforms": 4, "BatchStrategy": "SINGLE_RECORD",
                               "MaxPayloadInMB": 12}


# --- /invocations with the default codecs ---------------------------------------------------


@pytest.mark.parametrize(("content_type", "body"), [
    ("application/json", b"[[1, 2], [3, 4]]"),
    ("application/json; charset=utf-8", b"[[1, 2], [3, 4]]"),
    ("text/csv", b"1,2\n3,4\n"),
    ("application/jsonlines", b"[1, 2]\n[3, 4]\n"),
])
def test_default_codecs_read_every_type(make_app: App, content_type: str, body: bytes) -> None:
    response = invoke(make_app(), body, content_type, accept="text/csv")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv"
    assert response.text == "2.0,4.0\n6.0,8.0\n"


def test_npy_in_and_out(make_app: App) -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.array([[1.0, 2.0]]))
    response = invoke(make_app(), buffer.getvalue(), "application/x-npy",
                      accept="application/x-npy")
    assert response.status_code == 200
    assert np.load(io.BytesIO(response.content)).tolist() == [[2.0, 4.0]]


@pytest.mark.parametrize(("accept", "content_type"), [
    (None, "application/json"), ("*/*", "application/json"),
    ("application/json; charset=utf-8", "application/json"),
    ("text/html, application/jsonlines;q=0.5", "application/jsonlines"),
])
def test_accept_negotiation(make_app: App, accept: str | None, content_type: str) -> None:
    response = invoke(make_app(), "[1]", accept=accept)
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type


def test_default_response_type_is_configurable(make_app: App) -> None:
    response = invoke(make_app(default_accept="text/csv"), "[1, 2]", accept="*/*")
    assert response.headers["content-type"] == "text/csv"
    assert response.text == "2.0\n4.0\n"


def test_missing_content_type_uses_the_default(make_app: App) -> None:
    assert invoke(make_app(), "[1]", content_type=None).json() == [2]


def test_unsupported_content_type_is_415(make_app: App) -> None:
    response = invoke(make_app(), b"\x89PNG", "image/png")
    assert response.status_code == 415
    assert "image/png" in response.json()["message"]


def test_unsupported_accept_is_406(make_app: App) -> None:
    response = invoke(make_app(), "[1]", accept="text/html")
    assert response.status_code == 406
    assert "text/html" in response.json()["message"]


def test_malformed_body_is_400(make_app: App) -> None:
    response = invoke(make_app(), b"[1, 2", "application/json")
    assert response.status_code == 400
    assert response.json()["error"] == "Bad Request"
    assert "malformed application/json" in response.json()["message"]


# --- handler errors -------------------------------------------------------------------------


RAISING = """
    from sagepack.errors import InferenceError

    class NotFound(Exception):
        status_code = 404

    def model_fn(model_dir):
        return None

    def predict_fn(data, model):
        kind = int(data.flat[0])
        if kind == 1:
            raise InferenceError(422, "feature 'age' is missing")
        if kind == 2:
            raise NotFound("no such customer")
        if kind == 3:
            raise ZeroDivisionError("division by zero in the model")
        return data
"""


def test_handler_error_with_a_status_is_answered_as_is(make_app: App) -> None:
    app = make_app(RAISING)
    response = invoke(app, "[1]")
    assert response.status_code == 422
    assert response.json() == {"status": 422, "error": HTTPStatus(422).phrase,
                               "message": "feature 'age' is missing"}
    assert invoke(app, "[2]").status_code == 404


def test_handler_crash_is_500_naming_the_function_without_traceback(
        make_app: App, caplog: pytest.LogCaptureFixture) -> None:
    response = invoke(make_app(RAISING), "[3]")
    assert response.status_code == 500
    body = response.json()
    assert body["message"] == "predict_fn raised ZeroDivisionError: division by zero in the model"
    assert "traceback" not in body
    assert "Traceback" in caplog.text and "ZeroDivisionError" in caplog.text


def test_debug_puts_the_traceback_in_the_body(make_app: App) -> None:
    body = invoke(make_app(RAISING, debug=True), "[3]").json()
    assert "Traceback" in body["traceback"]
    assert "ZeroDivisionError" in body["traceback"]


def test_server_keeps_serving_after_errors(make_app: App) -> None:
    app = make_app(RAISING)
    for body in ("[3]", "[1]", "[oops", "[3]"):
        invoke(app, body)
    assert invoke(app, "[7]").json() == [7]
    assert request(app, "GET", "/ping").status_code == 200


# --- timeouts ---------------------------------------------------------------------------------


SLEEPY = """
    import time
    import numpy as np

    def model_fn(model_dir):
        return None

    def predict_fn(data, model):
        time.sleep(float(data.flat[0]))
        return data
"""


def test_timeout_is_504_and_the_worker_recovers(make_app: App) -> None:
    app = make_app(SLEEPY, timeout_s=0.3, max_hung_threads=5)
    started = time.monotonic()
    response = invoke(app, "[2]")
    assert response.status_code == 504
    assert time.monotonic() - started < 1.5
    assert "SAGEMAKER_MODEL_SERVER_TIMEOUT=0.3 s" in response.json()["message"]
    # The hung call still holds its thread; a fresh thread answers the next request.
    assert invoke(app, "[0]").json() == [0]
    assert app.pool.hung == 1
    assert request(app, "GET", "/ping").status_code == 200
    time.sleep(2)
    assert app.pool.hung == 0


def test_too_many_hung_calls_ask_for_a_new_worker(make_app: App) -> None:
    app = make_app(SLEEPY, timeout_s=0.2, max_hung_threads=2)
    recycled: list[bool] = []
    app.on_wedged = lambda: recycled.append(True)
    assert invoke(app, "[1]").status_code == 504
    assert not recycled
    assert invoke(app, "[1]").status_code == 504
    assert recycled == [True]


# --- handler convention variants -------------------------------------------------------------


def test_custom_functions_with_context_and_custom_attributes(make_app: App) -> None:
    app = make_app("""
        import json

        def model_fn(model_dir, context):
            return {"dir": model_dir, "from_context": context.system_properties["model_dir"]}

        def input_fn(body, content_type, context):
            return {"body": body.decode(), "type": content_type,
                    "attrs": context.custom_attributes,
                    "header": context.get_request_header(0, "X-Amzn-SageMaker-Target-Model")}

        def predict_fn(data, model, context):
            if data["attrs"] == "echo=1":
                context.set_response_header(0, "X-Amzn-SageMaker-Custom-Attributes", "seen=1")
            return {**data, **model}

        def output_fn(prediction, accept, context):
            return json.dumps({**prediction, "accept": accept}), "application/vnd.test+json"
    """)
    response = invoke(app, "hello", "TEXT/Plain; charset=utf-8", accept="*/*",
                      x_amzn_sagemaker_custom_attributes="echo=1",
                      x_amzn_sagemaker_target_model="m.tar.gz", x_unknown="ignored")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.test+json"
    assert response.headers["x-amzn-sagemaker-custom-attributes"] == "seen=1"
    body = response.json()
    assert body["body"] == "hello" and body["type"] == "text/plain"
    assert body["attrs"] == "echo=1" and body["header"] == "m.tar.gz"
    assert body["accept"] == "application/json"
    assert body["dir"] == body["from_context"] == str(app.settings.model_dir)
    # Custom attributes are not echoed unless the handler sets them.
    quiet = invoke(app, "hello", "text/plain", x_amzn_sagemaker_custom_attributes="other")
    assert "x-amzn-sagemaker-custom-attributes" not in quiet.headers


def test_transform_fn_alone(make_app: App) -> None:
    app = make_app("""
        def model_fn(model_dir):
            return "upper"

        def transform_fn(model, body, content_type, accept):
            return body.decode().upper()
    """)
    response = invoke(app, "abc", "text/plain", accept="text/plain; charset=utf-8")
    assert response.status_code == 200
    assert response.text == "ABC"
    assert response.headers["content-type"] == "text/plain"


def test_output_fn_returning_something_else_is_500(make_app: App) -> None:
    app = make_app("""
        def model_fn(model_dir):
            return lambda data: data
        def output_fn(prediction, accept):
            return {"not": "bytes"}
    """)
    response = invoke(app, "[1]")
    assert response.status_code == 500
    assert "output_fn returned dict" in response.json()["message"]


def test_callable_model_without_predict_fn(make_app: App) -> None:
    app = make_app("def model_fn(model_dir):\n    return lambda data: data + 1\n")
    assert app.state == READY
    assert invoke(app, "[1, 2]").json() == [2, 3]


# --- batch: MultiRecord ----------------------------------------------------------------------


def test_multi_record_csv_gives_one_line_per_record_in_order(make_app: App) -> None:
    app = make_app(batch=True)
    rows = "".join(f"{i},{i + 1}\n" for i in range(100))
    response = invoke(app, rows, "text/csv", accept="text/csv")
    lines = response.text.splitlines()
    assert len(lines) == 100
    assert lines[0] == "0.0,2.0" and lines[99] == "198.0,200.0"


def test_multi_record_json_lines_in_json_out(make_app: App) -> None:
    app = make_app(batch=True)
    body = "".join(json.dumps([i]) + "\n" for i in range(5))
    response = invoke(app, body, "application/json", accept="application/json")
    assert response.status_code == 200
    assert [json.loads(line) for line in response.text.splitlines()] == [[0], [2], [4], [6], [8]]


def test_access_log_line(make_app: App, capfd: pytest.CaptureFixture[str]) -> None:
    logging.getLogger("sagepack.access").setLevel("INFO")
    app = make_app()
    capfd.readouterr()
    invoke(app, "[1]", x_amzn_sagemaker_inference_id="req-42")
    lines = [line for line in capfd.readouterr().out.splitlines() if "/invocations" in line]
    assert len(lines) == 1, lines
    # The log's format: "<date> <time>,<ms> [<pid>] INFO <message>"
    stamp, pid, level, message = re.fullmatch(
        r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \[(\d+)\] (\w+) (.*)", lines[0]).groups()
    assert int(pid) == os.getpid() and level == "INFO"
    assert abs(time.mktime(time.strptime(stamp.split(",")[0], "%Y-%m-%d %H:%M:%S"))
               - time.time()) < 5
    assert message.startswith('"POST /invocations" 200 5B ')  # [2.0]
    assert message.endswith("inference-id=req-42")


def test_access_log_follows_the_log_level(make_app: App,
                                          capfd: pytest.CaptureFixture[str]) -> None:
    logging.getLogger("sagepack.access").setLevel("WARNING")
    try:
        app = make_app()
        capfd.readouterr()
        invoke(app, "[1]")
        assert "/invocations" not in capfd.readouterr().out
    finally:
        logging.getLogger("sagepack.access").setLevel("NOTSET")


def test_input_fn_that_cannot_parse_the_body_is_a_400(make_app: App) -> None:
    app = make_app("""
        import json
        def model_fn(model_dir):
            return lambda data: data
        def input_fn(body, content_type):
            return json.loads(body.decode("utf-8"))
    """)
    assert invoke(app, b"\xff\xfe").status_code == 400
    response = invoke(app, b"{oops")
    assert response.status_code == 400
    assert "malformed request body: input_fn raised JSONDecodeError" in response.json()["message"]
    assert invoke(app, b"[1]").json() == [1]


def test_input_fn_whose_csv_reader_refuses_the_body_is_a_400(make_app: App) -> None:
    app = make_app("""
        import csv, io
        def model_fn(model_dir):
            return lambda data: data
        def input_fn(body, content_type):
            return list(csv.reader(io.StringIO(body.decode("utf-8"))))
    """)
    response = invoke(app, b"\r\x00", "text/csv")
    assert response.status_code == 400
    assert "malformed request body: input_fn raised Error" in response.json()["message"]


BODY_KINDS = """
    from io import StringIO

    def model_fn(model_dir):
        return None

    def transform_fn(model, body, content_type, accept):
        kind = type(body).__name__
        text = StringIO(body).read() if isinstance(body, str) else body.decode()
        return f"{kind}:{body.decode('utf-8')}:{text}"
"""


def test_json_and_csv_bodies_work_as_str_and_as_bytes(make_app: App) -> None:
    app = make_app(BODY_KINDS)
    assert invoke(app, "1,2", "text/csv").text == "TextBody:1,2:1,2"
    assert invoke(app, "[1]", "application/json").text == "TextBody:[1]:[1]"
    assert invoke(app, "raw", "application/octet-stream").text == "bytes:raw:raw"
    # A body that is not UTF-8 stays bytes (the handler decides what it means).
    response = invoke(app, b"\xff", "text/csv")
    assert response.status_code == 500 and "UnicodeDecodeError" in response.json()["message"]


def test_text_bodies_can_be_turned_off(make_app: App) -> None:
    app = make_app(BODY_KINDS, text_bodies=False)
    assert invoke(app, "1,2", "text/csv").text == "bytes:1,2:1,2"
