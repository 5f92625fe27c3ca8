"""Fixtures of the deploy tests: the publishing tests' real moto server and project
(imported from ``tests/publish``, not copied), a published record, and proxies that show
what moto cannot (endpoint and job states changing over time, updates, streamed answers)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PUBLISH_TESTS = Path(__file__).resolve().parents[1] / "publish"
if str(PUBLISH_TESTS) not in sys.path:
    sys.path.insert(0, str(PUBLISH_TESTS))


def _publish_conftest() -> object:
    spec = importlib.util.spec_from_file_location("publish_conftest",
                                                  PUBLISH_TESTS / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_publish = _publish_conftest()
services = _publish.services  # type: ignore[attr-defined]
aws_env = _publish.aws_env  # type: ignore[attr-defined]
mirror = _publish.mirror  # type: ignore[attr-defined]
project = _publish.project  # type: ignore[attr-defined]
console = _publish.console  # type: ignore[attr-defined]

from deploy_helpers import StatusProxy  # noqa: E402
from runtime_stream import StreamingRuntime  # noqa: E402

from sagepack.publish.localstack import LocalAws  # noqa: E402


@pytest.fixture
def status_proxy(services: LocalAws, aws_env: dict[str, str],
                 monkeypatch: pytest.MonkeyPatch) -> Iterator[StatusProxy]:
    """SageMaker's API through a proxy that can answer scripted states to Describe calls."""
    proxy = StatusProxy(services.moto.url).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", proxy.url)
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
def streaming_runtime(services: LocalAws, aws_env: dict[str, str],
                      monkeypatch: pytest.MonkeyPatch) -> Iterator[StreamingRuntime]:
    """SageMaker runtime through a proxy that answers InvokeEndpointWithResponseStream."""
    runtime = StreamingRuntime(services.moto.url, services.moto.url).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", runtime.url)
    try:
        yield runtime
    finally:
        runtime.stop()
