"""GPUs: how many this container sees, counted without touching CUDA, and which one each
worker gets.

A CUDA context created before ``fork()`` is unusable in the children, so the supervisor
must never initialise CUDA, and importing a framework to ask it (``torch.cuda.
device_count()``) is how that usually happens. GPUs are counted from what the NVIDIA
container runtime puts into the container instead:

1. ``NVIDIA_VISIBLE_DEVICES`` ``none``, ``void`` or empty: no GPU. A list (``0,1``,
   ``GPU-<uuid>,...``) fixes the count (capped by the driver's count when it shows any).
2. Otherwise (``all``, or unset): one per entry of ``/proc/driver/nvidia/gpus`` (a folder
   per GPU, by PCI address; ``SAGEPACK_NVIDIA_PROC_DIR`` points elsewhere), else one per
   ``/dev/nvidia<N>`` device node.
3. ``CUDA_VISIBLE_DEVICES``, when set, caps the count at its length (CUDA stops at the
   first invalid entry, and ``""`` or ``-1`` hides every GPU).

Workers get ``gpu_id`` round-robin over the visible GPUs, as AWS's PyTorch container does:
worker slot ``k`` has ``k % gpus``, so ``cuda:<gpu_id>`` in a handler addresses its own GPU.
``CUDA_VISIBLE_DEVICES`` is deliberately not narrowed per worker: scripts written for AWS
index ``cuda:<gpu_id>`` into every visible GPU, and would fail on a worker whose only
device is ``cuda:0``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sagepack.serving import parameters as p

_DEVICE_NODE = re.compile(r"nvidia(\d+)")
_HIDDEN = frozenset({"", "none", "void"})
#: Frameworks that may create a CUDA context; none must be imported before the fork.
FRAMEWORKS = ("torch", "tensorflow", "onnxruntime", "cupy", "jax", "mxnet", "tensorrt")


@dataclass(frozen=True)
class GpuCount:
    """How many GPUs are visible, and how that was found (for the start-up log)."""

    count: int
    source: str


def _entries(raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


def driver_count(proc_dir: Path, dev_dir: Path = Path("/dev")) -> GpuCount:
    """GPUs the driver exposes in this container: its ``/proc`` folders, else device nodes."""
    try:
        found = sum(1 for entry in proc_dir.iterdir() if not entry.name.startswith("."))
    except OSError:
        found = 0
    if found:
        return GpuCount(found, f"{found} in {proc_dir}")
    try:
        nodes = sum(1 for entry in dev_dir.iterdir() if _DEVICE_NODE.fullmatch(entry.name))
    except OSError:
        nodes = 0
    if nodes:
        return GpuCount(nodes, f"{nodes} {dev_dir}/nvidia<N> device node(s)")
    return GpuCount(0, f"no GPU in {proc_dir} nor {dev_dir}/nvidia<N>")


def visible_gpus(env: Mapping[str, str], proc_dir: Path | None = None,
                 dev_dir: Path = Path("/dev")) -> GpuCount:
    """The GPUs this process may use, by the rules in the module's docstring."""
    proc = proc_dir if proc_dir is not None else Path(p.DEFAULT_NVIDIA_PROC_DIR)
    nvidia = env.get(p.NVIDIA_VISIBLE_DEVICES)
    if nvidia is not None and nvidia.strip().lower() in _HIDDEN:
        return GpuCount(0, f"{p.NVIDIA_VISIBLE_DEVICES}={nvidia.strip()!r}")
    driver = driver_count(proc, dev_dir)
    result = driver
    if nvidia is not None and nvidia.strip().lower() != "all":
        listed = len(_entries(nvidia))
        count = min(listed, driver.count) if driver.count else listed
        result = GpuCount(count, f"{p.NVIDIA_VISIBLE_DEVICES}={nvidia.strip()} ({driver.source})")
    cuda = env.get(p.CUDA_VISIBLE_DEVICES)
    if cuda is not None:
        usable = 0
        for entry in _entries(cuda):
            if entry.startswith("-"):
                break
            usable += 1
        if usable < result.count:
            result = GpuCount(usable, f"{result.source}, {p.CUDA_VISIBLE_DEVICES}={cuda.strip()!r}")
    return result


def gpu_placement(env: Mapping[str, str]) -> bool:
    """Whether this is a GPU variant by default: ``NVIDIA_VISIBLE_DEVICES`` is set (GPU
    images set it) to something other than ``none``/``void``/empty."""
    nvidia = env.get(p.NVIDIA_VISIBLE_DEVICES)
    return nvidia is not None and nvidia.strip().lower() not in _HIDDEN


def gpu_for(slot: int, gpus: int) -> int | None:
    """The ``gpu_id`` of worker ``slot``: round-robin over ``gpus`` (None without GPUs)."""
    return slot % gpus if gpus > 0 else None


def frameworks_loaded() -> list[str]:
    """Frameworks already imported in this process (the supervisor wants none)."""
    return [name for name in FRAMEWORKS if name in sys.modules]
