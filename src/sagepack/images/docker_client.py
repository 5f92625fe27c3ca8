"""The one way sagepack reaches the Docker engine: the Docker SDK for Python.

The one home of the client for every host-side package (images, containers, smoke, bench,
publish): they call :func:`docker_client` and never ``docker.from_env`` themselves.
"""

from __future__ import annotations

import docker
from docker.errors import DockerException

from sagepack.errors import DockerUnavailable

# Builds of multi-GB images can keep one API call busy for minutes.
DEFAULT_TIMEOUT = 1800


def docker_client(timeout: int = DEFAULT_TIMEOUT) -> docker.DockerClient:
    """A client of the engine that ``DOCKER_HOST`` (or the local socket) names.

    Raises :class:`DockerUnavailable` when no engine answers a ping.
    """
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except DockerException as exc:
        raise DockerUnavailable(
            "no Docker engine answers (DOCKER_HOST or /var/run/docker.sock): "
            f"{exc}. Start the engine (systemctl start docker) or point DOCKER_HOST at one."
        ) from exc
    return client
