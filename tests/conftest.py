"""Fixtures and rules shared by every test folder.

- Under CI (``CI=true``) nothing may be skipped: a skip there means a missing install step
  or service, so it is reported as a failure with its reason.
- ``local_base`` is the default local base, patched: built once per run when it is missing
  (or was built without Debian's updates and security suites), and kept.
- ``example_image(variant, model="iris")`` gives the tag of a bundled example's image,
  building it when it is missing or is not the image whose build report this checkout's
  ``dist`` holds (an image of the same tag left by another clone), and removing what it
  built when the session ends; built on ``local_base`` (``example_image("graviton")``: the
  linux/arm64 image, whose build makes the arm64 base when it is missing and keeps it, as
  ``local_base`` keeps the amd64 one).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under CI, where every test must run: {reason}"


@pytest.fixture(scope="session")
def local_base() -> str:
    """The name of the default local base, with the security and updates suites applied."""
    from docker.errors import ImageNotFound

    from sagepack import labels
    from sagepack.config import DEFAULT_BASE_IMAGE, load
    from sagepack.errors import DockerUnavailable
    from sagepack.images import docker_client, ensure_base
    from sagepack.images.environment import BuildEnvironment

    try:
        client = docker_client()
    except DockerUnavailable as exc:
        pytest.skip(str(exc))
    env = BuildEnvironment.from_project(load(ROOT, env={}).project)
    try:
        unpatched = labels.BASE_PACKAGE_SET_SHA256 not in labels.read_labels(
            client, DEFAULT_BASE_IMAGE)
    except ImageNotFound:
        unpatched = False
    ensure_base(client, DEFAULT_BASE_IMAGE, rebuild=unpatched, mirror=env.debian_mirror,
                security_mirror=env.debian_security_mirror)
    client.close()
    return DEFAULT_BASE_IMAGE


@pytest.fixture(scope="session")
def example_image(local_base: str) -> Iterator[Callable[..., str]]:
    """``example_image("cpu")`` -> the tag of the iris image of that variant, and
    ``example_image("cuda", "torch-mlp")`` that of another bundled model, each built once
    when missing; images built here are removed at the end of the session."""
    from docker.errors import ImageNotFound

    from sagepack.config import load
    from sagepack.images import build, docker_client, image_tags
    from sagepack.images.build import build_report_path

    client = docker_client()
    settings = load(ROOT, env={})
    built: list[str] = []

    def built_by_this_checkout(tag: str, model: str, variant: str) -> bool:
        """Whether ``tag`` is the image whose build report (and SBOM) this checkout's
        ``dist`` holds: an image of the same tag left by another clone is built again."""
        try:
            report = json.loads(build_report_path(settings, model, variant).read_text())
            return bool(client.images.get(tag).id == report["image_id"])
        except (OSError, ValueError, KeyError, ImageNotFound):
            return False

    def get(variant: str, model: str = "iris") -> str:
        config = settings.models[model]
        tag = image_tags(settings, config, config.variant(variant))[0]
        if not built_by_this_checkout(tag, model, variant):
            result = build(settings, config, variant, client=client)
            built.extend(result.tags)
        return tag

    yield get
    for tag in built:
        with contextlib.suppress(ImageNotFound):
            client.images.remove(tag, force=True)
    client.close()
