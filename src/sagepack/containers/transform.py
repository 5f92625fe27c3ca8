"""``invoke transform``: a batch transform job against the model's image, run as SageMaker
runs it (no network, model at /opt/ml/model, ``SAGEMAKER_BATCH=true``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

from sagepack.config import ModelConfig, Settings, Variant
from sagepack.containers.contract import DEFAULT_DEADLINE_S, batch_env, container_env
from sagepack.containers.gpu import host_has_gpu
from sagepack.containers.images import image_tag, local_image
from sagepack.containers.model_dir import model_directory
from sagepack.containers.runner import RunningContainer, serving_container
from sagepack.labels import read_labels
from sagepack.progress import say
from sagepack.transform import TransformJob, TransformReport, run_transform
from sagepack.transform.params import normalize_strategy


def job_env(job: TransformJob) -> dict[str, str]:
    """The environment SageMaker gives the container of ``job`` (see
    :func:`~sagepack.containers.contract.batch_env`): its payload limit, strategy,
    concurrency, and its invocation timeout as ``SAGEMAKER_MODEL_SERVER_TIMEOUT``."""
    strategy = normalize_strategy(job.strategy, "--strategy") if job.strategy else None
    return batch_env(max_payload_mb=job.max_payload_mb, strategy=strategy,
                     max_concurrent=job.max_concurrent, timeout_s=job.timeout_s)


@contextlib.contextmanager
def model_container(settings: Settings, model: ModelConfig, variant: Variant, *,
                    no_network: bool = True, env: Mapping[str, str] = {},
                    deadline_s: float = DEFAULT_DEADLINE_S) -> Iterator[RunningContainer]:
    """``model``'s ``variant`` image running as SageMaker runs it, until the block ends."""
    from sagepack.images.docker_client import docker_client

    client = docker_client()
    tag = image_tag(settings, model, variant)
    local_image(client, settings, model, variant)
    gpu = variant.gpu and host_has_gpu(client)
    environment = container_env(model, variant, env)
    with model_directory(settings, model, labels=read_labels(client, tag)) as model_dir, \
            serving_container(client, tag, model_dir=model_dir, no_network=no_network,
                              env=environment, deadline_s=deadline_s, gpu=gpu) as running:
        say(f"{tag} ready in {running.time_to_ready or 0:.1f} s "
            f"({'no network' if no_network else 'bridge network'}{', GPU' if gpu else ''})")
        yield running


def run_transform_job(settings: Settings, model: ModelConfig, variant: Variant,
                      job: TransformJob, *, deadline_s: float = DEFAULT_DEADLINE_S,
                      env: Mapping[str, str] = {}, progress: bool = True) -> TransformReport:
    """Start ``model``'s ``variant`` image without network, run ``job``, clean up.

    Failed files are in the report (``report.raise_for_failures()``); a container that
    does not come up raises :class:`ContainerError` with its diagnosis.
    """
    with model_container(settings, model, variant, no_network=True,
                         env={**job_env(job), **env}, deadline_s=deadline_s) as running:
        return run_transform(job, running.url, progress=progress)
