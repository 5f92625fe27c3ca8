"""The host side of multi-model images: the test models' archives extracted where SageMaker
puts them, mounted at /opt/ml/models, and no archive of the image's own."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sagepack import archive
from sagepack.config import Settings, load
from sagepack.containers.launch import ContainerSpec
from sagepack.containers.model_dir import model_directory
from sagepack.errors import ArchiveError
from sagepack.smoke import compose
from sagepack.smoke.models_dir import models_directory

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def example(tmp_path: Path) -> Settings:
    """The bundled examples, copied so that packing them writes under tmp_path."""
    shutil.copytree(ROOT / "artifacts", tmp_path / "artifacts")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return load(tmp_path, env={})


def test_the_example_mme_model_is_tested_with_the_other_examples(example: Settings) -> None:
    mme = example.models["examples-mme"]
    assert mme.multi_model and mme.artifact_mode == "dynamic"
    assert mme.test_models == ("iris", "score-stream")
    assert all(s.stream for s in example.models["score-stream"].samples)


def test_models_directory_extracts_each_test_model(example: Settings) -> None:
    mme = example.models["examples-mme"]
    for name in mme.test_models:
        archive.pack(example.models[name], example.project.dist_for(name), progress=False)
    with models_directory(example, mme) as folder:
        assert folder is not None
        assert (folder / "iris/model/code/inference.py").is_file()
        assert (folder / "iris/model/model.onnx").is_file()
        assert (folder / "score-stream/model/weights.json").is_file()
        assert sorted(p.name for p in folder.iterdir()) == ["iris", "score-stream"]
    assert not folder.exists()
    with model_directory(example, mme) as own:
        assert own is None  # nothing at /opt/ml/model


def test_a_missing_test_archive_says_what_to_run(example: Settings) -> None:
    mme = example.models["examples-mme"]
    archive.pack(example.models["iris"], example.project.dist_for("iris"), progress=False)
    with pytest.raises(ArchiveError, match="invoke package --model score-stream"), \
            models_directory(example, mme):
        pass


def test_single_model_images_get_no_models_directory(example: Settings) -> None:
    with models_directory(example, example.models["iris"]) as folder:
        assert folder is None


def test_compose_mounts_the_models_read_only(tmp_path: Path) -> None:
    spec = ContainerSpec(image="img", env={})
    doc = compose.render(spec, {}, run_id="r", model_dir=None, no_network=True,
                         models_dir=tmp_path)
    for service in doc["services"].values():
        assert service["volumes"] == [f"{tmp_path}:/opt/ml/models:ro"]
    plain = compose.render(spec, {}, run_id="r", model_dir=tmp_path, no_network=True)
    assert plain["services"]["model"]["volumes"] == [f"{tmp_path}:/opt/ml/model:ro"]


def test_packaging_leaves_out_multi_model_images(example: Settings) -> None:
    models = [example.models["examples-mme"], example.models["score-stream"]]
    results = archive.package_models(example, models)
    assert len(results) == 1
    assert not (example.project.dist_for("examples-mme") / archive.ARCHIVE_NAME).exists()
    assert (example.project.dist_for("score-stream") / archive.ARCHIVE_NAME).is_file()

