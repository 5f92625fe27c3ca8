"""Running inference images as SageMaker does, on the builder's machine (Docker SDK).

What lives here: the host side of the contract (:mod:`.contract`: SageMaker's environment,
the batch environment, no credentials), how a model's container is started
(:mod:`.launch`: :class:`ContainerSpec`), running one and waiting for it
(:mod:`.runner`, :mod:`.readiness`, :mod:`.diagnosis`, :mod:`.relay`), the model folder
(:mod:`.model_dir`), GPUs (:mod:`.gpu`), the egress probe (:mod:`.egress`), removing what
a run left (:mod:`.cleanup`) and ``invoke transform`` (:mod:`.transform`).

What must not: building images (:mod:`sagepack.images`), the checks' pytest suite
(:mod:`sagepack.smoke`), anything shipped inside an image (:mod:`sagepack.serving`).
Constants of the contract come from :mod:`sagepack.serving.parameters`, label keys from
:mod:`sagepack.labels`; none is spelled here.
"""

from sagepack.containers.contract import container_env
from sagepack.containers.launch import ContainerSpec, model_container
from sagepack.containers.runner import ExecResult, RunningContainer, serving_container
from sagepack.containers.transform import run_transform_job

__all__ = ["ContainerSpec", "ExecResult", "RunningContainer", "container_env", "model_container",
           "run_transform_job", "serving_container"]
