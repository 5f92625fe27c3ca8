"""Which device the model runs on: the GPU when the host has one, else the CPU."""

from __future__ import annotations

import json

import pytest

from sagepack.config import Variant
from sagepack.containers.gpu import gpu_host
from sagepack.smoke.device import DEVICE_PROBE, judge
from sagepack.smoke.plugin import Record, Services, skip_check
from sagepack.smoke.spec import SERVICE_MAIN, RunSpec


def test_device(services: Services, variant: Variant, run_spec: RunSpec,
                record_property: Record) -> None:
    """Runs on the expected device"""
    running = services.get(SERVICE_MAIN)
    result = running.run_python(DEVICE_PROBE)
    try:
        found = json.loads(result.output.strip().splitlines()[-1])
    except (ValueError, IndexError):
        pytest.fail(f"device probe failed (exit {result.exit_code}): {result.output[-500:]}")
    verdict = judge(found, variant_gpu=variant.gpu, gpu_given=run_spec.gpu,
                    host=gpu_host(services.engine))
    if verdict.skip:
        skip_check(record_property, verdict.skip,
                   f"the device check needs an .onnx model with onnxruntime, torch or "
                   f"XGBoost: {found}")
    record_property("detail", verdict.detail)
    assert not verdict.problems, "; ".join(verdict.problems)
