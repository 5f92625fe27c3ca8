"""Building an image for another platform than the build machine's (linux/arm64 on x86_64).

The runtime stage is built for the variant's platform; its code runs under emulation
(:mod:`sagepack.emulation`). The builder stage need not: on a local base, its programs are
the build machine's own Debian base's, which run natively, and uv installs the target
platform's wheels into ``/opt/venv`` without running them (:class:`Builder`).

The classic builder wants every image of a build to be of the build's platform (a stage
``FROM --platform=linux/amd64`` in a linux/arm64 build fails at its first ``COPY``). So
the builder stage starts from the *cross base*: the build machine's base, its layers
unchanged, loaded under a config that names the target platform
(``sagepack-cache/cross-base:bookworm-python3.11-amd64-as-arm64``, labelled with the base
it copies and the platform whose programs it holds). Only the builder stage uses it; the
image is built on the real arm64 base. The build report says how long the build's steps
and the checks on the image ran emulated.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import docker
from docker.errors import APIError, ImageNotFound

from sagepack.checks import CheckResult
from sagepack.config import Variant
from sagepack.images.build_stream import EngineResult
from sagepack.images.loader import retarget
from sagepack.labels import read_labels
from sagepack.platforms import Platform, host, is_local_base

CROSS_REPOSITORY = "sagepack-cache/cross-base"
#: The cross base's labels: the image id of the base it copies, and whose programs it holds.
CROSS_OF = "sagepack.cross-base.of"
CROSS_RUNS = "sagepack.cross-base.runs"


@dataclass(frozen=True)
class Builder:
    """Where the builder stage runs: the build machine's platform when the variant's base
    is a local one (another platform's wheels installed by uv, never run), else the
    variant's own platform."""

    image: str  # the builder stage's FROM
    native: str  # the base whose programs it runs (the image itself when not cross)
    platform: Platform  # where those programs run natively
    target_wheels: str  # uv's --python-platform, or "" to install natively with pip

    @property
    def cross(self) -> bool:
        return bool(self.target_wheels)


def cross_base_name(native: str, machine: Platform, target: Platform) -> str:
    tag = native.partition(":")[2] or "latest"
    return f"{CROSS_REPOSITORY}:{tag}-{machine.debian_arch}-as-{target.debian_arch}"


def builder_for(variant: Variant, emulated: bool) -> Builder:
    machine = host()
    if emulated and machine is not None and is_local_base(variant.base_image):
        native = machine.local_base(variant.base_image)
        return Builder(cross_base_name(native, machine, variant.platform), native, machine,
                       variant.platform.uv_platform)
    return Builder(variant.base_image, variant.base_image, variant.platform, "")


def ensure_cross_base(client: docker.DockerClient, builder: Builder, target: Platform,
                      log: Callable[[str], None]) -> str:
    """The cross base of ``builder`` for ``target``, made again when the base it copies
    changed (the superseded one is removed when nothing uses it); return its id."""
    native_id = str(client.images.get(builder.native).id)
    old: str | None = None
    try:
        labels = read_labels(client, builder.image)
        old = str(client.images.get(builder.image).id)
        if labels.get(CROSS_OF) == native_id:
            return old
    except ImageNotFound:
        pass
    log(f"{builder.image}: {builder.native} ({builder.platform.docker} programs) under a "
        f"{target.docker} config, for the builder stage")
    made = retarget(client, builder.native, builder.image, target,
                    {CROSS_OF: native_id, CROSS_RUNS: builder.platform.docker})
    if old is not None and old != made:
        # Still the parent of a cached builder stage: then it goes with that.
        with contextlib.suppress(APIError, ImageNotFound):
            client.images.remove(old)
    return made


def emulated_step_seconds(engine: EngineResult, builder: Builder, emulated: bool) -> float:
    """Seconds the build's RUN steps spent emulated: those of the stages on the target
    platform (every stage but a cross builder's, ``FROM ... AS builder``)."""
    if not emulated:
        return 0.0
    total = 0.0
    on_target = True
    for step in engine.steps:
        word = step.instruction.split(" ", 1)[0].upper()
        if word == "FROM":
            on_target = not (builder.cross and
                             step.instruction.lower().endswith(" as builder"))
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
    return CheckResult.of("platform", found == platform.docker,
                          f"image config: {found}; variant: {platform.docker}")
