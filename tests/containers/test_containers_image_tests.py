"""``invoke test`` end to end against the example image: table, JUnit XML, no leftovers."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sagepack.checks import FAILED, PASSED, SKIPPED
from sagepack.config import ModelConfig, Settings
from sagepack.containers.gpu import gpu_host
from sagepack.smoke import run_image_tests

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def _no_leftovers(client: Any, run_project_prefix: str = "sagepack") -> None:
    names = [c.name for c in client.containers.list(all=True)
             if c.labels.get("com.docker.compose.project", "").startswith(run_project_prefix)]
    assert names == []


@pytest.fixture
def packaged(monkeypatch: pytest.MonkeyPatch, iris_archive: Path) -> None:
    from sagepack.containers import model_dir

    monkeypatch.setattr(model_dir, "archive_path", lambda s, m: iris_archive)


def test_no_network_run(settings: Settings, iris: ModelConfig, iris_image: str, client: Any,
                        packaged: None, tmp_path: Path) -> None:
    junit = tmp_path / "image-tests-cpu.xml"
    report = run_image_tests(settings, iris, iris.variant("cpu"), no_network=True, junit=junit)
    outcomes = {c.name: c.outcome for c in report.checks}
    assert outcomes["No connection out, no DNS"] == PASSED
    assert outcomes["SIGTERM with a request in flight: it completes, exit 0 within 30 s"] == PASSED
    assert outcomes["Validation transform produces the expected outputs"] == PASSED
    assert all(outcomes[f"Sample answers as expected [{s.name}]"] == PASSED
               for s in iris.samples)
    egress = next(c for c in report.checks if c.name == "No connection out, no DNS")
    assert "control on sagepack-egress-" in egress.detail and "reached and resolved" in egress.detail
    device = next(c for c in report.checks if c.name == "Runs on the expected device")
    assert device.outcome == PASSED and device.detail.startswith("CPU variant")
    assert "CPUExecutionProvider" in device.detail
    assert report.ok, [(c.name, c.message) for c in report.failures]
    assert report.summary() == "all checks passed"
    cases = ET.parse(junit).getroot().findall(".//testcase")
    assert len(cases) == len(report.checks) >= 15
    _no_leftovers(client)


def test_network_run_skips_egress(settings: Settings, iris: ModelConfig, iris_image: str,
                                  client: Any, packaged: None, tmp_path: Path) -> None:
    report = run_image_tests(settings, iris, iris.variant("cpu"), no_network=False,
                             junit=tmp_path / "r.xml")
    egress = next(c for c in report.checks if c.name == "No connection out, no DNS")
    assert egress.outcome == SKIPPED and "--no-network" in egress.message
    assert report.ok, [(c.name, c.message) for c in report.failures]
    assert report.summary() == "all checks passed, 1 skipped: egress (bridge network)"
    _no_leftovers(client)


def test_broken_image_fails_with_its_diagnosis(settings: Settings, iris: ModelConfig,
                                               iris_image: str, derived_image: Any,
                                               packaged: None, tmp_path: Path) -> None:
    image = derived_image(iris_image, 'RUN rm "$(command -v serve)"')
    report = run_image_tests(settings, iris, iris.variant("cpu"), no_network=True,
                             junit=tmp_path / "r.xml", image=image)
    assert not report.ok
    ready = report.checks[0]
    assert ready.outcome != PASSED
    assert "`serve` was not found" in ready.message


def test_cuda_variant_runs_on_the_device_the_host_has(settings: Settings, iris: ModelConfig,
                                                     example_image: Callable[[str], str],
                                                     client: Any, packaged: None,
                                                     tmp_path: Path) -> None:
    example_image("cuda")
    host = gpu_host(client)
    report = run_image_tests(settings, iris, iris.variant("cuda"), no_network=True,
                             junit=tmp_path / "image-tests-cuda.xml")
    device = next(c for c in report.checks if c.name == "Runs on the expected device")
    if host.usable:
        assert device.outcome == PASSED, device.message
        assert "onnxruntime providers in use: ['CUDAExecutionProvider'" in device.detail
    elif host.has_gpu:  # a GPU the engine cannot give to a container is no CPU fallback
        assert device.outcome == FAILED and "was not given to the container" in device.message
        return
    else:
        assert device.outcome == PASSED, device.message
        assert device.detail.startswith("CPU fallback (no GPU on this host)")
        assert "onnxruntime providers in use: ['CPUExecutionProvider']" in device.detail
    assert report.ok, [(c.name, c.message) for c in report.failures]


# A handler baked into a derived image (SAGEPACK_HANDLER_DIR) that fails on big bodies, and
# no `cat` to read the listening ports with: checks that used to pass on such an image.
FAILING_HANDLER = (
    "RUN mkdir -p /opt/h && printf 'def model_fn(model_dir):\\n    return None\\n"
    "def transform_fn(model, body, content_type, accept):\\n"
    "    if len(body) > 1000000:\\n        raise ValueError(\"refuses big bodies\")\\n"
    "    return \"[]\", \"application/json\"\\n' > /opt/h/inference.py"
    " && rm \"$(command -v cat)\"")


def test_checks_fail_when_they_cannot_measure_or_get_no_2xx(
        settings: Settings, iris: ModelConfig, iris_image: str, derived_image: Any,
        packaged: None, tmp_path: Path) -> None:
    image = derived_image(iris_image, FAILING_HANDLER, "ENV SAGEPACK_HANDLER_DIR=/opt/h")
    report = run_image_tests(settings, iris, iris.variant("cpu"), no_network=False,
                             junit=tmp_path / "r.xml", image=image,
                             pytest_args=("-k", "payload_limit_accepted or bind_to_port"))
    checks = {c.name: c for c in report.checks}
    big = checks["A 6 MB body is accepted (2xx)"]
    assert big.outcome == FAILED and "HTTP 500, not a 2xx" in big.message, big.message
    port = checks["SAGEMAKER_BIND_TO_PORT moves the port"]
    assert port.outcome == FAILED and "could not be read" in port.message, port.message
    assert not report.ok
    assert report.summary() == f"2 of {len(report.checks)} checks failed"
