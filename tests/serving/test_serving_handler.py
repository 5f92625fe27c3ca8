"""The handler convention: which modules start, and what each broken one says."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from serving_helpers import invoke, request, write_model

from sagepack.errors import HandlerError
from sagepack.serving.app import FAILED, READY, ServingApp
from sagepack.serving.handler import Handler


def load(tmp_path: Path, source: str) -> Handler:
    root = write_model(tmp_path, source)
    return Handler.load(root / "code" / "inference.py")


@pytest.mark.parametrize(("source", "fragment"), [
    ("def predict_fn(data, model):\n    return data\n", "defines no model_fn(model_dir)"),
    ("def model_fn(d):\n    pass\n"
     "def transform_fn(m, b, c, a):\n    pass\n"
     "def input_fn(b, c):\n    pass\n", "defines transform_fn together with input_fn"),
    ("def model_fn():\n    pass\n", "model_fn() must take (model_dir)"),
    ("def model_fn(d):\n    pass\ndef input_fn(a, b, c, d):\n    pass\n",
     "input_fn(a, b, c, d) must take (body, content_type)"),
    ("model_fn = 3\n", "model_fn is a int, not a function"),
    ("import not_a_module_anywhere\n", "ModuleNotFoundError"),
    ("def model_fn(d)\n", "SyntaxError"),
])
def test_broken_handlers_are_named_with_their_fault(tmp_path: Path, source: str,
                                                    fragment: str) -> None:
    with pytest.raises(HandlerError) as caught:
        load(tmp_path, source)
    assert fragment in str(caught.value)
    assert "inference.py" in str(caught.value)


def test_missing_handler_lists_what_is_there(tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "serve.py").write_text("")
    with pytest.raises(HandlerError, match=r"does not exist; files in .*: serve\.py"):
        Handler.load(tmp_path / "code" / "inference.py")


def test_context_is_passed_only_to_functions_that_take_it(tmp_path: Path) -> None:
    handler = load(tmp_path, """
        def model_fn(model_dir, context):
            pass
        def input_fn(body, content_type, context=None):
            pass
        def predict_fn(data, model):
            pass
        def output_fn(prediction, accept, *extra):
            pass
    """)
    assert handler.model_fn.takes_context
    assert handler.input_fn is not None and handler.input_fn.takes_context
    assert handler.predict_fn is not None and not handler.predict_fn.takes_context
    assert handler.output_fn is not None and not handler.output_fn.takes_context


def test_handler_helpers_next_to_it_can_be_imported(
        make_app: Callable[..., ServingApp]) -> None:
    app = make_app("""
        from helper_for_serving_test import double
        def model_fn(model_dir):
            return double
    """, load=False)
    (app.settings.handler_dir / "helper_for_serving_test.py").write_text(
        "def double(x):\n    return x * 2\n")
    app.load()
    assert app.state == READY
    assert invoke(app, "[1, 2]").json() == [2, 4]


def test_model_fn_failure_is_reported_on_ping(make_app: Callable[..., ServingApp]) -> None:
    app = make_app("""
        def model_fn(model_dir):
            raise FileNotFoundError(model_dir + "/model.joblib")
    """)
    assert app.state == FAILED
    response = request(app, "GET", "/ping")
    assert response.status_code == 503
    assert response.json()["status"] == "failed"
    assert "model_fn raised FileNotFoundError" in response.json()["message"]
    assert "model.joblib" in response.json()["message"]
    refused = invoke(app, "[1]")
    assert refused.status_code == 503 and "model.joblib" in refused.json()["message"]


def test_a_model_that_cannot_predict_needs_predict_fn(
        make_app: Callable[..., ServingApp]) -> None:
    app = make_app("def model_fn(model_dir):\n    return {'weights': [1, 2]}\n")
    assert app.state == FAILED
    assert "no predict_fn" in app.failure and "dict" in app.failure


def test_import_that_exits_is_a_load_failure(make_app: Callable[..., ServingApp]) -> None:
    app = make_app("import sys\nsys.exit(3)\n")
    assert app.state == FAILED
    assert "SystemExit" in app.failure
