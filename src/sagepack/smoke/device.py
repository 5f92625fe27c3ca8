"""The device check: which device the model's framework really runs on in the container.

The probe runs inside the container and tries each framework the image holds:

- onnxruntime, with an ``.onnx`` file in the model: a session for the first one (asking
  for CUDA first when the image has it), and the providers the session uses;
- torch: whether it is a CUDA build (``torch.version.cuda``), whether CUDA is available,
  and a computation on ``cuda:0`` (with a GPU) or the CPU;
- XGBoost: whether it is built with CUDA (``xgboost.build_info()``) and a one-round
  training on ``cuda:0`` (with a GPU) or the CPU.

:func:`judge` turns that, and what the host has, into the verdict: with a GPU given to the
container, each framework must compute on it; without one, on the CPU, and a GPU variant's
frameworks must still be CUDA builds ("CPU fallback"). An image with none of them (a
scikit-learn model, say) cannot be measured: the check is skipped, and says so. It is pure,
so it is tested without Docker.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sagepack.containers.gpu import GpuHost

CUDA, CPU = "CUDAExecutionProvider", "CPUExecutionProvider"

DEVICE_PROBE = r"""
import glob, importlib.util, json
out = {"gpu_devices": sorted(glob.glob("/dev/nvidia[0-9]*"))}
gpu = bool(out["gpu_devices"])
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
if importlib.util.find_spec("torch") is not None:
    import torch
    t = {"version": torch.__version__, "cuda_build": torch.version.cuda,
         "cuda_available": torch.cuda.is_available()}
    device = "cuda:0" if t["cuda_available"] else "cpu"
    try:
        x = torch.ones(4, 4, device=device)
        t["computed_on"] = str((x @ x).device)
        if device != "cpu":
            t["gpu_name"] = torch.cuda.get_device_name(0)
    except Exception as exc:
        t["error"] = repr(exc)
    out["torch"] = t
if importlib.util.find_spec("xgboost") is not None:
    import numpy as np
    import xgboost as xgb
    info = xgb.build_info()
    x = {"version": xgb.__version__, "cuda_build": bool(info.get("USE_CUDA")),
         "cuda_version": info.get("CUDA_VERSION")}
    device = "cuda:0" if gpu and x["cuda_build"] else "cpu"
    try:
        data = xgb.DMatrix(np.arange(16, dtype=np.float32).reshape(8, 2),
                           label=np.arange(8) % 2)
        xgb.train({"device": device, "tree_method": "hist", "nthread": 1}, data, 1)
        x["computed_on"] = device
    except Exception as exc:
        x["error"] = repr(exc)
    out["xgboost"] = x
print(json.dumps(out))
"""


@dataclass(frozen=True)
class DeviceVerdict:
    problems: tuple[str, ...]
    detail: str
    skip: str = ""  # when the check cannot apply: what it leaves out, for the summary


@dataclass(frozen=True)
class _Part:
    """What one framework showed: its line of the detail and its problems."""

    detail: str
    problems: tuple[str, ...] = ()


def judge(found: Mapping[str, Any], *, variant_gpu: bool, gpu_given: bool,
          host: GpuHost) -> DeviceVerdict:
    """The device check's verdict on the probe's ``found``."""
    parts: list[_Part] = []
    if "import_error" not in found and "model" in found:
        parts.append(_onnxruntime(found, variant_gpu=variant_gpu, gpu_given=gpu_given))
    if isinstance(found.get("torch"), Mapping):
        parts.append(_torch(found["torch"], variant_gpu=variant_gpu, gpu_given=gpu_given))
    if isinstance(found.get("xgboost"), Mapping):
        parts.append(_xgboost(found["xgboost"], variant_gpu=variant_gpu, gpu_given=gpu_given))
    if not parts:
        what = ("no .onnx model in /opt/ml/model" if "import_error" not in found
                else "no onnxruntime, torch or XGBoost in the image")
        return DeviceVerdict((), "", skip=f"device ({what})")
    devices = list(found.get("gpu_devices") or [])
    problems: list[str] = []
    if gpu_given:
        where = f"GPU: {devices}"
        if not devices:
            problems.append("the host's GPU was given to the container, but it sees no "
                            "/dev/nvidia device")
    else:
        if variant_gpu and host.has_gpu:
            problems.append(f"{host.describe()}: the GPU was not given to the container, so "
                            "CUDA could not be checked")
        if devices:
            problems.append(f"no GPU was given, yet the container sees {devices}")
        where = "CPU fallback (no GPU on this host)" if variant_gpu else "CPU variant"
    for part in parts:
        problems.extend(part.problems)
    return DeviceVerdict(tuple(problems), "; ".join([where, *(p.detail for p in parts)]))


def _onnxruntime(found: Mapping[str, Any], *, variant_gpu: bool, gpu_given: bool) -> _Part:
    in_use = list(found.get("in_use") or [])
    available = list(found.get("available") or [])
    problems: list[str] = []
    if "session_error" in found:
        problems.append(f"onnxruntime could not create a session for {found['model']}: "
                        f"{found['session_error']}")
    elif not in_use:
        problems.append(f"the onnxruntime session for {found['model']} uses no provider")
    if gpu_given:
        if in_use and in_use[0] != CUDA:
            problems.append(f"CUDA is not in use on a GPU host: {in_use} (available: "
                            f"{available})")
    else:
        if in_use and (in_use[0] != CPU or CUDA in in_use):
            problems.append(f"expected the CPU provider without a GPU, in use: {in_use}")
        if variant_gpu and CUDA not in available:
            problems.append(f"the image's onnxruntime has no CUDA provider (available: "
                            f"{available}): is onnxruntime-gpu in the variant's lock?")
    return _Part(f"onnxruntime providers in use: {in_use}", tuple(problems))


def _computed(name: str, found: Mapping[str, Any], gpu_given: bool) -> list[str]:
    """The framework's computation ran, on the device it should have."""
    if "error" in found:
        return [f"{name} failed to compute on {'the GPU' if gpu_given else 'the CPU'}: "
                f"{found['error']}"]
    on = str(found.get("computed_on") or "")
    if gpu_given and not on.startswith("cuda"):
        return [f"{name} computed on {on or 'nothing'}, not on the GPU given"]
    if not gpu_given and on != "cpu":
        return [f"{name} computed on {on or 'nothing'} without a GPU, expected the CPU"]
    return []


def _torch(found: Mapping[str, Any], *, variant_gpu: bool, gpu_given: bool) -> _Part:
    build = found.get("cuda_build")
    problems = _computed("torch", found, gpu_given)
    if gpu_given and not found.get("cuda_available"):
        problems.append(f"torch {found.get('version')} sees no CUDA device on a GPU host "
                        f"(CUDA build: {build})")
    if not gpu_given and found.get("cuda_available"):
        problems.append("torch reports CUDA available although no GPU was given")
    if variant_gpu and not build:
        problems.append(f"the image's torch {found.get('version')} is a CPU build "
                        "(torch.version.cuda is None): lock a CUDA build of torch")
    on = found.get("gpu_name") or found.get("computed_on")
    build_text = f"CUDA {build} build" if build else "CPU build"
    return _Part(f"torch {found.get('version')} ({build_text}) computes on {on}",
                 tuple(problems))


def _xgboost(found: Mapping[str, Any], *, variant_gpu: bool, gpu_given: bool) -> _Part:
    built = bool(found.get("cuda_build"))
    problems = _computed("XGBoost", found, gpu_given)
    if variant_gpu and not built:
        problems.append(f"the image's XGBoost {found.get('version')} is built without CUDA: "
                        "lock xgboost (not xgboost-cpu) in a GPU variant")
    cuda = found.get("cuda_version")
    build_text = (f"CUDA {'.'.join(str(v) for v in cuda)} build"
                  if built and isinstance(cuda, list) else "CUDA build" if built
                  else "CPU build")
    return _Part(f"XGBoost {found.get('version')} ({build_text}) computes on "
                 f"{found.get('computed_on')}", tuple(problems))
