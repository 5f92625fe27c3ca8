"""Fixtures of the publishing tests: real moto and registry processes on free loopback
ports, small images made by importing a rootfs tar, small projects with real archives."""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ecr_mirror import EcrMirror
from publish_helpers import Images, Project
from rich.console import Console

from sagepack.publish.localstack import LocalAws


@pytest.fixture
def services(tmp_path: Path) -> Iterator[LocalAws]:
    """moto (as every AWS endpoint) and a registry with ECR's credentials, on free ports."""
    aws = LocalAws(tmp_path / "services")
    aws.start()
    try:
        yield aws
    finally:
        aws.stop()


@pytest.fixture
def aws_env(services: LocalAws, monkeypatch: pytest.MonkeyPatch,
            tmp_path: Path) -> dict[str, str]:
    """Point boto3's standard chain at moto, and nothing else (no profiles, no files)."""
    for var in list(os.environ):
        if var.startswith(("AWS_", "SAGEPACK_")) and var != "AWS_CA_BUNDLE":
            monkeypatch.delenv(var)
    env = services.environment()
    env.update({"AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
                "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
                "AWS_MAX_ATTEMPTS": "2", "AWS_RETRY_MODE": "standard"})
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def docker_client() -> Any:
    docker = pytest.importorskip("docker")
    try:
        client = docker.from_env(timeout=300)
        client.ping()
    except docker.errors.DockerException as exc:
        pytest.skip(f"no Docker engine answers: {exc}")
    yield client
    client.close()


@pytest.fixture
def images(docker_client: Any) -> Iterator[Images]:
    made = Images(docker_client)
    yield made
    made.cleanup()


@pytest.fixture
def mirror(services: LocalAws) -> Iterator[EcrMirror]:
    """The registry as pushers see it: every pushed manifest also lands in moto's ECR."""
    proxy = EcrMirror(services.registry.host, services.moto.url, services.region).start()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
def project(tmp_path: Path, services: LocalAws, mirror: EcrMirror) -> Project:
    suffix = uuid.uuid4().hex[:8]
    proj = Project(root=tmp_path / "project", repository_prefix=f"sptest-{suffix}",
                   bucket=f"sptest-{suffix}", registry=mirror.host)
    proj.root.mkdir()
    proj.write()
    return proj


@pytest.fixture
def console() -> Console:
    """A console that records what a user would see."""
    return Console(record=True, width=250, file=io.StringIO(), color_system=None)
