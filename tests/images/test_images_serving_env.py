"""What a model's serving options put into its image: environment and labels."""

from __future__ import annotations

from dataclasses import replace

from sagepack.config import Settings
from sagepack.images.build import build_labels
from sagepack.images.context import image_env
from sagepack.images.source import SourceInfo
from sagepack.labels import MULTI_MODELS
from sagepack.serving import parameters as p


def _labels(settings: Settings, multi_model: bool) -> dict[str, str]:
    model = replace(settings.models["tiny"], multi_model=multi_model)
    source = SourceInfo(revision="abc", short="abc", commit_time=None, remote="")
    return build_labels(settings, model, model.variant("cpu"), source=source, created=0,
                        base="debian", lock_digest="0" * 64, archive_sha256=None)


def test_async_limits_are_baked_only_when_set(project: Settings) -> None:
    model = project.models["tiny"]
    plain = image_env(model, model.variant("cpu"))
    assert p.MAX_REQUEST_MB not in plain and p.CONFIG_TIMEOUT_S not in plain
    env = image_env(replace(model, max_request_mb=1024, timeout_s=3600), model.variant("cpu"))
    assert env[p.MAX_REQUEST_MB] == "1024"
    assert env[p.CONFIG_TIMEOUT_S] == "3600"


def test_gpu_placement_follows_the_variant(project: Settings) -> None:
    model = project.models["tiny"]
    cpu = model.variant("cpu")
    assert image_env(model, cpu)[p.GPU] == "false"
    assert image_env(model, replace(cpu, name="cuda", gpu=True))[p.GPU] == "true"


def test_multi_model_image_env_and_label(project: Settings) -> None:
    model = project.models["tiny"]
    assert p.MULTI_MODEL not in image_env(model, model.variant("cpu"))
    mme = replace(model, multi_model=True)
    assert image_env(mme, mme.variant("cpu"))[p.MULTI_MODEL] == "true"
    assert _labels(project, multi_model=True)[MULTI_MODELS] == "true"
    assert MULTI_MODELS not in _labels(project, multi_model=False)
