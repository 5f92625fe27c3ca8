"""``invoke test --record``, the host's half: the answers the sample checks left become the
samples' expected responses, and ``sagepack.toml`` points at them with its layout kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from sagepack import config
from sagepack.smoke.record import Recording, answer_file, save_recordings

MODEL_TOML = """\
# The user's own comment, kept.
name = "m1"
version = "0.1.0"
content_types = ["text/csv", "application/json"]
response_types = ["application/json", "text/csv"]

[variants.cpu]
requirements_in = "requirements/cpu.in"   # an inline comment, kept
requirements = "requirements/cpu.txt"

[[samples]]
name = "csv"
body = "samples/request.csv"
content_type = "text/csv"
accept = "application/json"

[[samples]]
name = "csv-out"
body = "samples/request.csv"
content_type = "text/csv"
accept = "text/csv"
expected = "samples/kept.csv"

[[samples]]
name = "json"
body = "samples/request.json"
content_type = "application/json"
accept = "application/json"
"""


@pytest.fixture
def model(tmp_path: Path) -> config.ModelConfig:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    root = tmp_path / "artifacts" / "m1"
    for rel, text in {"code/inference.py": "def model_fn(d):\n    return d\n",
                      "requirements/cpu.in": "numpy\n", "samples/request.csv": "1,2\n",
                      "samples/request.json": "[[1, 2]]", "samples/kept.csv": "0\n",
                      "sagepack.toml": MODEL_TOML}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return config.load(tmp_path, env={}).models["m1"]


def _answers(tmp_path: Path, model: config.ModelConfig, bodies: dict[str, bytes]) -> Path:
    folder = tmp_path / "answers"
    folder.mkdir(exist_ok=True)
    for sample in model.samples:
        if sample.name in bodies:
            answer_file(folder, sample).write_bytes(bodies[sample.name])
    return folder


def test_new_answers_are_written_beside_their_requests_and_the_toml_keeps_its_layout(
        model: config.ModelConfig, tmp_path: Path) -> None:
    answers = _answers(tmp_path, model, {"csv": b"[2]", "csv-out": b"9\n", "json": b"[3]"})
    recorded = save_recordings(model, answers, Recording())
    assert [(r.sample, r.path.relative_to(model.root).as_posix()) for r in recorded] == [
        ("csv", "samples/response.json"), ("json", "samples/response-json.json")]
    assert (model.root / "samples/response.json").read_bytes() == b"[2]"
    assert (model.root / "samples/response-json.json").read_bytes() == b"[3]"
    assert (model.root / "samples/kept.csv").read_text() == "0\n"  # had one: not replaced
    text = model.config_file.read_text()
    assert text.startswith("# The user's own comment, kept.\n")
    assert '"requirements/cpu.in"   # an inline comment, kept' in text
    assert text.count("expected = ") == 3
    again = config.load(model.root.parents[1], env={}).models["m1"]
    assert [s.expected.name if s.expected else None for s in again.samples] == [
        "response.json", "kept.csv", "response-json.json"]
    assert not list(model.root.rglob("*.tmp"))  # written through temporary names
    # Nothing left to record: a second run writes nothing.
    assert save_recordings(again, answers, Recording()) == []


def test_force_records_every_sample_again_in_its_own_file(model: config.ModelConfig,
                                                          tmp_path: Path) -> None:
    first = save_recordings(model, _answers(tmp_path, model, {"csv": b"[2]"}), Recording())
    assert [r.replaced for r in first] == [False]
    model = config.load(model.root.parents[1], env={}).models["m1"]
    before = model.config_file.read_text()
    answers = _answers(tmp_path, model, {"csv": b"[5]", "csv-out": b"7\n"})
    redone = save_recordings(model, answers, Recording(force=True))
    assert [(r.sample, r.replaced) for r in redone] == [("csv", True), ("csv-out", True)]
    assert (model.root / "samples/response.json").read_bytes() == b"[5]"
    assert (model.root / "samples/kept.csv").read_bytes() == b"7\n"
    assert model.config_file.read_text() == before  # the same files: nothing to point anew
    assert "re-recorded csv-out" in redone[1].describe() and "    7" in redone[1].describe()


def test_a_sample_whose_check_left_no_answer_is_not_recorded(model: config.ModelConfig,
                                                            tmp_path: Path) -> None:
    recorded = save_recordings(model, _answers(tmp_path, model, {"json": b"[3]"}), Recording())
    assert [r.sample for r in recorded] == ["json"]
    again = config.load(model.root.parents[1], env={}).models["m1"]
    assert again.samples[0].expected is None
    assert again.samples[2].expected == model.root / "samples/response.json"
    assert sorted(p.name for p in (model.root / "samples").iterdir()) == [
        "kept.csv", "request.csv", "request.json", "response.json"]
