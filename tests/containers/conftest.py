"""Fixtures of the container runner's tests: the engine, the example image, its model."""

from __future__ import annotations

import contextlib
import io
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sagepack.config import ModelConfig, Settings, load

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load(ROOT)


@pytest.fixture(scope="session")
def iris(settings: Settings) -> ModelConfig:
    return settings.models["iris"]


@pytest.fixture(scope="session")
def client() -> Any:
    from sagepack.images.docker_client import docker_client

    return docker_client()


@pytest.fixture(scope="session")
def iris_image(example_image: Callable[[str], str]) -> str:
    """The example's CPU image (built when missing)."""
    return example_image("cpu")


@pytest.fixture(scope="session")
def iris_archive(settings: Settings, iris: ModelConfig,
                 tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The packaged archive (packed afresh into a temporary folder)."""
    from sagepack.archive import pack

    return pack(iris, tmp_path_factory.mktemp("dist"), progress=False).archive


@pytest.fixture
def iris_model_dir(iris_archive: Path, tmp_path: Path) -> Path:
    """The iris model extracted as /opt/ml/model would hold it (writable copy for tests)."""
    from sagepack.archive import safe_extract

    return safe_extract(iris_archive, tmp_path / "model")


@pytest.fixture
def derived_image(client: Any) -> Iterator[Any]:
    """Build ``FROM <base>`` + lines into a throw-away tag; every image built is removed."""
    from docker.errors import ImageNotFound

    built: list[str] = []

    def build(base: str, *lines: str) -> str:
        tag = f"sagepack-test/broken:{len(built)}-{id(built)}"
        dockerfile = "\n".join([f"FROM {base}", *lines]) + "\n"
        data = dockerfile.encode()
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo("Dockerfile")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        buf.seek(0)
        client.images.build(fileobj=buf, custom_context=True, tag=tag, network_mode="none",
                            rm=True, forcerm=True)
        built.append(tag)
        return tag

    yield build
    for tag in built:
        with contextlib.suppress(ImageNotFound):  # already removed
            client.images.remove(tag, force=True)

