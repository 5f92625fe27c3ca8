"""``invoke test --record`` against the example image: samples without an expected response
are recorded from the image's answers, and the next run compares against them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sagepack.archive import pack
from sagepack.checks import FAILED, PASSED
from sagepack.compare import response_diffs
from sagepack.config import load
from sagepack.smoke import run_image_tests
from sagepack.smoke.record import Recording

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
ONLY_SAMPLES = ("-k", "test_sample")


def _project_without_expected(tmp_path: Path) -> Path:
    """A copy of the project's iris model whose [[samples]] name no expected response."""
    root = tmp_path / "project"
    shutil.copytree(ROOT / "artifacts/iris", root / "artifacts/iris")
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    config = root / "artifacts/iris/sagepack.toml"
    lines = config.read_text().splitlines(keepends=True)
    config.write_text("".join(line for line in lines
                              if not line.startswith('expected = "samples/response')))
    for answer in (root / "artifacts/iris/samples").glob("response.*"):
        answer.unlink()
    return root


def test_record_writes_the_answers_and_the_next_run_compares_with_them(
        iris_image: str, tmp_path: Path) -> None:
    root = _project_without_expected(tmp_path)
    settings = load(root, env={})
    model = settings.models["iris"]
    assert all(s.expected is None for s in model.samples)
    pack(model, settings.project.dist_for("iris"), progress=False)

    report = run_image_tests(settings, model, model.variant("cpu"), no_network=True,
                             junit=tmp_path / "record.xml", image=iris_image,
                             pytest_args=ONLY_SAMPLES, record=Recording())
    assert report.ok, [(c.name, c.message) for c in report.failures]
    recorded = load(root, env={}).models["iris"]
    committed = load(ROOT, env={}).models["iris"]
    for sample, known in zip(recorded.samples, committed.samples, strict=True):
        assert sample.expected is not None and sample.expected.name == known.expected.name
        # What was recorded is what the project's own expected responses say.
        assert response_diffs(sample.expected.read_bytes(), known.expected.read_bytes(),
                              sample.accept) == []
    text = recorded.config_file.read_text()
    assert text.startswith("# The bundled example")  # the user's comments are kept
    assert "# What the CUDA libraries are built for" in text

    # From now on the answers are compared: a wrong expected response fails its check.
    wrong = recorded.samples[0]
    assert wrong.expected is not None
    wrong.expected.write_text('{"predictions": []}\n')
    again = run_image_tests(settings, recorded, recorded.variant("cpu"), no_network=True,
                            junit=tmp_path / "compare.xml", image=iris_image,
                            pytest_args=ONLY_SAMPLES)
    outcomes = {c.name: c for c in again.checks}
    failed = outcomes[f"Sample answers as expected [{wrong.name}]"]
    assert failed.outcome == FAILED and "differs from" in failed.message
    assert all(outcomes[f"Sample answers as expected [{s.name}]"].outcome == PASSED
               for s in recorded.samples[1:])
