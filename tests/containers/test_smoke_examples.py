"""Every bundled example model, every variant: ``invoke test --no-network`` passes.

The cases come from the loaded configuration, so an example added under ``artifacts/`` is
covered without touching this file. Each image is built once per session (the shared
``example_image`` fixture) and removed at its end; the archives are packed into a
temporary ``dist`` folder, so the repository's own is left alone.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sagepack.checks import PASSED, SKIPPED
from sagepack.config import ModelConfig, Settings, load
from sagepack.smoke import run_image_tests

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = load(ROOT, env={})
# iris's two images are run the same way, with more assertions, by
# test_containers_image_tests.py: each costs a minute, so they are not run twice.
COVERED_ELSEWHERE = frozenset({"iris"})
CASES = [pytest.param(m.name, v, id=f"{m.name}-{v}")
         for m in sorted(BUNDLED.models.values(), key=lambda m: m.name)
         if m.name not in COVERED_ELSEWHERE
         for v in sorted(m.variants)]


@pytest.fixture(scope="session")
def packed(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The bundled examples' settings with ``dist`` in a temporary folder, every
    single-model example packed there."""
    from sagepack.archive import package_models

    dist = tmp_path_factory.mktemp("dist")
    settings = load(ROOT, env={"SAGEPACK_DIST_DIR": str(dist)})
    package_models(settings, list(settings.models.values()))
    return settings


def _locked(model: ModelConfig, variant: str) -> set[str]:
    from sagepack.images.lock import read_lock

    return {r.key for r in read_lock(model.variant(variant).requirements)}


def _expected_device(model: ModelConfig, variant: str) -> str:
    """What the device check can measure on this image: skipped without a framework it
    knows (or an .onnx model for onnxruntime), and on a multi-model image."""
    locked = _locked(model, variant)
    onnx = "onnxruntime" in locked or "onnxruntime-gpu" in locked
    measurable = ((onnx and any(model.root.rglob("*.onnx")))
                  or "torch" in locked or "xgboost" in locked or "xgboost-cpu" in locked)
    return PASSED if measurable and not model.multi_model else SKIPPED


def _where(model: ModelConfig, variant: str) -> str:
    """How the device check's detail starts on this host for this variant."""
    from sagepack.containers.gpu import gpu_host
    from sagepack.images.docker_client import docker_client

    if not model.variant(variant).gpu:
        return "CPU variant"
    client = docker_client()
    try:
        return "GPU: " if gpu_host(client).usable else "CPU fallback (no GPU on this host)"
    finally:
        client.close()


@pytest.mark.parametrize(("name", "variant"), CASES)
def test_every_example_passes_its_image_tests_without_network(
        name: str, variant: str, packed: Settings, example_image: Callable[..., str],
        tmp_path: Path) -> None:
    model = packed.models[name]
    example_image(variant, name)
    report = run_image_tests(packed, model, model.variant(variant), no_network=True,
                             junit=tmp_path / f"image-tests-{variant}.xml")
    outcomes = {c.name: c for c in report.checks}
    assert report.ok, [(c.name, c.message) for c in report.failures]
    assert outcomes["No connection out, no DNS"].outcome == PASSED
    if model.multi_model:
        assert outcomes["Loads every test model through POST /models"].outcome == PASSED
        assert outcomes["Unloading a model gives its memory back, then it is 404 and the "
                        "others still answer"].outcome == PASSED
        return
    samples = [c for c in report.checks if c.name.startswith("Sample answers as expected")]
    assert sorted(c.name for c in samples) == sorted(
        f"Sample answers as expected [{s.name}]" for s in model.samples)
    assert all(c.outcome == PASSED for c in samples)
    if model.validation is not None:
        assert outcomes["Validation transform produces the expected outputs"].outcome == PASSED
    device = outcomes["Runs on the expected device"]
    assert device.outcome == _expected_device(model, variant), (device.outcome, device.message)
    if device.outcome == PASSED:
        assert device.detail.startswith(_where(model, variant)), device.detail
    unexpected = [c.label for c in report.skipped if not _not_applicable(model, c.label)]
    assert unexpected == [], unexpected


def _not_applicable(model: ModelConfig, label: str) -> bool:
    """A skip that only says a check has nothing to check on this model."""
    return (label.endswith("(not a multi-model image)")
            or label == "device (no onnxruntime, torch or XGBoost in the image)"
            or (label == "streaming (no sample has stream = true)"
                and not any(s.stream for s in model.samples))
            or (label == "validation transform (no [validation])" and model.validation is None))
