"""The CUDA runtime a lock pins or an image ships, checked against its variant's target.

NVIDIA's PyPI wheels say which CUDA they belong to in two ways: a ``-cu<major>`` suffix
(``nvidia-cudnn-cu12``, ``nvidia-cuda-runtime-cu12==12.9.79``) or, for the unsuffixed
CUDA 13 wheels, the version of the toolkit components themselves
(``nvidia-cuda-runtime==13.5.37``, ``nvidia-cublas==13.10.0.20``). Framework builds from
per-CUDA indexes carry it as a local version (``torch==2.9.1+cu128``). The runtime version
is ``nvidia-cuda-runtime``'s, except for frameworks that link the CUDA runtime into their
own library and bring no runtime wheel (:data:`LINKED_RUNTIME`: XGBoost): theirs is known
by its major only, the one of the ``nvidia-*-cu<major>`` wheels they require.

Refused, at lock time (:func:`check_lock`) and on the built image
(:func:`check_cuda_runtime`): a set of wheels mixing CUDA majors (the packages are
named), no CUDA runtime at all, a runtime that is not the CUDA the variant declares, and a
runtime whose minimum driver is newer than one of the target AMIs' drivers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import docker
from docker.errors import APIError, ImageNotFound
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from sagepack.checks import CheckResult
from sagepack.cuda import CudaTarget, DriverRequirement, driver_problems, requirement
from sagepack.errors import CudaTargetError, ImageError
from sagepack.images.checks import run_in_image
from sagepack.labels import (
    CUDA_INFERENCE_AMI,
    CUDA_MIN_DRIVER,
    CUDA_RUNTIME,
    CUDA_TARGET,
    CUDA_TRANSFORM_AMI,
    read_labels,
)

CHECK_NAME = "cuda-driver"
RUNTIME_LABEL = CUDA_RUNTIME

_SUFFIX = re.compile(r"-cu(?:da)?(\d{2,3})$")
_LOCAL = re.compile(r"^cu(\d{2,3})$")
_RUNTIME = re.compile(r"^nvidia-cuda-runtime(?:-cu\d{2,3})?$")
# Unsuffixed NVIDIA wheels whose own major is the CUDA major (toolkit-versioned components).
_TOOLKIT_VERSIONED = re.compile(r"^nvidia-(?:cuda-[a-z0-9-]+|nvjitlink|cublas)$")
#: Frameworks whose CUDA builds link the CUDA runtime into their own library instead of
#: loading NVIDIA's runtime wheel: XGBoost's ``libxgboost.so`` holds it (``xgboost.
#: build_info()["CUDA_VERSION"]``) and requires ``nvidia-nccl-cu<major>``. Their runtime is
#: that major (every minor of a major needs the same driver).
LINKED_RUNTIME = frozenset({"xgboost"})


def _major_of_digits(digits: str) -> int:
    """``12`` -> 12; ``128`` (cu128) or ``120`` (cuda120) -> 12; ``118`` -> 11."""
    return int(digits if len(digits) == 2 else digits[:-1])


def cuda_major_of(name: str, version: str) -> int | None:
    """The CUDA major one requirement is built for, or ``None`` when it says nothing."""
    key = canonicalize_name(name)
    suffix = _SUFFIX.search(key)
    if suffix is not None and key.startswith("nvidia-"):
        return _major_of_digits(suffix.group(1))
    try:
        parsed = Version(version)
    except InvalidVersion:
        return None
    local = _LOCAL.match(parsed.local or "")
    if local is not None:
        return _major_of_digits(local.group(1))
    if _TOOLKIT_VERSIONED.match(key):
        return parsed.major
    return None


@dataclass(frozen=True)
class CudaRuntime:
    """The CUDA runtime found: its version and where it was read from."""

    version: Version
    source: str

    @property
    def major(self) -> int:
        return self.version.major

    @property
    def minor(self) -> int | None:
        return self.version.minor if len(self.version.release) > 1 else None

    @property
    def label(self) -> str:
        """``13.5`` for 13.5.37; ``12`` when only the major is known."""
        return f"{self.major}.{self.minor}" if self.minor is not None else str(self.major)

    @property
    def needs(self) -> DriverRequirement:
        return requirement(self.major)


@dataclass(frozen=True)
class CudaWheels:
    """What a set of installed or locked distributions says about CUDA."""

    majors: Mapping[int, tuple[str, ...]] = field(default_factory=dict)
    runtime: CudaRuntime | None = None

    def mixed(self) -> str | None:
        """A sentence naming the packages of each major, when there is more than one."""
        if len(self.majors) < 2:
            return None
        groups = "; ".join(f"CUDA {major}: {', '.join(pkgs)}"
                           for major, pkgs in sorted(self.majors.items()))
        return f"mixes CUDA majors ({groups})"


def cuda_wheels(packages: Iterable[tuple[str, str]]) -> CudaWheels:
    """Group ``(name, version)`` pairs by the CUDA major they are built for."""
    majors: dict[int, list[str]] = {}
    runtimes: list[CudaRuntime] = []
    packages_seen = list(packages)
    for name, version in packages_seen:
        major = cuda_major_of(name, version)
        if major is None:
            continue
        pin = f"{canonicalize_name(name)}=={version}"
        majors.setdefault(major, []).append(pin)
        if _RUNTIME.match(canonicalize_name(name)):
            parsed = Version(version)
            if parsed.major == major:  # not a meta package versioned apart from CUDA
                runtimes.append(CudaRuntime(parsed, pin))
    runtime = max(runtimes, key=lambda r: r.version) if runtimes else None
    if runtime is None and len(majors) == 1:
        runtime = _linked_runtime(packages_seen, majors)
    return CudaWheels({m: tuple(sorted(p)) for m, p in majors.items()}, runtime)


def _linked_runtime(packages: Iterable[tuple[str, str]],
                    majors: Mapping[int, list[str]]) -> CudaRuntime | None:
    """The runtime of a framework that links it in (:data:`LINKED_RUNTIME`): the one CUDA
    major of the wheels beside it."""
    (major, pins), = majors.items()
    for name, version in packages:
        if canonicalize_name(name) in LINKED_RUNTIME:
            return CudaRuntime(Version(str(major)),
                               f"{canonicalize_name(name)}=={version}, linked in, with "
                               f"{', '.join(sorted(pins))}")
    return None


def refuse_mixed_majors(wheels: CudaWheels, source: str) -> None:
    """Raise :class:`CudaTargetError` naming the packages when CUDA majors are mixed."""
    mixed = wheels.mixed()
    if mixed is not None:
        raise CudaTargetError(source, [mixed])


def target_problems(runtime: CudaRuntime, target: CudaTarget) -> list[str]:
    """The declared CUDA against the runtime, then the runtime against each AMI's driver."""
    problems: list[str] = []
    if not target.accepts(runtime.major, runtime.minor):
        problems.append(f"the variant targets CUDA {target.cuda} but {runtime.source} is "
                        f"CUDA {runtime.label}: require the framework release built for "
                        f"CUDA {target.cuda} in the variant's .in, or change its cuda")
    problems.extend(driver_problems(f"CUDA {runtime.label}", runtime.major, target.amis))
    return problems


def evaluate(wheels: CudaWheels, target: CudaTarget) -> list[str]:
    """Every problem of a set of wheels for ``target``; empty when it fits."""
    mixed = wheels.mixed()
    problems = [mixed] if mixed else []
    if wheels.runtime is None:
        problems.append("no CUDA runtime (no nvidia-cuda-runtime wheel): the driver it "
                        "needs cannot be checked; add the framework's CUDA extra or wheels")
        return problems
    return problems + target_problems(wheels.runtime, target)


def check_lock(pins: Iterable[tuple[str, str]], target: CudaTarget,
               source: str) -> CudaRuntime:
    """The runtime a GPU variant's lock pins (``(name, version)`` pairs read from
    ``source``); :class:`CudaTargetError` with every problem when it does not fit."""
    wheels = cuda_wheels(pins)
    problems = evaluate(wheels, target)
    if problems or wheels.runtime is None:
        raise CudaTargetError(source, problems)
    return wheels.runtime


def cuda_labels(runtime: CudaRuntime, target: CudaTarget) -> dict[str, str]:
    """The image labels that say which CUDA it ships and which driver and hosts it needs."""
    return {
        RUNTIME_LABEL: str(runtime.version),
        CUDA_MIN_DRIVER: runtime.needs.shown,
        CUDA_TARGET: target.cuda,
        CUDA_INFERENCE_AMI: target.inference_ami.name,
        CUDA_TRANSFORM_AMI: target.transform_ami.name,
    }


# --- in the image ------------------------------------------------------------------------

# Runs with the image's python: every installed distribution, and the CUDA runtime
# libraries present in site-packages (NVIDIA's wheels) or a CUDA toolkit folder.
_READ_SCRIPT = r"""
import glob, importlib.metadata as md, json, os, sysconfig
site = sysconfig.get_paths()["purelib"]
dists = sorted({(d.metadata["Name"] or "", d.version) for d in md.distributions()})
libs = glob.glob(os.path.join(site, "nvidia", "**", "libcudart.so.*"), recursive=True)
libs += glob.glob("/usr/local/cuda*/lib*/libcudart.so.*")
print(json.dumps({"dists": dists, "libcudart": sorted(os.path.basename(p) for p in libs)}))
"""
_LIBCUDART = re.compile(r"^libcudart\.so\.(\d+)(?:\.(\d+))?")


@dataclass(frozen=True)
class ImageCuda:
    """What an image ships: its wheels' CUDA majors and runtime, and its libcudart files."""

    wheels: CudaWheels
    libcudart: tuple[str, ...]

    @property
    def library_majors(self) -> frozenset[int]:
        return frozenset(int(m.group(1)) for m in map(_LIBCUDART.match, self.libcudart) if m)

    @property
    def runtime(self) -> CudaRuntime | None:
        """The wheel's runtime, else the major read from a single libcudart major."""
        if self.wheels.runtime is not None:
            return self.wheels.runtime
        if len(self.library_majors) == 1:
            major = next(iter(self.library_majors))
            return CudaRuntime(Version(str(major)), f"libcudart.so.{major}")
        return None


def read_image_cuda(client: docker.DockerClient, image: str) -> ImageCuda:
    """Read the installed distributions and libcudart files inside ``image`` (no network)."""
    status, output = run_in_image(client, image, ["python", "-c", _READ_SCRIPT])
    lines = [line for line in output.splitlines() if line.startswith("{")]
    if status != 0 or not lines:
        raise ImageError(f"reading the CUDA runtime of {image} failed (exit {status}): "
                         f"{output.strip()[-400:]}")
    found = json.loads(lines[-1])
    return ImageCuda(cuda_wheels((str(n), str(v)) for n, v in found["dists"]),
                     tuple(str(name) for name in found["libcudart"]))


def image_problems(found: ImageCuda, target: CudaTarget,
                   labels: Mapping[str, str]) -> list[str]:
    """Every problem of the CUDA an image ships, for ``target`` and its own labels."""
    mixed = found.wheels.mixed()
    problems = [mixed] if mixed else []
    runtime = found.runtime
    if runtime is None:
        problems.append("no CUDA runtime in the image (no nvidia-cuda-runtime wheel, no "
                        "single libcudart.so.<major>): the driver it needs cannot be checked")
        return problems
    stray = [name for name in found.libcudart
             if (m := _LIBCUDART.match(name)) and int(m.group(1)) != runtime.major]
    if stray:
        problems.append(f"{runtime.source} is CUDA {runtime.major} but the image also holds "
                        f"{', '.join(stray)}")
    labelled = labels.get(RUNTIME_LABEL)
    if labelled is not None and labelled != str(runtime.version):
        problems.append(f"label {RUNTIME_LABEL} says {labelled} but the image ships "
                        f"{runtime.version}")
    return problems + target_problems(runtime, target)


def check_cuda_runtime(client: docker.DockerClient, image: str,
                       target: CudaTarget) -> CheckResult:
    """``cuda-driver``: the image's CUDA runtime runs on every AMI its variant targets."""
    try:
        found = read_image_cuda(client, image)
        labels = read_labels(client, image)
    except (APIError, ImageNotFound) as exc:
        raise ImageError(f"checking {image}: the engine failed: {exc}") from exc
    except ImageError as exc:
        return CheckResult.of(CHECK_NAME, False, str(exc))
    problems = image_problems(found, target, labels)
    runtime = found.runtime
    if problems or runtime is None:
        return CheckResult.of(CHECK_NAME, False, "; ".join(problems))
    hosts = ", ".join(f"{ami.name} has {ami.driver}" for ami in target.amis)
    files = f", {', '.join(found.libcudart)}" if found.libcudart else ""
    return CheckResult.of(CHECK_NAME, True,
                       f"CUDA {runtime.version} runtime ({runtime.source}{files}) needs driver "
                       f">= {runtime.needs.shown}; {hosts}")
