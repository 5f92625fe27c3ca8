"""Which device the model runs on: the GPU when the host has one, else the CPU fallback."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from sagepack.config import Variant
from sagepack.smoke.plugin import Services
from sagepack.smoke.spec import SERVICE_MAIN, RunSpec

DEVICE_PROBE = r"""
import glob, json
out = {"gpu_devices": sorted(glob.glob("/dev/nvidia[0-9]*"))}
try:
    import onnxruntime as ort
except ImportError:
    ort = None
if ort is not None:
    out["available"] = ort.get_available_providers()
    models = sorted(glob.glob("/opt/ml/model/**/*.onnx", recursive=True))
    if models:
        wanted = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider")
                  if p in out["available"]]
        try:
            out["in_use"] = ort.InferenceSession(models[0], providers=wanted).get_providers()
        except Exception as exc:
            out["session_error"] = repr(exc)
print(json.dumps(out))
"""


def test_device(services: Services, variant: Variant, run_spec: RunSpec,
                record_property: Callable[[str, object], None]) -> None:
    """Runs on the expected device"""
    if not variant.gpu:
        pytest.skip(f"{variant.name} is a CPU variant")
    running = services.get(SERVICE_MAIN)
    result = running.run_python(DEVICE_PROBE)
    try:
        found = json.loads(result.output.strip().splitlines()[-1])
    except (ValueError, IndexError):
        pytest.fail(f"device probe failed (exit {result.exit_code}): {result.output[-500:]}")
    in_use = found.get("in_use") or []
    providers = f"; onnxruntime providers in use: {in_use}" if in_use else ""
    if run_spec.gpu:
        record_property("detail", f"GPU: {found['gpu_devices']}{providers}")
        assert found["gpu_devices"], "the host has a GPU but the container sees none"
        if in_use:
            assert in_use[0] == "CUDAExecutionProvider", f"CUDA not in use: {in_use}"
    else:
        record_property("detail", "CPU fallback (no GPU on this host)" + providers)
        assert not found["gpu_devices"]
        if in_use:
            assert "CUDAExecutionProvider" not in in_use, in_use
