"""Image builds: locked, hermetic, multi-stage SageMaker inference images per variant.

What lives here: the lock (:mod:`.lock`), the wheelhouse (:mod:`.wheelhouse`), base images
(:mod:`.base`), the build context (:mod:`.context`), the build and its stream
(:mod:`.build`, :mod:`.build_stream`, :mod:`.display`, :mod:`.stages`; for another
platform :mod:`.cross`), tags
(:mod:`.tags`), the checks on a built image (:mod:`.checks`, :mod:`.cuda`), the build
report (:mod:`.report`) and the one Docker client
(:mod:`.docker_client`).

What must not: running a model's container as SageMaker does (:mod:`sagepack.containers`)
or anything shipped inside an image. Host-side only (imports the Docker SDK).
"""

from __future__ import annotations

from sagepack.images.base import ensure_base
from sagepack.images.build import BuildResult, build, build_all
from sagepack.images.docker_client import docker_client
from sagepack.images.lock import lock
from sagepack.images.tags import image_tag, image_tags

__all__ = ["BuildResult", "build", "build_all", "docker_client", "ensure_base", "image_tag",
           "image_tags", "lock"]
