"""The one exception hierarchy of sagepack.

Every error sagepack raises derives from :class:`SagepackError`. Messages name the file,
field, member, image or request at fault. This module has no third-party imports: it is
shipped inside inference images as part of the serving runtime.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


class SagepackError(Exception):
    """Base class of every error sagepack raises."""


# --- configuration -------------------------------------------------------------------


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong in one configuration file."""

    file: Path
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.key}" if self.key else str(self.file)
        return f"{where}: {self.message}"


class ConfigError(SagepackError):
    """One or more problems in configuration files; all of them are reported at once."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems = tuple(problems)
        lines = [str(p) for p in self.problems]
        head = "invalid configuration" if len(lines) == 1 else f"{len(lines)} configuration errors"
        super().__init__(head + ":\n  " + "\n  ".join(lines))


class ScaffoldError(SagepackError):
    """``invoke new`` could not make a model folder (the name, the source, the target)."""


# --- archives -----------------------------------------------------------------------


class ArchiveError(SagepackError):
    """Packing a model folder failed; ``path`` names the file at fault when there is one."""

    def __init__(self, message: str, path: Path | str | None = None) -> None:
        self.path = path
        super().__init__(message)


class UnsafeArchiveError(ArchiveError):
    """An archive was refused on extraction; ``member`` names the offending member."""

    def __init__(self, message: str, member: str, archive: Path | str | None = None) -> None:
        self.member = member
        self.archive = archive
        super().__init__(message, archive)


# --- images -------------------------------------------------------------------------


class ImageError(SagepackError):
    """Base class of errors about building or checking images."""


class LockError(ImageError):
    """A lock file and its wheelhouse disagree, or a wheel is missing for the platform."""


class CudaTargetError(ImageError):
    """A GPU variant's CUDA libraries cannot run on the hosts it targets, or its lock mixes
    CUDA majors; ``source`` names the lock or image, ``problems`` holds every sentence."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = tuple(problems)
        super().__init__(f"{source}: " + "; ".join(self.problems))


class BuildFailed(ImageError):
    """The engine reported an error while building an image."""

    def __init__(self, message: str, tag: str, step: str | None = None,
                 log_tail: Sequence[str] = ()) -> None:
        self.tag = tag
        self.step = step
        self.log_tail = tuple(log_tail)
        super().__init__(message)


class ImageCheckFailed(ImageError):
    """A check on a built image failed; ``check`` names it."""

    def __init__(self, check: str, image: str, detail: str) -> None:
        self.check = check
        self.image = image
        self.detail = detail
        super().__init__(f"image check '{check}' failed for {image}: {detail}")


class EmulationUnavailable(SagepackError):
    """An image of another CPU architecture was to be built or run, and the kernel has no
    emulator registered for it (the message names what to run)."""


class DockerUnavailable(SagepackError):
    """No Docker engine answers."""


# --- running containers -------------------------------------------------------------


class ContainerError(SagepackError):
    """A container did not come up or misbehaved; ``diagnosis`` says why."""

    def __init__(self, message: str, image: str = "", diagnosis: str = "",
                 logs: str = "") -> None:
        self.image = image
        self.diagnosis = diagnosis
        self.logs = logs
        super().__init__(message)


class TransformError(SagepackError):
    """A batch transform job (or one of its files) failed."""


# --- publishing ---------------------------------------------------------------------


class PublishError(SagepackError):
    """Publishing to ECR, S3 or SageMaker failed or was refused."""


class DeployError(SagepackError):
    """Deploying, checking or removing an endpoint, or a remote transform job, failed or was
    refused."""


# --- serving (raised inside the image) ----------------------------------------------


class InferenceError(SagepackError):
    """An error with an HTTP status. Handlers raise it to answer with a 4xx of their choice.

    ``InferenceError(422, "feature 'age' is missing")`` makes /invocations answer 422 with
    a JSON body carrying the message.
    """

    def __init__(self, status_code: int, message: str) -> None:
        if not 400 <= status_code <= 599:
            raise ValueError(f"status_code must be 4xx or 5xx, got {status_code}")
        self.status_code = status_code
        self.message = message
        super().__init__(f"{status_code}: {message}")


class HandlerError(SagepackError):
    """The handler module is unusable (missing model_fn, transform_fn mixed with others...)."""
