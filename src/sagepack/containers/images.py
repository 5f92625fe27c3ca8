"""Which local image holds a model's variant."""

from __future__ import annotations

import importlib
from typing import Any

from docker.errors import ImageNotFound

from sagepack.config import ModelConfig, Settings, Variant
from sagepack.errors import ContainerError


def image_tag(settings: Settings, model: ModelConfig, variant: Variant) -> str:
    """``sagepack/<model>:<version>-<variant>``, the tag ``invoke image`` gives a build."""
    image_tags = getattr(importlib.import_module("sagepack.images"), "image_tags", None)
    if image_tags is None:
        return f"sagepack/{model.name}:{model.version}-{variant.name}"
    tags = image_tags(settings, model, variant)
    return str(tags if isinstance(tags, str) else next(iter(tags)))


def local_image(client: Any, settings: Settings, model: ModelConfig, variant: Variant) -> Any:
    """The built image of ``variant``; :class:`ContainerError` when it was not built."""
    tag = image_tag(settings, model, variant)
    try:
        return client.images.get(tag)
    except ImageNotFound:
        raise ContainerError(f"image {tag} is not built: run `invoke image --model "
                             f"{model.name} --variant {variant.name}` first",
                             image=tag) from None
