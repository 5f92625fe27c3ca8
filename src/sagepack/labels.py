"""Every image and container label key sagepack writes or reads (stdlib only).

Written at build time (:func:`sagepack.images.build.build_labels`), read back from a built
image (:func:`sagepack.containers.labels.read_labels`), put on every container and network
a run creates (:data:`RUN`), and on the throw-away containers of the image checks
(:data:`CHECK`). Nothing else in sagepack spells a label key.
"""

from __future__ import annotations

from typing import Any, Final

# --- SageMaker's own ------------------------------------------------------------------
#: ``true``: the server honours ``SAGEMAKER_BIND_TO_PORT`` (SageMaker then may move it).
BIND_TO_PORT: Final = "com.amazonaws.sagemaker.capabilities.accept-bind-to-port"
#: ``true``: a multi-model endpoint image (no model inside; models loaded through /models).
MULTI_MODELS: Final = "com.amazonaws.sagemaker.capabilities.multi-models"

# --- OCI image annotations ---------------------------------------------------------------
OCI_TITLE: Final = "org.opencontainers.image.title"
OCI_DESCRIPTION: Final = "org.opencontainers.image.description"
OCI_VERSION: Final = "org.opencontainers.image.version"
OCI_REVISION: Final = "org.opencontainers.image.revision"
OCI_SOURCE: Final = "org.opencontainers.image.source"
OCI_CREATED: Final = "org.opencontainers.image.created"
OCI_BASE_NAME: Final = "org.opencontainers.image.base.name"

# --- what a model image says about itself --------------------------------------------------
MODEL: Final = "sagepack.model"
MODEL_VERSION: Final = "sagepack.model.version"
VARIANT: Final = "sagepack.variant"
#: ``baked`` (the model is inside the image) or ``dynamic`` (expected at /opt/ml/model).
ARTIFACT_MODE: Final = "sagepack.artifact-mode"
LOCK_SHA256: Final = "sagepack.lock.sha256"
VERSION: Final = "sagepack.version"
ARCHIVE_SHA256: Final = "sagepack.archive.sha256"

# --- a GPU variant's CUDA ----------------------------------------------------------------
CUDA_PREFIX: Final = "sagepack.cuda."
CUDA_RUNTIME: Final = CUDA_PREFIX + "runtime"
CUDA_MIN_DRIVER: Final = CUDA_PREFIX + "min-driver"
CUDA_TARGET: Final = CUDA_PREFIX + "target"
CUDA_INFERENCE_AMI: Final = CUDA_PREFIX + "inference-ami"
CUDA_TRANSFORM_AMI: Final = CUDA_PREFIX + "transform-ami"

#: The sha256 of the image's SBOM (``dist/<model>/sbom-<variant>.cdx.json``), added in a
#: label-only step on top of the image the SBOM was read from.
SBOM_SHA256: Final = "sagepack.sbom.sha256"

# --- a local base image (written on import by :mod:`sagepack.images.base`) -----------------
BASE_SUITE: Final = "sagepack.base.suite"
#: The packages the recipe asks for (debootstrap's ``--include``).
BASE_PACKAGES: Final = "sagepack.base.packages"
BASE_NAME: Final = "sagepack.base.name"
#: The apt suites applied: the release, its updates and its security suite.
BASE_SUITES: Final = "sagepack.base.suites"
#: When those suites were applied (RFC 3339 UTC): a base's age counts from here.
BASE_UPDATED: Final = "sagepack.base.updated"
#: How many packages the updates and security suites upgraded over the release.
BASE_UPGRADED: Final = "sagepack.base.upgraded"
#: The sha256 and the number of lines of the package set recorded inside the base.
BASE_PACKAGE_SET_SHA256: Final = "sagepack.base.package-set.sha256"
BASE_PACKAGE_COUNT: Final = "sagepack.base.package-set.count"

# --- containers and networks -----------------------------------------------------------------
#: Every container and network a run creates (value: the run's id), so that whatever an
#: interrupted run left behind can be found and removed.
RUN: Final = "com.sagepack.run"
#: The short-lived containers the image checks run commands in.
CHECK: Final = "sagepack.check"
#: Docker Compose's own label naming a container's or network's project (read only).
COMPOSE_PROJECT: Final = "com.docker.compose.project"

#: An image carrying a key with one of these prefixes was made by sagepack.
SAGEPACK_PREFIXES: Final = ("sagepack.", "com.sagepack.")


def read_labels(client: Any, image: str) -> dict[str, str]:
    """The labels a local image carries (``image``: a tag or id), as its build wrote them.

    ``client``: a ``docker.DockerClient`` (typed loosely: this module imports only the
    standard library)."""
    config = client.api.inspect_image(image).get("Config") or {}
    return dict(config.get("Labels") or {})
