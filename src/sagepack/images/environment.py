"""What image builds need from the project's settings, in one frozen dataclass."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sagepack.config import DEFAULT_DEBIAN_MIRROR, DEFAULT_DEBIAN_SECURITY_MIRROR, ProjectConfig

DEFAULT_MIRROR = DEFAULT_DEBIAN_MIRROR
DEFAULT_SECURITY_MIRROR = DEFAULT_DEBIAN_SECURITY_MIRROR


@dataclass(frozen=True)
class BuildEnvironment:
    """``SOURCE_DATE_EPOCH``, the wheelhouse cache, the Debian mirrors for base images and
    the age from which a base is reported as due for a refresh."""

    source_date_epoch: int | None
    wheelhouse_dir: Path
    debian_mirror: str
    debian_security_mirror: str = DEFAULT_SECURITY_MIRROR
    base_max_age_days: int = 30

    @classmethod
    def from_project(cls, project: ProjectConfig) -> BuildEnvironment:
        return cls(source_date_epoch=project.source_date_epoch,
                   wheelhouse_dir=project.wheelhouse_dir, debian_mirror=project.debian_mirror,
                   debian_security_mirror=project.debian_security_mirror,
                   base_max_age_days=project.supply.base_max_age_days)
