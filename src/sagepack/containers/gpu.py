"""Whether this host has an NVIDIA GPU, and whether the engine can give it to a container.

Two separate questions: the host has a GPU when it has a device node (``/dev/nvidia0``...)
or ``nvidia-smi``; the engine can pass it through when it has the ``nvidia`` runtime or
``nvidia-container-cli`` is installed. A GPU the engine cannot pass through is still a GPU:
the device check says so instead of calling the run a CPU fallback.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class GpuHost:
    devices: tuple[str, ...]  # /dev/nvidia0, ...
    nvidia_smi: bool
    passthrough: bool  # the engine's nvidia runtime, or nvidia-container-cli

    @property
    def has_gpu(self) -> bool:
        return bool(self.devices) or self.nvidia_smi

    @property
    def usable(self) -> bool:
        """A container can be given the GPU."""
        return bool(self.devices) and self.passthrough

    def describe(self) -> str:
        if not self.has_gpu:
            return "no GPU on this host"
        what = ", ".join(self.devices) or "nvidia-smi present, no /dev/nvidia device"
        engine = ("the engine can pass it through" if self.passthrough
                  else "the engine has no NVIDIA runtime (nvidia-container-toolkit)")
        return f"GPU host ({what}); {engine}"


def gpu_host(client: Any, dev: Path = Path("/dev"),
             which: Callable[[str], str | None] = shutil.which) -> GpuHost:
    """What this host and its engine have of NVIDIA GPUs."""
    devices = tuple(sorted(str(p) for p in dev.glob("nvidia[0-9]*")))
    runtimes = client.info().get("Runtimes") or {}
    return GpuHost(devices=devices, nvidia_smi=which("nvidia-smi") is not None,
                   passthrough="nvidia" in runtimes or which("nvidia-container-cli") is not None)


def host_has_gpu(client: Any, dev: Path = Path("/dev")) -> bool:
    """True when an NVIDIA device exists and the engine can pass it through."""
    return gpu_host(client, dev).usable
