"""Starting a model's container as SageMaker does: which image, its environment, whether
it gets the GPU, and the model folder mounted at /opt/ml/model.

:meth:`ContainerSpec.for_model` is the one place these are decided. :func:`model_container`
starts one container from it (``invoke transform``, the transform benchmark); the image
test suite writes its compose file from it (:func:`sagepack.smoke.compose.render`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sagepack import emulation
from sagepack.config import ModelConfig, Settings, Variant
from sagepack.containers.contract import DEFAULT_DEADLINE_S, container_env
from sagepack.containers.gpu import host_has_gpu
from sagepack.containers.images import local_image
from sagepack.containers.model_dir import model_directory
from sagepack.containers.runner import RunningContainer, serving_container
from sagepack.images.tags import image_tag
from sagepack.labels import read_labels
from sagepack.platforms import DEFAULT, Platform
from sagepack.progress import say


@dataclass(frozen=True)
class ContainerSpec:
    """What a model's serving container is started with."""

    image: str  # the tag to run
    env: Mapping[str, str]  # SageMaker's environment, no credentials in it
    gpu: bool = False  # every GPU passed through
    labels: Mapping[str, str] = field(default_factory=dict)  # the image's own labels
    platform: Platform = DEFAULT  # the variant's
    emulated: bool = False  # its code runs under emulation on this machine

    @classmethod
    def for_model(cls, client: Any, settings: Settings, model: ModelConfig, variant: Variant,
                  *, env: Mapping[str, str] = {}, image: str | None = None) -> ContainerSpec:
        """``model``'s ``variant`` image as ``invoke build`` tagged it (or ``image``), with
        :func:`~sagepack.containers.contract.container_env` (``env`` on top) and the GPU
        when the variant wants one and the host can pass it through.

        Raises :class:`~sagepack.errors.ContainerError` when the variant's image is not
        built (not checked for an ``image`` given by name), and
        :class:`~sagepack.errors.EmulationUnavailable` when it is of another architecture
        that this machine cannot emulate.
        """
        tag = image or image_tag(settings, model, variant)
        if image is None:
            local_image(client, settings, model, variant)
        emulated = emulation.require(variant.platform, f"running {tag} "
                                                       f"({variant.platform.docker})")
        return cls(image=tag, env=container_env(model, variant, env),
                   gpu=variant.gpu and host_has_gpu(client), labels=read_labels(client, tag),
                   platform=variant.platform, emulated=emulated)

    def deadline(self, deadline_s: float) -> float:
        """The readiness deadline for this image: ``deadline_s``, scaled when emulated."""
        return deadline_s * emulation.SLOWDOWN if self.emulated else deadline_s

    @contextlib.contextmanager
    def model_directory(self, settings: Settings, model: ModelConfig) -> Iterator[Path | None]:
        """The folder to mount at /opt/ml/model (``None`` when the image has it baked in)."""
        with model_directory(settings, model, labels=self.labels) as folder:
            yield folder

    def describe(self, no_network: bool) -> str:
        """``no network``, ``bridge network, GPU``, ``no network, linux/arm64 emulated``..."""
        return (f"{'no network' if no_network else 'bridge network'}"
                f"{', GPU' if self.gpu else ''}"
                f"{f', {self.platform.docker} emulated' if self.emulated else ''}")


@contextlib.contextmanager
def model_container(settings: Settings, model: ModelConfig, variant: Variant, *,
                    no_network: bool = True, env: Mapping[str, str] = {},
                    deadline_s: float = DEFAULT_DEADLINE_S) -> Iterator[RunningContainer]:
    """``model``'s ``variant`` image running as SageMaker runs it, until the block ends."""
    from sagepack.images.docker_client import docker_client

    client = docker_client()
    spec = ContainerSpec.for_model(client, settings, model, variant, env=env)
    with spec.model_directory(settings, model) as model_dir, \
            serving_container(client, spec.image, model_dir=model_dir, no_network=no_network,
                              env=spec.env, deadline_s=spec.deadline(deadline_s),
                              gpu=spec.gpu) as running:
        say(f"{spec.image} ready in {running.time_to_ready or 0:.1f} s "
            f"({spec.describe(no_network)})")
        yield running
