"""How SageMaker starts a serving container: paths, ports, limits and the environment."""

from __future__ import annotations

from collections.abc import Mapping

from sagepack.config import ModelConfig, Variant
from sagepack.errors import ContainerError

MODEL_DIR = "/opt/ml/model"
DEFAULT_PORT = 8080
SERVE_COMMAND = ("serve",)
PING_TIMEOUT_S = 2.0
DEFAULT_DEADLINE_S = 240.0
STOP_GRACE_S = 30
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024

# Every resource sagepack creates carries this label (value: the run's id), so that
# whatever an interrupted run left behind can be found and removed.
RUN_LABEL = "com.sagepack.run"

# Never handed to a container: Marketplace model packages run without AWS credentials.
CREDENTIAL_VARIABLES = frozenset({
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
    "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
})


def serving_port(env: Mapping[str, str]) -> int:
    """The port the server must listen on: ``SAGEMAKER_BIND_TO_PORT`` or 8080."""
    value = env.get("SAGEMAKER_BIND_TO_PORT", "").strip()
    if not value:
        return DEFAULT_PORT
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


def container_env(model: ModelConfig, variant: Variant, extra: Mapping[str, str] = {},
                  *, batch: bool = False) -> dict[str, str]:
    """SageMaker's environment for ``model``'s ``variant``: the model's and the variant's
    ``env`` tables, ``extra`` on top, and ``SAGEMAKER_BATCH=true`` for batch transform."""
    env = {**model.env, **variant.env, **extra}
    if batch:
        env["SAGEMAKER_BATCH"] = "true"
    check_no_credentials(env)
    return env
