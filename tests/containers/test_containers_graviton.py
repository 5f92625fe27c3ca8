"""The example's Graviton (linux/arm64) image on this machine: built from the arm64 base with
the builder stage on the build platform, checked, and tested as SageMaker runs it, under
emulation, with the same checks and the same answers as the amd64 image."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from sagepack import emulation
from sagepack.checks import PASSED
from sagepack.config import ModelConfig, Settings, load
from sagepack.platforms import ARM64
from sagepack.smoke import run_image_tests

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def packaged(monkeypatch: pytest.MonkeyPatch, iris_archive: Path) -> None:
    from sagepack.containers import model_dir

    monkeypatch.setattr(model_dir, "archive_path", lambda s, m: iris_archive)


def test_graviton_image_passes_the_image_tests_under_emulation(
        settings: Settings, iris: ModelConfig, example_image: Callable[[str], str],
        client: Any, packaged: None, tmp_path: Path) -> None:
    tag = example_image("graviton")
    attrs = client.api.inspect_image(tag)
    assert (attrs["Os"], attrs["Architecture"]) == ("linux", "arm64")
    out = Console(record=True, width=200, file=io.StringIO(), color_system=None)
    report = run_image_tests(settings, iris, iris.variant("graviton"), no_network=True,
                             junit=tmp_path / "image-tests-graviton.xml", console=out)
    checks = {c.name: c for c in report.checks}
    assert report.ok, [(c.name, c.message) for c in report.failures]
    assert report.summary() == "all checks passed"
    emulated = emulation.emulated(ARM64)
    arch = checks["Runs on its platform's CPU architecture (`uname -m` inside)"]
    assert arch.outcome == PASSED
    assert arch.detail == (f"uname -m: aarch64 (linux/arm64, "
                           f"{'emulated' if emulated else 'native'})")
    # The samples' expected answers are the amd64 image's: the arm64 image gives the same.
    for sample in iris.samples:
        assert checks[f"Sample answers as expected [{sample.name}]"].outcome == PASSED
    assert checks["Validation transform produces the expected outputs"].outcome == PASSED
    assert checks["No connection out, no DNS"].outcome == PASSED
    ready = next(c for c in report.checks if c.name.startswith("Starts with `serve`"))
    text = out.export_text()
    if emulated:
        assert report.emulated == "linux/arm64"
        assert "linux/arm64 emulated" in text and "deadline 1200 s" in ready.detail
    assert "CPUExecutionProvider" in checks["Runs on the expected device"].detail


def test_graviton_build_reports_its_platform_and_emulated_time_against_amd64(
        example_image: Callable[[str], str], client: Any, tmp_path: Path) -> None:
    """A build of the example's cpu and graviton variants (cached by the session's first
    build) into a report folder of its own: the arm64 report says what ran emulated and
    puts itself beside the amd64 one."""
    from sagepack.archive import pack
    from sagepack.images import build

    example_image("cpu")
    example_image("graviton")
    settings = load(ROOT, env={"SAGEPACK_DIST_DIR": str(tmp_path / "dist")})
    iris = settings.models["iris"]
    pack(iris, settings.project.dist_for("iris"), progress=False)
    cpu = build(settings, iris, "cpu", client=client)
    graviton = build(settings, iris, "graviton", client=client)
    report = json.loads(graviton.report_path.read_text())
    assert report["platform"] == "linux/arm64" and report["architecture"] == "arm64"
    assert report["base_image"] == "sagepack/base:bookworm-python3.11-arm64"
    emulated = emulation.emulated(ARM64)
    assert report["emulated"] is emulated
    if emulated:
        # The builder stage ran this machine's programs and installed aarch64 wheels.
        assert report["builder"] == {
            "image": "sagepack-cache/cross-base:bookworm-python3.11-amd64-as-arm64",
            "runs": "linux/amd64", "cross": True}
        assert report["emulated_seconds"]["checks"] > 0
        assert report["emulated_seconds"]["total"] == pytest.approx(
            report["emulated_seconds"]["build_steps"] + report["emulated_seconds"]["checks"],
            abs=0.02)
        cross_base = client.images.get(report["builder"]["image"])
        assert cross_base.attrs["Architecture"] == "arm64"
        assert cross_base.labels["sagepack.cross-base.runs"] == "linux/amd64"
        assert cross_base.labels["sagepack.cross-base.of"] == \
            client.images.get("sagepack/base:bookworm-python3.11").id
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["platform"]["passed"] and checks["platform"]["detail"] == \
        "image config: linux/arm64; variant: linux/arm64"
    assert all(c["passed"] for c in report["checks"]), report["checks"]
    assert report["compared_with"]["variant"] == "cpu"
    assert report["compared_with"]["platform"] == "linux/amd64"
    assert report["compared_with"]["size"] == cpu.size
    # The SBOM is read from the arm64 image: its Debian packages are arm64 ones.
    sbom = json.loads((settings.project.dist_for("iris") / "sbom-graviton.cdx.json")
                      .read_text())
    purls = [c.get("purl", "") for c in sbom["components"]]
    debs = [p for p in purls if p.startswith("pkg:deb/")]
    assert debs and all("arch=arm64" in p or "arch=all" in p for p in debs)
    assert any(p.startswith("pkg:pypi/onnxruntime@") for p in purls)
    # Inside, the environment's compiled modules are aarch64 code.
    output = client.containers.run(
        graviton.image_id, ["python", "-c", "import onnxruntime, numpy, platform; "
                            "print(platform.machine(), onnxruntime.__version__)"],
        remove=True, network_disabled=True)
    assert output.decode().split()[0] == "aarch64"
