"""The build benchmark's naive recipe: sagepack's base, no compilers, proven to work."""

from __future__ import annotations

import io
import tarfile
import uuid
from pathlib import Path

import pytest

from sagepack.bench import naive
from sagepack.config import ModelConfig, load

ROOT = Path(__file__).resolve().parents[2]


def iris() -> ModelConfig:
    return load(ROOT).select("iris")[0]


def test_the_recipe_is_one_stage_on_the_given_base_with_pip_and_flask() -> None:
    dockerfile = naive.DOCKERFILE.format(base="sagepack/base:bookworm-python3.11",
                                         packages="flask onnxruntime")
    froms = [line for line in dockerfile.splitlines() if line.startswith("FROM")]
    assert froms == ["FROM sagepack/base:bookworm-python3.11"]
    assert "pip install" in dockerfile and "apt-get" not in dockerfile
    assert not any(word in dockerfile for word in ("build-essential", "gcc", "python3-dev"))


def test_the_recipe_installs_flask_and_the_model_requirements() -> None:
    model = iris()
    packages = naive.requirements(model)
    assert packages[0] == "flask"
    assert any(p.startswith("onnxruntime") for p in packages)
    assert not any(p.startswith("-") for p in packages)


@pytest.mark.docker
def test_an_image_whose_serve_fails_is_reported_as_not_working(local_base: str) -> None:
    from sagepack.images.docker_client import docker_client

    model = iris()
    base = model.variant("cpu").base_image
    assert base == local_base  # built by the session fixture when missing
    client = docker_client()
    tag = f"sagepack-test/naive-broken:{uuid.uuid4().hex[:8]}"
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, text, mode in (
                ("Dockerfile", f"FROM {base}\nCOPY serve /usr/local/bin/serve\n", 0o644),
                ("serve", "#!/bin/sh\necho 'no model here' >&2\nexit 3\n", 0o755)):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    client.images.build(fileobj=context, custom_context=True, tag=tag, rm=True)
    try:
        run = naive.prove_it_works(client, tag, model)
    finally:
        client.images.remove(tag, force=True)
    assert run["works"] is False
    assert run["sample"] == model.samples[0].name
    assert run["problem"]
