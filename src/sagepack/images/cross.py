"""Building an image for another platform than the build machine's (linux/arm64 on x86_64).

The runtime stage is built for the variant's platform; its code runs under emulation
(:mod:`sagepack.emulation`). The builder stage need not: on a local base it runs on the
build machine's platform, from the same Debian base built for it, and uv installs the
target platform's wheels into ``/opt/venv`` without running them (:class:`Builder`). The
build report says how long the build's steps and the checks on the image ran emulated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sagepack.checks import CheckResult
from sagepack.config import Variant
from sagepack.images.build_stream import EngineResult
from sagepack.platforms import Platform, host, is_local_base


@dataclass(frozen=True)
class Builder:
    """Where the builder stage runs: the build machine's platform when the variant's base
    is a local one (another platform's wheels installed by uv, never run), else the
    variant's own platform."""

    image: str
    platform: Platform
    target_wheels: str  # uv's --python-platform, or "" to install natively with pip

    @property
    def cross(self) -> bool:
        return bool(self.target_wheels)


def builder_for(variant: Variant, emulated: bool) -> Builder:
    machine = host()
    if emulated and machine is not None and is_local_base(variant.base_image):
        return Builder(machine.local_base(variant.base_image), machine,
                       variant.platform.uv_platform)
    return Builder(variant.base_image, variant.platform, "")


def emulated_step_seconds(engine: EngineResult, builder: Builder, emulated: bool) -> float:
    """Seconds the build's RUN steps spent emulated: those of the stages on the target
    platform (every stage but a cross builder's, whose FROM names its --platform)."""
    if not emulated:
        return 0.0
    total = 0.0
    on_target = True
    for step in engine.steps:
        word = step.instruction.split(" ", 1)[0].upper()
        if word == "FROM":
            on_target = not (builder.cross and "--platform=" in step.instruction)
        elif word == "RUN" and on_target and not step.cached:
            total += step.seconds
    return total


def emulated_seconds(engine: EngineResult, builder: Builder, emulated: bool,
                     checks_seconds: float) -> dict[str, float]:
    """The build report's ``emulated_seconds``: RUN steps, checks and SBOM, their sum."""
    steps = emulated_step_seconds(engine, builder, emulated)
    checks = checks_seconds if emulated else 0.0
    return {"build_steps": round(steps, 2), "checks": round(checks, 2),
            "total": round(steps + checks, 2)}


def check_platform(attrs: dict[str, Any], platform: Platform) -> CheckResult:
    """The image's config names the variant's platform (what a registry index lists)."""
    found = f"{attrs.get('Os')}/{attrs.get('Architecture')}"
    return CheckResult.of("platform", found == f"linux/{platform.debian_arch}",
                          f"image config: {found}; variant: {platform.docker}")
