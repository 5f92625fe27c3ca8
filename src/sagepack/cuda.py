"""CUDA targets of GPU variants: the NVIDIA driver a CUDA runtime needs, and the driver the
SageMaker hosts a variant targets actually have.

An image brings its own CUDA runtime (NVIDIA's PyPI wheels); only the driver
(``libcuda.so.1``) comes from the host, and it is chosen by the AMI SageMaker boots:
``InferenceAmiVersion`` on an endpoint's production variant, ``TransformAmiVersion`` on a
transform job. A runtime newer than the host's driver supports makes onnxruntime's CUDA
provider fail to start and fall back to the CPU, silently.

This module holds the facts (which AMI has which driver, which driver each CUDA major
needs), reads a variant's target from its ``[variants.<name>]`` table, and says in one
sentence a user can act on when a runtime and a host do not fit. It refuses:

- a target naming an AMI that is not a SageMaker GPU AMI of that kind;
- a target whose CUDA major needs a newer driver than one of its AMIs has.

It credits no forward compatibility (``cuda-compat``): that works on datacenter GPUs only,
needs the compat libraries inside the image, and the ``-2-1``, ``-3-1`` and ``-4-1`` AMIs
start containers with the NVIDIA Container Toolkit's CUDA-compat mounting disabled.

Standard library only: the configuration loader imports it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

REALTIME = "real-time"
TRANSFORM = "batch transform"


@dataclass(frozen=True)
class Ami:
    """One SageMaker GPU AMI version and the NVIDIA driver branch it ships."""

    name: str
    service: str
    driver: int
    cuda: str = ""
    compat_mounting_disabled: bool = False
    """True where botocore's model says "NVIDIA Container Toolkit with disabled CUDA-compat
    mounting"; False where it does not say so, which is no promise that mounting works."""


# botocore's SageMaker model (service-2.json, shapes ProductionVariantInferenceAmiVersion
# and TransformAmiVersion; botocore 1.44.8). The API names driver branches, not releases.
INFERENCE_AMIS: Mapping[str, Ami] = {ami.name: ami for ami in (
    Ami("al2-ami-sagemaker-inference-gpu-2", REALTIME, 535, "12.2"),
    Ami("al2-ami-sagemaker-inference-gpu-2-1", REALTIME, 535, "12.2",
        compat_mounting_disabled=True),
    Ami("al2-ami-sagemaker-inference-gpu-3-1", REALTIME, 550, "12.4",
        compat_mounting_disabled=True),
    Ami("al2023-ami-sagemaker-inference-gpu-4-1", REALTIME, 580, "13.0",
        compat_mounting_disabled=True),
)}
TRANSFORM_AMIS: Mapping[str, Ami] = {ami.name: ami for ami in (
    Ami("al2-ami-sagemaker-batch-gpu-470", TRANSFORM, 470),
    Ami("al2-ami-sagemaker-batch-gpu-535", TRANSFORM, 535),
)}

# The driver a host has when no AMI version is chosen, per instance family: SageMaker's
# "Best practices to minimize interruptions during GPU driver upgrades",
# https://docs.aws.amazon.com/sagemaker/latest/dg/inference-gpu-drivers.html (table
# "Current versions and supported instance families", read 2026-12-02). Most families still
# default to driver 470 (CUDA 11.4), on which no CUDA 12 runtime starts: that is why a GPU
# variant always names its AMI versions, and why the defaults below are explicit AMIs.
DRIVERS_WITHOUT_AMI: Mapping[str, Mapping[str, int]] = {
    REALTIME: {"ml.p2": 470, "ml.p3": 470, "ml.p4d": 470, "ml.p4de": 470, "ml.g4dn": 470,
               "ml.g5": 470, "ml.p5": 535, "ml.g6": 535, "ml.p5e": 550, "ml.p5en": 550},
    TRANSFORM: {"ml.p2": 470, "ml.p3": 470, "ml.p4d": 470, "ml.p4de": 470, "ml.g4dn": 470,
                "ml.g5": 470},
}

# The defaults of a GPU variant's target: CUDA 12, which every SageMaker GPU AMI but the
# newest runs, on the lowest-driver AMIs that run it (so an image that passes here passes on
# every newer AMI too). al2-ami-sagemaker-inference-gpu-2 is also the one botocore documents
# for the widest set of instance families (ml.g4dn, g5, g6, p3, p4d, p4de, p5).
DEFAULT_CUDA = "12"
DEFAULT_INFERENCE_AMI = "al2-ami-sagemaker-inference-gpu-2"
DEFAULT_TRANSFORM_AMI = "al2-ami-sagemaker-batch-gpu-535"
TARGET_KEYS = ("cuda", "inference_ami", "transform_ami")


@dataclass(frozen=True)
class DriverRequirement:
    """NVIDIA's minimum driver for one CUDA major."""

    major: int
    minimum: str
    minor_version_compatible: bool

    @property
    def branch(self) -> int:
        """The driver branch (``525`` for 525.60.13): SageMaker's AMIs name branches only."""
        return int(self.minimum.split(".")[0])

    @property
    def shown(self) -> str:
        return self.minimum


# NVIDIA, "CUDA Compatibility", Minor Version Compatibility, table 1 (CUDA Toolkit 11.x,
# 12.x and 13.x driver version ranges):
# https://docs.nvidia.com/deploy/cuda-compatibility/minor-version-compatibility.html
# Within a major, every minor runs on the major's minimum driver, with limits NVIDIA lists
# there: code that needs PTX JIT compilation (PTX shipped instead of the GPU's SASS, or
# NVRTC-built kernels) and features new in a later minor need the driver released with that
# toolkit (CUDA Toolkit release notes, "CUDA Toolkit and Corresponding Driver Versions").
DRIVER_REQUIREMENTS: Mapping[int, DriverRequirement] = {req.major: req for req in (
    DriverRequirement(11, "450.80.02", True),
    DriverRequirement(12, "525.60.13", True),
    DriverRequirement(13, "580", True),
)}


def requirement(major: int) -> DriverRequirement:
    try:
        return DRIVER_REQUIREMENTS[major]
    except KeyError:
        known = ", ".join(str(m) for m in sorted(DRIVER_REQUIREMENTS))
        raise ValueError(f"CUDA {major}: no known minimum driver (known majors: {known})"
                         ) from None


def driver_without_ami(instance_type: str, service: str = REALTIME) -> int | None:
    """The driver branch SageMaker gives ``instance_type`` when no AMI version is chosen."""
    family = instance_type.rsplit(".", 1)[0] if instance_type.count(".") >= 2 else instance_type
    return DRIVERS_WITHOUT_AMI.get(service, {}).get(family)


# --- a variant's target ------------------------------------------------------------------


@dataclass(frozen=True)
class CudaTarget:
    """What a GPU variant's CUDA libraries are built for and the hosts they must run on."""

    cuda: str
    inference_ami: Ami
    transform_ami: Ami

    @property
    def major(self) -> int:
        return int(self.cuda.split(".")[0])

    @property
    def minor(self) -> int | None:
        parts = self.cuda.split(".")
        return int(parts[1]) if len(parts) > 1 else None

    @property
    def amis(self) -> tuple[Ami, Ami]:
        return (self.inference_ami, self.transform_ami)

    def accepts(self, major: int, minor: int | None) -> bool:
        """Whether a runtime ``major.minor`` is the CUDA this target declares."""
        return major == self.major and (self.minor is None or minor == self.minor)


@dataclass(frozen=True)
class TargetProblem:
    """One thing wrong in a variant's target; ``key`` is the key inside its table."""

    key: str
    message: str


DEFAULT_TARGET = CudaTarget(DEFAULT_CUDA, INFERENCE_AMIS[DEFAULT_INFERENCE_AMI],
                            TRANSFORM_AMIS[DEFAULT_TRANSFORM_AMI])

_CUDA = re.compile(r"^(\d+)(?:\.(\d+))?$")


def parse_target(values: Mapping[str, Any], *,
                 gpu: bool) -> CudaTarget | list[TargetProblem] | None:
    """A variant's ``cuda``, ``inference_ami`` and ``transform_ami`` -> its target.

    ``values`` holds the variant table's entries (other keys are ignored). A GPU variant
    gets the defaults for what it leaves out; a CPU variant has no target (``None``) and
    may not set these keys. Problems come back as a list, never raised.
    """
    given = {k: values[k] for k in TARGET_KEYS if k in values}
    if not gpu:
        return [TargetProblem(k, "only GPU variants (gpu = true) take a CUDA target")
                for k in given] or None
    problems: list[TargetProblem] = []
    cuda = _parse_cuda(given.get("cuda", DEFAULT_CUDA), problems)
    inference = _parse_ami("inference_ami", given.get("inference_ami", DEFAULT_INFERENCE_AMI),
                           INFERENCE_AMIS, problems)
    transform = _parse_ami("transform_ami", given.get("transform_ami", DEFAULT_TRANSFORM_AMI),
                           TRANSFORM_AMIS, problems)
    if problems or cuda is None or inference is None or transform is None:
        return problems
    target = CudaTarget(cuda, inference, transform)
    needs = requirement(target.major)
    for key, ami in (("inference_ami", inference), ("transform_ami", transform)):
        if ami.driver < needs.branch:
            problems.append(TargetProblem(key, driver_sentence(f"CUDA {cuda}", needs, ami)))
    return problems or target


def _parse_cuda(value: object, problems: list[TargetProblem]) -> str | None:
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    match = _CUDA.match(text) if isinstance(text, str) else None
    if match is None:
        problems.append(TargetProblem("cuda", f'expected a CUDA major or major.minor such as '
                                              f'"12" or "12.4", got {value!r}'))
        return None
    major = int(match.group(1))
    if major not in DRIVER_REQUIREMENTS:
        known = ", ".join(str(m) for m in sorted(DRIVER_REQUIREMENTS))
        problems.append(TargetProblem("cuda", f"CUDA {major} is not one sagepack knows the "
                                              f"minimum driver of (known: {known})"))
        return None
    return str(text)


def _parse_ami(key: str, value: object, known: Mapping[str, Ami],
               problems: list[TargetProblem]) -> Ami | None:
    if isinstance(value, str) and value in known:
        return known[value]
    names = ", ".join(sorted(known))
    problems.append(TargetProblem(key, f"expected one of {names}, got {value!r}"))
    return None


# --- drivers against hosts ---------------------------------------------------------------


def driver_sentence(runtime: str, needs: DriverRequirement, ami: Ami) -> str:
    """``CUDA 13.5 runtime needs driver >= 580; <ami> has 550: target CUDA 12, or choose an
    AMI with a newer driver (<newer AMIs>)``."""
    older = [major for major, req in DRIVER_REQUIREMENTS.items()
             if major < needs.major and req.branch <= ami.driver]
    advice = f"target CUDA {max(older)}, or choose" if older else "choose"
    pool = INFERENCE_AMIS if ami.service == REALTIME else TRANSFORM_AMIS
    newer = [f"{a.name} has {a.driver}" for a in pool.values() if a.driver >= needs.branch]
    hint = f" ({'; '.join(newer)})" if newer else f" (no SageMaker {ami.service} AMI has one)"
    return (f"{runtime} runtime needs driver >= {needs.shown}; {ami.name} has {ami.driver}: "
            f"{advice} an AMI with a newer driver{hint}")


def driver_problems(runtime: str, major: int, amis: Iterable[Ami]) -> list[str]:
    """One sentence per AMI whose driver is older than CUDA ``major`` needs."""
    needs = requirement(major)
    return [driver_sentence(runtime, needs, ami) for ami in amis if ami.driver < needs.branch]
