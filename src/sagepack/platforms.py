"""The platforms an image is built for: CPython 3.11 on Debian bookworm, x86_64 or aarch64.

A variant names its platform (``platform = "linux/arm64"`` in ``sagepack.toml``; default
``linux/amd64``) and everything that depends on it takes it from the :class:`Platform`
looked up here: the lock (``uv pip compile --python-platform``), the wheelhouse (``pip
download --platform`` tags), the wheel-tag check, the local base (debootstrap's
architecture and the base's name), the build and the container runs (the engine's
platform), and the instance types a model package may list.

Standard library only: the configuration loader imports it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Final

#: The image's interpreter.
PYTHON_VERSION: Final = "3.11"
PYTHON_VERSION_INFO: Final = (3, 11)
#: Its ABI tag (``cp311``).
ABI: Final = f"cp{PYTHON_VERSION_INFO[0]}{PYTHON_VERSION_INFO[1]}"
# The image's glibc (bookworm: 2.36) runs any manylinux_2_x wheel with x <= 36; the lock
# is resolved for manylinux_2_28, so these are the tags a locked wheel may carry.
MAX_GLIBC_MINOR: Final = 28
#: Local bases, built by ``invoke base`` from Debian's packages (one per platform).
LOCAL_BASE_REPOSITORY: Final = "sagepack/base"
#: Graviton (arm64) SageMaker instance families: ml.c6g, ml.m7g, ml.r8g, ml.c6gn, ml.m6gd...
GRAVITON_INSTANCE = re.compile(r"^ml\.[a-z]+\d+g[a-z]*\.")


@dataclass(frozen=True)
class Platform:
    """One platform an image can be built for."""

    docker: str
    """The engine's name for it (``linux/amd64``): builds, pulls, imports and runs."""
    arch: str
    """The CPU architecture of wheel tags and ``uname -m`` (``x86_64``, ``aarch64``)."""
    debian_arch: str
    """Debian's and the OCI image config's name for it (``amd64``, ``arm64``)."""
    base_suffix: str
    """What a local base's tag carries for it (``""`` for amd64, ``-arm64``)."""
    instances: str
    """The SageMaker instances that run it, for messages."""
    oldest_glibc_minor: int
    """The oldest manylinux_2_x wheels exist for (x86_64: 2_5; aarch64: 2_17)."""
    legacy_tags: tuple[str, ...]
    """The manylinux tags of before PEP 600 that exist for it."""

    @property
    def uv_platform(self) -> str:
        """``uv pip compile --python-platform`` (``aarch64-manylinux_2_28``)."""
        return f"{self.arch}-manylinux_2_{MAX_GLIBC_MINOR}"

    @property
    def wheel_platforms(self) -> tuple[str, ...]:
        """The manylinux platform tags a wheel in the image may carry, newest first."""
        return (*(f"manylinux_2_{minor}_{self.arch}"
                  for minor in range(MAX_GLIBC_MINOR, self.oldest_glibc_minor - 1, -1)),
                *(f"{legacy}_{self.arch}" for legacy in self.legacy_tags))

    def fits_instance(self, instance_type: str) -> bool:
        """Whether SageMaker's ``instance_type`` has this platform's CPU."""
        return bool(GRAVITON_INSTANCE.match(instance_type)) == (self.arch == "aarch64")

    def local_base(self, name: str) -> str:
        """The name of a local base (``sagepack/base:<tag>``) for this platform."""
        repository, _, tag = name.partition(":")
        for other in SUPPORTED.values():
            if other.base_suffix and tag.endswith(other.base_suffix):
                tag = tag[:-len(other.base_suffix)]
        return f"{repository}:{tag}{self.base_suffix}"


AMD64: Final = Platform("linux/amd64", "x86_64", "amd64", "", "x86_64 (ml.m5, ml.c6i ...)",
                        5, ("manylinux2014", "manylinux2010", "manylinux1"))
ARM64: Final = Platform("linux/arm64", "aarch64", "arm64", "-arm64",
                        "Graviton (ml.c7g, ml.m7g, ml.r7g, ml.c6g ...)", 17,
                        ("manylinux2014",))
#: By the ``platform`` a variant names.
SUPPORTED: Final = {p.docker: p for p in (AMD64, ARM64)}
DEFAULT: Final = AMD64


def by_name(name: str) -> Platform:
    """The platform ``name`` (``linux/arm64``); a ``KeyError`` names the supported ones."""
    try:
        return SUPPORTED[name]
    except KeyError:
        raise KeyError(f"unknown platform {name!r} (supported: "
                       f"{', '.join(SUPPORTED)})") from None


def by_arch(arch: str) -> Platform | None:
    """The platform of a CPU architecture as ``uname -m``, Debian or the engine say it."""
    return next((p for p in SUPPORTED.values() if arch in (p.arch, p.debian_arch)), None)


def host() -> Platform | None:
    """The platform of the machine sagepack runs on (None: neither supported one)."""
    return by_arch(os.uname().machine)


def is_local_base(name: str) -> bool:
    """Whether ``name`` is a local base (built here, not pulled)."""
    return name.split(":", 1)[0] == LOCAL_BASE_REPOSITORY
