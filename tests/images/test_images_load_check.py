"""The model-loads build check: serve --check's JSON line read into a result."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sagepack.checks import FAILED, PASSED, SKIPPED
from sagepack.images import load_check


def _answer(monkeypatch: pytest.MonkeyPatch, status: int, result: dict[str, Any] | None,
            seen: list[dict[str, Any]]) -> None:
    def run(client: Any, image: str, argv: list[str], timeout: int, *,
            volumes: Any = None, stderr: bool = True) -> tuple[int, str]:
        seen.append({"argv": argv, "volumes": volumes, "stderr": stderr})
        last = json.dumps(result) if result is not None else "Traceback ..."
        return status, f"serve --check: something\n{last}\n"
    monkeypatch.setattr(load_check, "run_in_image", run)


WARNING = {"category": "sklearn.exceptions.InconsistentVersionWarning",
           "message": "Trying to unpickle estimator from version 1.9 when using 1.7",
           "filename": "/opt/ml/model/code/inference.py", "lineno": 7}


def test_warnings_from_model_fn_are_shown_and_a_baked_image_mounts_nothing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[dict[str, Any]] = []
    _answer(monkeypatch, 0, {"loaded": True, "error": None, "warnings": [WARNING]}, seen)
    result = load_check.check_model_load(None, "img", archive=None, baked=True)  # type: ignore[arg-type]
    assert result.outcome == PASSED
    assert "InconsistentVersionWarning: Trying to unpickle estimator from version 1.9" \
        in result.detail
    assert seen == [{"argv": ["serve", "--check"], "volumes": None, "stderr": False}]


def test_a_model_that_does_not_load_fails_with_its_error(monkeypatch: pytest.MonkeyPatch) -> None:
    _answer(monkeypatch, 1, {"loaded": False, "error": "ValueError: bad weights",
                             "warnings": []}, [])
    result = load_check.check_model_load(None, "img", archive=None, baked=True)  # type: ignore[arg-type]
    assert result.outcome == FAILED and "ValueError: bad weights" in result.detail


def test_output_without_the_json_line_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    _answer(monkeypatch, 1, None, [])
    result = load_check.check_model_load(None, "img", archive=None, baked=True)  # type: ignore[arg-type]
    assert result.outcome == FAILED and "exited 1" in result.detail


def test_a_dynamic_image_without_an_archive_is_skipped_not_passed(tmp_path: Path) -> None:
    result = load_check.check_model_load(None, "img", archive=tmp_path / "model.tar.gz",  # type: ignore[arg-type]
                                         baked=False)
    assert result.outcome == SKIPPED and "invoke package" in result.detail
    assert not result.passed and not result.failed


def test_a_dynamic_image_gets_the_extracted_archive_read_only(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import tarfile

    source = tmp_path / "src"
    (source / "code").mkdir(parents=True)
    (source / "code" / "inference.py").write_text("def model_fn(d):\n    return d\n")
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source / "code", arcname="code")
    seen: list[dict[str, Any]] = []
    _answer(monkeypatch, 0, {"loaded": True, "error": None, "warnings": []}, seen)
    result = load_check.check_model_load(None, "img", archive=archive, baked=False)  # type: ignore[arg-type]
    assert result.outcome == PASSED and result.detail == "the model loads, no warnings"
    (mount,) = seen[0]["volumes"].values()
    assert mount == {"bind": "/opt/ml/model", "mode": "ro"}
