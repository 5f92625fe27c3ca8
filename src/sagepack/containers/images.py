"""Which local image holds a model's variant."""

from __future__ import annotations

from typing import Any

from docker.errors import ImageNotFound

from sagepack.config import ModelConfig, Settings, Variant
from sagepack.errors import ContainerError
from sagepack.images.tags import image_tag


def local_image(client: Any, settings: Settings, model: ModelConfig, variant: Variant) -> Any:
    """The built image of ``variant``; :class:`ContainerError` when it was not built."""
    tag = image_tag(settings, model, variant)
    try:
        return client.images.get(tag)
    except ImageNotFound:
        raise ContainerError(f"image {tag} is not built: run `invoke build --model "
                             f"{model.name} --variant {variant.name}` first",
                             image=tag) from None
