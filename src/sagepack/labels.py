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

# --- a local base image (written by its Dockerfile in :mod:`sagepack.images.base`) ---------
BASE_SUITE: Final = "sagepack.base.suite"
BASE_PACKAGES: Final = "sagepack.base.packages"
BASE_NAME: Final = "sagepack.base.name"

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
