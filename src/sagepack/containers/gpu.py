"""Whether this host can give a container a GPU (NVIDIA runtime and a device)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any


def host_has_gpu(client: Any, dev: Path = Path("/dev")) -> bool:
    """True when an NVIDIA device exists and the engine can pass it through."""
    if not any(dev.glob("nvidia[0-9]*")):
        return False
    runtimes = client.info().get("Runtimes") or {}
    return "nvidia" in runtimes or shutil.which("nvidia-container-cli") is not None
