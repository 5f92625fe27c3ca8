"""Image builds: locked, hermetic, multi-stage SageMaker inference images per variant.

Host-side only (imports the Docker SDK); never shipped inside images.
"""

from __future__ import annotations

from sagepack.images.base import ensure_base
from sagepack.images.build import BuildResult, build, build_all
from sagepack.images.docker_client import docker_client
from sagepack.images.lock import lock
from sagepack.images.tags import image_tag, image_tags

__all__ = ["BuildResult", "build", "build_all", "docker_client", "ensure_base", "image_tag",
           "image_tags", "lock"]
