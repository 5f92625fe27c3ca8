"""Fixtures of the image tests: a throw-away project holding the tiny model, and a Docker
client that removes every image and container the tests create."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from images_helpers import Tracker, make_project

from sagepack.config import Settings


@pytest.fixture
def project(tmp_path: Path) -> Settings:
    return make_project(tmp_path / "project")


@pytest.fixture
def docker_client() -> Iterator[Any]:
    from sagepack.errors import DockerUnavailable
    from sagepack.images import docker_client as make_client

    try:
        client = make_client()
    except DockerUnavailable as exc:
        pytest.skip(str(exc))
    yield client
    client.close()


@pytest.fixture(scope="session")
def stage_images() -> Iterator[list[str]]:
    """Builder-stage images of the session's builds, removed when the session ends."""
    from docker.errors import APIError, ImageNotFound

    from sagepack.errors import DockerUnavailable
    from sagepack.images import docker_client as make_client

    ids: list[str] = []
    yield ids
    if not ids:
        return
    try:
        client = make_client()
    except DockerUnavailable:
        return
    for image_id in reversed(ids):
        try:
            client.images.remove(image_id)
        except ImageNotFound:
            continue
        except APIError as exc:  # still the parent of an image another build made
            if exc.status_code != 409:
                raise
    client.close()


@pytest.fixture
def tracker(docker_client: Any, stage_images: list[str]) -> Iterator[Tracker]:
    """Removes, after the test, every image it registered and any check container left."""
    from docker.errors import ImageNotFound

    track = Tracker(docker_client, stage_images)
    yield track
    for container in docker_client.containers.list(
            all=True, filters={"label": "sagepack.check=true"}):
        container.remove(force=True)
    for ref in reversed(track.images):
        try:
            docker_client.images.remove(ref, force=True)
        except ImageNotFound:
            continue
