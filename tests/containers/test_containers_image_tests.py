"""``invoke test`` end to end against the example image: table, JUnit XML, no leftovers."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sagepack.config import ModelConfig, Settings
from sagepack.smoke import run_image_tests
from sagepack.smoke.report import PASSED, SKIPPED

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
    outcomes = {c.check: c.outcome for c in report.checks}
    assert outcomes["No connection out, no DNS"] == PASSED
    assert outcomes["SIGTERM with a request in flight: it completes, exit 0 within 30 s"] == PASSED
    assert outcomes["Validation transform produces the expected outputs"] == PASSED
    assert all(outcomes[f"Sample answers as expected [{s.name}]"] == PASSED
               for s in iris.samples)
    assert report.ok, [(c.check, c.message) for c in report.failures]
    cases = ET.parse(junit).getroot().findall(".//testcase")
    assert len(cases) == len(report.checks) >= 15
    _no_leftovers(client)


def test_network_run_skips_egress(settings: Settings, iris: ModelConfig, iris_image: str,
                                  client: Any, packaged: None, tmp_path: Path) -> None:
    report = run_image_tests(settings, iris, iris.variant("cpu"), no_network=False,
                             junit=tmp_path / "r.xml")
    egress = next(c for c in report.checks if c.check == "No connection out, no DNS")
    assert egress.outcome == SKIPPED and "--no-network" in egress.message
    assert report.ok, [(c.check, c.message) for c in report.failures]
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


def test_cuda_variant_passes_on_the_cpu_fallback(settings: Settings, iris: ModelConfig,
                                                 example_image: Callable[[str], str],
                                                 packaged: None, tmp_path: Path) -> None:
    example_image("cuda")
    report = run_image_tests(settings, iris, iris.variant("cuda"), no_network=True,
                             junit=tmp_path / "image-tests-cuda.xml")
    assert report.ok, [(c.check, c.message) for c in report.failures]
    device = next(c for c in report.checks if c.check == "Runs on the expected device")
    assert device.outcome == PASSED
    assert "CPU fallback (no GPU on this host)" in device.detail
    assert "CPUExecutionProvider" in device.detail
