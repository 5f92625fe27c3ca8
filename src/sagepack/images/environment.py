"""What image builds read from the environment, read once into a frozen dataclass."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MIRROR = "http://deb.debian.org/debian"


@dataclass(frozen=True)
class BuildEnvironment:
    """``SOURCE_DATE_EPOCH``, the wheelhouse cache and the Debian mirror for base images."""

    source_date_epoch: int | None
    wheelhouse_dir: Path
    debian_mirror: str

    @classmethod
    def from_environ(cls, env: Mapping[str, str] | None = None) -> BuildEnvironment:
        environ = os.environ if env is None else env
        epoch_text = environ.get("SOURCE_DATE_EPOCH", "").strip()
        epoch = int(epoch_text) if epoch_text.isdigit() else None
        cache_home = environ.get("XDG_CACHE_HOME") or str(Path(environ.get("HOME", "~"))
                                                             .expanduser() / ".cache")
        wheelhouse = environ.get("SAGEPACK_WHEELHOUSE_DIR") or str(
            Path(cache_home) / "sagepack" / "wheelhouse")
        mirror = environ.get("SAGEPACK_DEBIAN_MIRROR") or DEFAULT_MIRROR
        return cls(source_date_epoch=epoch, wheelhouse_dir=Path(wheelhouse).expanduser(),
                   debian_mirror=mirror)
