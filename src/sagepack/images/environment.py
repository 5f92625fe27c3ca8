"""What image builds need from the project's settings, in one frozen dataclass."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sagepack.config import DEFAULT_DEBIAN_MIRROR, ProjectConfig

DEFAULT_MIRROR = DEFAULT_DEBIAN_MIRROR


@dataclass(frozen=True)
class BuildEnvironment:
    """``SOURCE_DATE_EPOCH``, the wheelhouse cache and the Debian mirror for base images."""

    source_date_epoch: int | None
    wheelhouse_dir: Path
    debian_mirror: str

    @classmethod
    def from_project(cls, project: ProjectConfig) -> BuildEnvironment:
        return cls(source_date_epoch=project.source_date_epoch,
                   wheelhouse_dir=project.wheelhouse_dir, debian_mirror=project.debian_mirror)
