"""The batch environment SageMaker gives a transform container, made in one place."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from sagepack.config import ModelConfig, load
from sagepack.containers.contract import batch_env, batch_strategy, validation_batch_env
from sagepack.containers.launch import ContainerSpec
from sagepack.containers.transform import job_env
from sagepack.errors import ContainerError, TransformError
from sagepack.images.context import image_env
from sagepack.serving.settings import Settings as ServingSettings
from sagepack.smoke.compose import render
from sagepack.transform import TransformJob

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def iris() -> ModelConfig:
    return load(ROOT).models["iris"]


def test_batch_env_holds_only_what_the_job_sets() -> None:
    assert batch_env() == {"SAGEMAKER_BATCH": "true"}
    assert batch_env(max_payload_mb=0, strategy="MultiRecord", max_concurrent=2,
                     timeout_s=900) == {
        "SAGEMAKER_BATCH": "true", "SAGEMAKER_MAX_PAYLOAD_IN_MB": "0",
        "SAGEMAKER_BATCH_STRATEGY": "MULTI_RECORD",
        "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": "2", "SAGEMAKER_MODEL_SERVER_TIMEOUT": "900"}


@pytest.mark.parametrize(("given", "env"), [
    ("MultiRecord", "MULTI_RECORD"), ("SingleRecord", "SINGLE_RECORD"),
    ("MULTI_RECORD", "MULTI_RECORD"), ("single-record", "SINGLE_RECORD")])
def test_strategy_spellings(given: str, env: str) -> None:
    assert batch_strategy(given) == env


def test_unknown_strategy_is_refused() -> None:
    with pytest.raises(ContainerError, match="'Whole' is not one of MultiRecord, SingleRecord"):
        batch_strategy("Whole")


def test_transform_timeout_reaches_the_container(tmp_path: Path) -> None:
    job = TransformJob(input=tmp_path, output=tmp_path / "out", strategy="SingleRecord",
                       max_payload_mb=2, timeout_s=1200)
    env = job_env(job)
    assert env["SAGEMAKER_MODEL_SERVER_TIMEOUT"] == "1200"
    assert env["SAGEMAKER_BATCH_STRATEGY"] == "SINGLE_RECORD"
    assert env["SAGEMAKER_MAX_PAYLOAD_IN_MB"] == "2"
    # ... and the serving runtime reads it as the per-request timeout.
    settings = ServingSettings.from_environ({**env, "SAGEPACK_MODEL_DIR": str(tmp_path)})
    assert settings.timeout_s == 1200
    with pytest.raises(TransformError, match="--strategy"):
        job_env(replace(job, strategy="Whole"))


def test_validation_env_is_the_same_everywhere(iris: ModelConfig) -> None:
    """The image checks' batch container and the image's defaults agree with batch_env."""
    assert iris.validation is not None
    expected = batch_env(max_payload_mb=iris.validation.max_payload_mb,
                         strategy=iris.validation.strategy)
    assert validation_batch_env(iris) == expected
    doc = render(ContainerSpec("img:1", {}, gpu=False), validation_batch_env(iris), run_id="r",
                 model_dir=None, no_network=True)
    batch = doc["services"]["model-batch"]["environment"]
    assert {k: batch[k] for k in expected} == expected
    image = image_env(iris, iris.variant("cpu"))
    assert image["SAGEPACK_BATCH_STRATEGY"] == expected["SAGEMAKER_BATCH_STRATEGY"]
    assert image["SAGEPACK_MAX_PAYLOAD_IN_MB"] == expected["SAGEMAKER_MAX_PAYLOAD_IN_MB"]
    assert validation_batch_env(replace(iris, validation=None)) == {"SAGEMAKER_BATCH": "true"}
