"""pytest-docker's settings for the image test suite: the Compose the runner picked (v2 or
1.x), the rendered compose file of this run, containers created (not started) on setup and
removed on teardown."""

from __future__ import annotations

import shlex

import pytest

from sagepack.smoke.spec import RunSpec


@pytest.fixture(scope="session")
def docker_compose_command(run_spec: RunSpec) -> str:
    return shlex.join(run_spec.compose_command)  # pytest-docker runs it through a shell


@pytest.fixture(scope="session")
def docker_compose_file(run_spec: RunSpec) -> str:
    return run_spec.compose_file


@pytest.fixture(scope="session")
def docker_compose_project_name(run_spec: RunSpec) -> str:
    return run_spec.project


@pytest.fixture(scope="session")
def docker_setup() -> list[str]:
    return ["up --no-start"]


@pytest.fixture(scope="session")
def docker_cleanup() -> list[str]:
    return ["down --volumes --remove-orphans --timeout 30"]
