"""How SageMaker starts a serving container: paths, ports, limits and the environment."""

from __future__ import annotations

from collections.abc import Mapping

from sagepack.config import ModelConfig, Variant
from sagepack.errors import ContainerError
from sagepack.serving import parameters as p

SERVE_COMMAND = ("serve",)
PING_TIMEOUT_S = 2.0
DEFAULT_DEADLINE_S = 240.0
STOP_GRACE_S = 30

# Never handed to a container: Marketplace model packages run without AWS credentials.
CREDENTIAL_VARIABLES = frozenset({
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
    "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
})


def serving_port(env: Mapping[str, str]) -> int:
    """The port the server must listen on: ``SAGEMAKER_BIND_TO_PORT`` or 8080."""
    value = env.get(p.BIND_TO_PORT, "").strip()
    if not value:
        return p.DEFAULT_PORT
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise ContainerError(f"SAGEMAKER_BIND_TO_PORT must be a port number, got {value!r}")
    return int(value)


def check_no_credentials(env: Mapping[str, str], image: str = "") -> None:
    """Refuse an environment that would hand AWS credentials to the container."""
    found = sorted(k for k in env if k.upper() in CREDENTIAL_VARIABLES)
    if found:
        raise ContainerError(
            f"refusing to pass AWS credentials to the container ({', '.join(found)}): "
            "SageMaker model packages run without them", image=image)


def container_env(model: ModelConfig, variant: Variant, extra: Mapping[str, str] = {}
                  ) -> dict[str, str]:
    """SageMaker's environment for ``model``'s ``variant``: the model's and the variant's
    ``env`` tables, ``extra`` (for batch transform: :func:`batch_env`) on top."""
    env = {**model.env, **variant.env, **extra}
    check_no_credentials(env)
    return env


# A transform job's BatchStrategy, as the job names it -> as the container sees it.
BATCH_STRATEGIES = {"MultiRecord": p.BATCH_STRATEGIES[0], "SingleRecord": p.BATCH_STRATEGIES[1]}


def batch_strategy(strategy: str) -> str:
    """``MultiRecord`` -> ``MULTI_RECORD``, ``SingleRecord`` -> ``SINGLE_RECORD`` (either
    spelling accepted)."""
    key = strategy.replace("_", "").replace("-", "").lower()
    for job_name, env_value in BATCH_STRATEGIES.items():
        if key == job_name.lower():
            return env_value
    raise ContainerError(f"BatchStrategy {strategy!r} is not one of "
                         f"{', '.join(BATCH_STRATEGIES)}")


def batch_env(*, max_payload_mb: int | None = None, strategy: str | None = None,
              max_concurrent: int | None = None, timeout_s: float | None = None
              ) -> dict[str, str]:
    """The environment SageMaker gives a container in a batch transform job: always
    ``SAGEMAKER_BATCH=true``, then the job's payload limit, strategy, concurrency and
    invocation timeout (``SAGEMAKER_MODEL_SERVER_TIMEOUT``), each only when the job sets it.

    The one place this environment is made: ``invoke transform``, the image checks' batch
    container, the transform benchmark and the image's own defaults all use it.
    """
    env = {p.BATCH: "true"}
    if max_payload_mb is not None:
        env[p.MAX_PAYLOAD_IN_MB] = str(max_payload_mb)
    if strategy is not None:
        env[p.BATCH_STRATEGY] = batch_strategy(strategy)
    if max_concurrent:
        env[p.MAX_CONCURRENT_TRANSFORMS] = str(max_concurrent)
    if timeout_s is not None:
        env[p.MODEL_SERVER_TIMEOUT] = f"{timeout_s:g}"
    return env


def validation_batch_env(model: ModelConfig) -> dict[str, str]:
    """:func:`batch_env` for the model's ``[validation]`` transform (only
    ``SAGEMAKER_BATCH`` when it has none)."""
    v = model.validation
    if v is None:
        return batch_env()
    return batch_env(max_payload_mb=v.max_payload_mb, strategy=v.strategy)
