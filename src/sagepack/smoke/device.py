"""The device check: which device the model's onnxruntime session really runs on.

The probe runs inside the container, creates an onnxruntime session for the model's first
``.onnx`` file (asking for CUDA first when the image has it) and reports the providers the
session uses. :func:`judge` turns that, and what the host has, into the verdict: with a GPU
given to the container, CUDA must be in use; without one, the CPU, and a GPU variant's
image must still carry the CUDA provider. It is pure, so it is tested without Docker.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sagepack.containers.gpu import GpuHost

CUDA, CPU = "CUDAExecutionProvider", "CPUExecutionProvider"

DEVICE_PROBE = r"""
import glob, json
out = {"gpu_devices": sorted(glob.glob("/dev/nvidia[0-9]*"))}
try:
    import onnxruntime as ort
except ImportError as exc:
    out["import_error"] = repr(exc)
else:
    out["available"] = ort.get_available_providers()
    models = sorted(glob.glob("/opt/ml/model/**/*.onnx", recursive=True))
    if models:
        out["model"] = models[0]
        wanted = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider")
                  if p in out["available"]]
        try:
            out["in_use"] = ort.InferenceSession(models[0], providers=wanted).get_providers()
        except Exception as exc:
            out["session_error"] = repr(exc)
print(json.dumps(out))
"""


@dataclass(frozen=True)
class DeviceVerdict:
    problems: tuple[str, ...]
    detail: str
    skip: str = ""  # when the check cannot apply: what it leaves out, for the summary


def judge(found: Mapping[str, Any], *, variant_gpu: bool, gpu_given: bool,
          host: GpuHost) -> DeviceVerdict:
    """The device check's verdict on the probe's ``found``."""
    if "import_error" in found:
        return DeviceVerdict((), "", skip="device (no onnxruntime in the image)")
    if "model" not in found:
        return DeviceVerdict((), "", skip="device (no .onnx model in /opt/ml/model)")
    devices = list(found.get("gpu_devices") or [])
    in_use = list(found.get("in_use") or [])
    available = list(found.get("available") or [])
    problems: list[str] = []
    if "session_error" in found:
        problems.append(f"onnxruntime could not create a session for {found['model']}: "
                        f"{found['session_error']}")
    elif not in_use:
        problems.append(f"the onnxruntime session for {found['model']} uses no provider")
    providers = f"onnxruntime providers in use: {in_use}"
    if gpu_given:
        detail = f"GPU: {devices}; {providers}"
        if not devices:
            problems.append("the host's GPU was given to the container, but it sees no "
                            "/dev/nvidia device")
        if in_use and in_use[0] != CUDA:
            problems.append(f"CUDA is not in use on a GPU host: {in_use} (available: "
                            f"{available})")
        return DeviceVerdict(tuple(problems), detail)
    if variant_gpu and host.has_gpu:
        problems.append(f"{host.describe()}: the GPU was not given to the container, so "
                        "the CUDA provider could not be checked")
    detail = (f"CPU fallback (no GPU on this host); {providers}" if variant_gpu
              else f"CPU variant; {providers}")
    if devices:
        problems.append(f"no GPU was given, yet the container sees {devices}")
    if in_use and (in_use[0] != CPU or CUDA in in_use):
        problems.append(f"expected the CPU provider without a GPU, in use: {in_use}")
    if variant_gpu and CUDA not in available:
        problems.append(f"the image's onnxruntime has no CUDA provider (available: "
                        f"{available}): is onnxruntime-gpu in the variant's lock?")
    return DeviceVerdict(tuple(problems), detail)
