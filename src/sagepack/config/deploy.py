"""How a model is deployed and run remotely: the ``[deploy]`` table of ``sagepack.toml``.

Every value has the range SageMaker's API accepts, so a value SageMaker would refuse is a
configuration problem naming the key, found before anything is sent. The execution role is
a project setting (``tool.sagepack.execution_role_arn`` or ``SAGEPACK_EXECUTION_ROLE_ARN``):
it belongs to the account, not to the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sagepack.problems import Reader

SERVERLESS_MEMORY_MB = (1024, 2048, 3072, 4096, 5120, 6144)
CAPTURE_MODES = ("Input", "Output")
TIMEOUT_RANGE = (60, 3600)  # ContainerStartupHealthCheck / ModelDataDownload, seconds


@dataclass(frozen=True)
class ServerlessSettings:
    """``[deploy.serverless]``: a serverless endpoint instead of instances."""

    memory_mb: int = 2048
    max_concurrency: int = 5
    provisioned_concurrency: int | None = None


@dataclass(frozen=True)
class DataCaptureSettings:
    """``[deploy.data_capture]``: requests and responses copied to S3."""

    destination: str  # s3:// prefix
    sampling_percent: int = 100
    modes: tuple[str, ...] = CAPTURE_MODES
    kms_key_id: str | None = None


@dataclass(frozen=True)
class DeploySettings:
    """``[deploy]``: the endpoint and the remote transform of one model."""

    endpoint_name: str | None = None  # default: <model>-<variant>
    instance_type: str | None = None  # default: the first realtime_instance_types
    instance_count: int = 1
    startup_health_check_timeout_s: int | None = None
    model_data_download_timeout_s: int | None = None
    network_isolation: bool = True
    wait_timeout_s: int = 3600
    poll_interval_s: float = 15.0
    rollback_alarms: tuple[str, ...] = ()
    traffic_wait_s: int = 300  # blue/green: time the new fleet takes traffic before the old goes
    transform_instance_type: str | None = None  # default: the first transform_instance_types
    transform_instance_count: int = 1
    serverless: ServerlessSettings | None = None
    data_capture: DataCaptureSettings | None = field(default=None)


def _bounded(t: Reader, name: str, default: int | None, low: int, high: int) -> int | None:
    value = t.get(name, int, default)
    if value is not None and not low <= value <= high:
        t.problem(name, f"expected {low} to {high} (SageMaker's range), got {value}")
        return default
    return value


def _serverless(t: Reader) -> ServerlessSettings:
    memory = t.get("memory_mb", int, 2048) or 2048
    if memory not in SERVERLESS_MEMORY_MB:
        t.problem("memory_mb", "expected one of "
                  f"{', '.join(map(str, SERVERLESS_MEMORY_MB))}, got {memory}")
        memory = 2048
    concurrency = _bounded(t, "max_concurrency", 5, 1, 200) or 5
    provisioned = _bounded(t, "provisioned_concurrency", None, 1, 200)
    if provisioned is not None and provisioned > concurrency:
        t.problem("provisioned_concurrency", f"expected at most max_concurrency "
                  f"({concurrency}), got {provisioned}")
        provisioned = None
    t.finish()
    return ServerlessSettings(memory_mb=memory, max_concurrency=concurrency,
                              provisioned_concurrency=provisioned)


def _data_capture(t: Reader) -> DataCaptureSettings | None:
    destination = t.get("destination", str, None, required=True)
    if destination is not None and not destination.startswith("s3://"):
        t.problem("destination", f"expected an s3:// prefix, got {destination!r}")
        destination = None
    percent = _bounded(t, "sampling_percent", 100, 0, 100)
    modes = t.strings("modes", CAPTURE_MODES)
    bad = [m for m in modes if m not in CAPTURE_MODES]
    if bad or not modes:
        t.problem("modes", f"expected a non-empty list of {', '.join(CAPTURE_MODES)}, "
                  f"got {list(modes)!r}")
        modes = CAPTURE_MODES
    kms = t.get("kms_key_id", str, None)
    t.finish()
    if destination is None:
        return None
    return DataCaptureSettings(destination=destination.rstrip("/"),
                               sampling_percent=100 if percent is None else percent,
                               modes=tuple(dict.fromkeys(modes)), kms_key_id=kms)


def load_deploy(t: Reader | None) -> DeploySettings:
    """``[deploy]`` (defaults when the table is absent); problems go to ``t``'s list."""
    if t is None:
        return DeploySettings()
    low, high = TIMEOUT_RANGE
    endpoint = t.get("endpoint_name", str, None)
    instance_type = t.get("instance_type", str, None)
    count = _bounded(t, "instance_count", 1, 1, 1000) or 1
    startup = _bounded(t, "startup_health_check_timeout_s", None, low, high)
    download = _bounded(t, "model_data_download_timeout_s", None, low, high)
    isolation = t.get("network_isolation", bool, True)
    wait = _bounded(t, "wait_timeout_s", 3600, 60, 6 * 3600) or 3600
    interval = float(_bounded(t, "poll_interval_s", 15, 1, 600) or 15)
    alarms = t.strings("rollback_alarms", ())
    if len(alarms) > 10:
        t.problem("rollback_alarms", f"expected at most 10 alarms, got {len(alarms)}")
        alarms = alarms[:10]
    traffic_wait = _bounded(t, "traffic_wait_s", 300, 0, 3600)
    transform_type = t.get("transform_instance_type", str, None)
    transform_count = _bounded(t, "transform_instance_count", 1, 1, 100) or 1
    sub = t.table("serverless")
    serverless = _serverless(sub) if sub is not None else None
    sub = t.table("data_capture")
    capture = _data_capture(sub) if sub is not None else None
    if serverless is not None and (instance_type or count != 1):
        t.problem("serverless", "a serverless endpoint has no instance_type or "
                  "instance_count: remove them or the [deploy.serverless] table")
    t.finish()
    return DeploySettings(
        endpoint_name=endpoint, instance_type=instance_type, instance_count=count,
        startup_health_check_timeout_s=startup, model_data_download_timeout_s=download,
        network_isolation=bool(isolation), wait_timeout_s=wait, poll_interval_s=interval,
        rollback_alarms=alarms, traffic_wait_s=300 if traffic_wait is None else traffic_wait,
        transform_instance_type=transform_type, transform_instance_count=transform_count,
        serverless=serverless, data_capture=capture)
