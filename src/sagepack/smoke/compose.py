"""The compose file the image test suite brings up through pytest-docker.

Four services from the one image under test, each run as SageMaker runs it (``serve``, the
model read-only at /opt/ml/model, SageMaker's environment, no credentials):

- ``model``: the container most checks talk to;
- ``model-port``: with ``SAGEMAKER_BIND_TO_PORT`` moving the port;
- ``model-sigterm``: stopped with a request in flight;
- ``model-batch``: with the batch transform environment, for the validation transform.

Without network (``network_mode: none``) a container has only loopback, as under
Marketplace's network isolation. (A Docker ``internal`` network is not enough: on Docker
20.10 a container on one still reaches every address of the host itself.) Otherwise the
services share the project's ordinary bridge network and publish their port on 127.0.0.1.
Compose files are YAML; JSON is YAML, so the file is written as JSON.

The file works with Compose v2 (the ``docker compose`` plugin GitHub's runners and Docker
Desktop ship) and with Compose 1.29 (Debian's ``docker-compose``); :func:`compose_command`
picks whichever is installed, v2 first.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sagepack.containers.contract import SERVE_COMMAND, STOP_GRACE_S
from sagepack.containers.launch import ContainerSpec
from sagepack.errors import ContainerError
from sagepack.files import write_json
from sagepack.labels import RUN
from sagepack.serving import parameters as p
from sagepack.smoke.spec import (
    MOVED_PORT,
    SERVICE_BATCH,
    SERVICE_MAIN,
    SERVICE_PORT,
    SERVICE_SIGTERM,
)


def _service(image: str, env: Mapping[str, str], port: int, *, run_id: str,
             model_dir: Path | None, no_network: bool, gpu: bool,
             models_dir: Path | None = None) -> dict[str, Any]:
    service: dict[str, Any] = {
        "image": image,
        "command": list(SERVE_COMMAND),
        "environment": dict(env),
        "labels": {RUN: run_id},
        "stop_grace_period": f"{STOP_GRACE_S}s",
    }
    if model_dir is not None:
        service["volumes"] = [f"{model_dir}:{p.DEFAULT_MODEL_DIR}:ro"]
    if models_dir is not None:  # a multi-model image: the archives SageMaker would extract
        service.setdefault("volumes", []).append(f"{models_dir}:{p.DEFAULT_MODELS_DIR}:ro")
    if no_network:
        service["network_mode"] = "none"
    else:
        service["ports"] = [f"127.0.0.1::{port}"]
    if gpu:  # compose file format 2.3+: the NVIDIA runtime with every GPU visible
        service["runtime"] = "nvidia"
        service["environment"].setdefault(p.NVIDIA_VISIBLE_DEVICES, "all")
    return service


def render(spec: ContainerSpec, batch_env: Mapping[str, str], *, run_id: str,
           model_dir: Path | None, no_network: bool,
           models_dir: Path | None = None) -> dict[str, Any]:
    """The compose document for one image: ``spec``'s image, environment and GPU choice
    (:meth:`ContainerSpec.for_model`), ``batch_env`` on top for the batch service;
    ``models_dir`` (multi-model images) is mounted at /opt/ml/models."""
    env = spec.env

    def service(environment: Mapping[str, str], port: int) -> dict[str, Any]:
        return _service(spec.image, environment, port, run_id=run_id, model_dir=model_dir,
                        no_network=no_network, gpu=spec.gpu, models_dir=models_dir)

    moved = {**env, p.BIND_TO_PORT: str(MOVED_PORT),
             p.SAFE_PORT_RANGE: f"{MOVED_PORT + 1}-{MOVED_PORT + 9}"}
    document: dict[str, Any] = {
        "version": "2.4",
        "services": {
            SERVICE_MAIN: service(env, p.DEFAULT_PORT),
            SERVICE_PORT: service(moved, MOVED_PORT),
            SERVICE_SIGTERM: service(env, p.DEFAULT_PORT),
            SERVICE_BATCH: service({**env, **batch_env}, p.DEFAULT_PORT),
        },
    }
    if not no_network:
        document["networks"] = {"default": {"labels": {RUN: run_id}}}
    return document


def write(path: Path, document: Mapping[str, Any]) -> Path:
    write_json(path, document)
    return path


Which = Callable[[str], "str | None"]
Works = Callable[[Sequence[str]], bool]


def _works(argv: Sequence[str]) -> bool:
    """True when ``argv`` runs and exits 0 (within 30 s)."""
    try:
        return subprocess.run(list(argv), capture_output=True, timeout=30,
                              check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def compose_command(which: Which = shutil.which, works: Works = _works) -> tuple[str, ...]:
    """The Compose command line to run: ``docker compose`` (v2) when the plugin answers,
    else ``docker-compose`` (1.x); :class:`ContainerError` when neither is installed."""
    docker = which("docker")
    if docker is not None and works([docker, "compose", "version"]):
        return (docker, "compose")
    legacy = which("docker-compose")
    if legacy is not None and works([legacy, "version"]):
        return (legacy,)
    raise ContainerError(
        "the image checks need Docker Compose, and neither `docker compose` (Compose v2, "
        "the docker-compose-plugin package) nor `docker-compose` (1.29) is installed: "
        "install one of them (scripts/bootstrap.sh installs docker-compose)")
