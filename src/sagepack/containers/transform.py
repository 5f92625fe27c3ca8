"""``invoke transform``: a batch transform job against the model's image, run as SageMaker
runs it (no network, model at /opt/ml/model, ``SAGEMAKER_BATCH=true``)."""

from __future__ import annotations

from collections.abc import Mapping

from sagepack.config import ModelConfig, Settings, Variant
from sagepack.containers.contract import DEFAULT_DEADLINE_S, batch_env
from sagepack.containers.launch import model_container
from sagepack.transform import TransformJob, TransformReport, run_transform
from sagepack.transform.params import normalize_strategy


def job_env(job: TransformJob) -> dict[str, str]:
    """The environment SageMaker gives the container of ``job`` (see
    :func:`~sagepack.containers.contract.batch_env`): its payload limit, strategy,
    concurrency, and its invocation timeout as ``SAGEMAKER_MODEL_SERVER_TIMEOUT``."""
    strategy = normalize_strategy(job.strategy, "--strategy") if job.strategy else None
    return batch_env(max_payload_mb=job.max_payload_mb, strategy=strategy,
                     max_concurrent=job.max_concurrent, timeout_s=job.timeout_s)


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
