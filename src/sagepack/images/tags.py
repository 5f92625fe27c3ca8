"""The tags ``invoke build`` gives a variant's image; everything that looks an image up by
its model and variant (the image checks, ``invoke transform``, publishing) uses them."""

from __future__ import annotations

from sagepack.config import ModelConfig, Settings, Variant
from sagepack.images.source import SourceInfo, source_info


def version_tag(model: ModelConfig, variant: Variant | str) -> str:
    """``<version>-<variant>``: the tag (without repository) an image is found by, locally,
    in ECR and in ``publish.json``."""
    name = variant if isinstance(variant, str) else variant.name
    return f"{model.version}-{name}"


def image_tag(settings: Settings, model: ModelConfig, variant: Variant | str) -> str:
    """``<repository>:<version>-<variant>``: the tag an image is found by."""
    return f"{settings.project.repository_for(model.name)}:{version_tag(model, variant)}"


def image_tags(settings: Settings, model: ModelConfig, variant: Variant | str,
               source: SourceInfo | None = None) -> tuple[str, ...]:
    """:func:`image_tag`, then ``<repository>:<git short sha>-<variant>`` when the project
    is a git checkout."""
    name = variant if isinstance(variant, str) else variant.name
    info = source or source_info(settings.project.root)
    tags = [image_tag(settings, model, name)]
    if info.short:
        tags.append(f"{settings.project.repository_for(model.name)}:{info.short}-{name}")
    return tuple(tags)
