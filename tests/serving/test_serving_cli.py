"""``serve --check`` and start-up failures of ``serve``."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
from serving_helpers import DOUBLER, write_model

from sagepack.serving.cli import check_result, main


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """serve sets up logging for the whole process: undo it after each test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_check_loads_the_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_model(tmp_path, DOUBLER)
    with mock.patch.dict(os.environ, {"SAGEPACK_MODEL_DIR": str(tmp_path)}, clear=True):
        assert main(["--check"]) == 0
    assert "loaded the model" in capsys.readouterr().out


def test_check_fails_with_the_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_model(tmp_path, "def predict_fn(data, model):\n    return data\n")
    with mock.patch.dict(os.environ, {"SAGEPACK_MODEL_DIR": str(tmp_path)}, clear=True):
        assert main(["--check"]) == 1
    assert "defines no model_fn" in capsys.readouterr().err


def test_bad_environment_stops_serve(capsys: pytest.CaptureFixture[str]) -> None:
    with mock.patch.dict(os.environ, {"SAGEMAKER_BIND_TO_PORT": "eighty"}, clear=True):
        assert main([]) == 2
    assert "SAGEMAKER_BIND_TO_PORT: must be a whole number, got 'eighty'" in capsys.readouterr().err


def test_the_word_serve_is_accepted_as_an_argument(tmp_path: Path) -> None:
    write_model(tmp_path, DOUBLER)
    with mock.patch.dict(os.environ, {"SAGEPACK_MODEL_DIR": str(tmp_path)}, clear=True):
        assert main(["serve", "--check"]) == 0


WARNS = """
import warnings

def model_fn(model_dir):
    warnings.warn("pickled by scikit-learn 1.2.2, running 1.5.0", UserWarning)
    return lambda data: data
"""


def test_check_prints_load_warnings_and_ends_with_json(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_model(tmp_path, WARNS)
    with mock.patch.dict(os.environ, {"SAGEPACK_MODEL_DIR": str(tmp_path)}, clear=True):
        assert main(["--check"]) == 0
    out, err = capsys.readouterr()
    where = f"{tmp_path / 'code' / 'inference.py'}:5"
    assert f"serve --check: warning: UserWarning: pickled by scikit-learn 1.2.2, running " \
           f"1.5.0 ({where})" in err
    assert check_result(out) == {"loaded": True, "error": None, "warnings": [{
        "category": "UserWarning", "message": "pickled by scikit-learn 1.2.2, running 1.5.0",
        "filename": str(tmp_path / "code" / "inference.py"), "lineno": 5}]}


def test_check_json_names_the_failure_and_its_warnings(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_model(tmp_path, "import warnings\nwarnings.warn('old pickle', FutureWarning)\n"
                          "def model_fn(model_dir):\n    raise ValueError('bad pickle')\n")
    with mock.patch.dict(os.environ, {"SAGEPACK_MODEL_DIR": str(tmp_path)}, clear=True):
        assert main(["--check"]) == 1
    out, err = capsys.readouterr()
    result = check_result(out)
    assert result["loaded"] is False
    assert result["error"].endswith("model_fn raised ValueError: bad pickle")
    assert [(w["category"], w["message"], w["lineno"]) for w in result["warnings"]] == [
        ("FutureWarning", "old pickle", 2)]
    assert "Traceback" in err and "bad pickle" in err


def test_check_result_refuses_output_without_the_json_line() -> None:
    with pytest.raises(ValueError, match="did not end with its JSON result"):
        check_result('serve --check: ok\n["not", "it"]\n')
