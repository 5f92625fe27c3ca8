"""Running inference images as SageMaker does, on the builder's machine (Docker SDK)."""

from sagepack.containers.contract import container_env
from sagepack.containers.launch import ContainerSpec, model_container
from sagepack.containers.runner import ExecResult, RunningContainer, serving_container
from sagepack.containers.transform import run_transform_job

__all__ = ["ContainerSpec", "ExecResult", "RunningContainer", "container_env", "model_container",
           "run_transform_job", "serving_container"]
