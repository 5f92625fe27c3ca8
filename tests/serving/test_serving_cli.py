"""``serve --check`` and start-up failures of ``serve``."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
from serving_helpers import DOUBLER, write_model

from sagepack.serving.cli import main


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
