"""The server's settings: the environment, read once at start-up into one frozen object.

Names, defaults and meanings are in :mod:`sagepack.serving.parameters`. Every problem in
the environment is reported at once, as a :class:`~sagepack.errors.ConfigError` whose file
is ``environment``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sagepack.problems import Reader
from sagepack.serving import devices
from sagepack.serving import parameters as p

_ENVIRONMENT = Path("environment")
_SECONDS = "a number of seconds"
_STRATEGY_ALIASES = {"MULTIRECORD": "MULTI_RECORD", "SINGLERECORD": "SINGLE_RECORD"}


def _strategy(raw: str) -> str:
    """``MultiRecord``, ``multi-record`` ... -> ``MULTI_RECORD`` (SageMaker's spellings)."""
    value = raw.strip().upper().replace("-", "_")
    return _STRATEGY_ALIASES.get(value, value)


def cpu_count() -> int:
    """CPUs this process may run on (at least 1)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Settings:
    """Everything the server needs to know about its image and job."""

    host: str = "0.0.0.0"
    port: int = p.DEFAULT_PORT
    workers: int = 1
    timeout_s: float = p.DEFAULT_TIMEOUT_S
    model_dir: Path = Path(p.DEFAULT_MODEL_DIR)
    handler_dir: Path = Path(p.DEFAULT_MODEL_DIR) / "code"
    program: str = p.DEFAULT_PROGRAM
    batch: bool = False
    max_payload_mb: int = p.DEFAULT_PAYLOAD_MB
    batch_strategy: str = "MULTI_RECORD"
    max_concurrent_transforms: int = 1
    default_accept: str = p.JSON
    default_content_type: str = p.JSON
    debug: bool = False
    threads: int = 1
    max_hung_threads: int = 2
    graceful_timeout_s: float = 20.0
    heartbeat_timeout_s: float = 30.0
    access_log: bool = True
    log_level: str = "INFO"
    text_bodies: bool = True
    #: ``SAGEPACK_MAX_REQUEST_MB``: the raised real-time body limit (asynchronous endpoints).
    max_request_mb: int | None = None
    #: One worker per GPU, each given its ``gpu_id`` (see :mod:`.devices`).
    gpu: bool = False
    #: GPUs visible to the container (counted only when ``gpu``).
    gpus: int = 0
    #: How ``gpus`` was found, for the start-up log.
    gpu_source: str = ""
    #: A multi-model endpoint: no model at start, ``/models`` manages them.
    multi_model: bool = False
    #: Where a load's ``url`` must lie (None: anywhere).
    models_dir: Path | None = Path(p.DEFAULT_MODELS_DIR)
    #: ``SAGEPACK_MEMORY_BUDGET_MB`` in bytes, None for a fraction of the container's limit.
    memory_budget_bytes: int | None = None
    memory_fraction: float = p.DEFAULT_MEMORY_FRACTION

    @property
    def max_body_bytes(self) -> int | None:
        """Largest request body accepted: 6 MiB in real time (``SAGEPACK_MAX_REQUEST_MB``
        when set), ``MaxPayloadInMB`` in batch.

        None (no fixed limit) in batch with ``MaxPayloadInMB`` 0: SageMaker then streams the
        data, with chunked bodies of any size.
        """
        if self.batch:
            return self.max_payload_mb * 1024 * 1024 if self.max_payload_mb else None
        if self.max_request_mb is not None:
            return self.max_request_mb * 1024 * 1024
        return p.REALTIME_MAX_BODY_BYTES

    def gpu_id(self, slot: int) -> int | None:
        """The GPU of worker ``slot`` (round-robin), or None on CPU."""
        return devices.gpu_for(slot, self.gpus) if self.gpu else None

    @property
    def handler_path(self) -> Path:
        """The handler module's file."""
        name = self.program if self.program.endswith(".py") else self.program + ".py"
        return self.handler_dir / name

    @property
    def shutdown_grace_s(self) -> float:
        """Seconds in-flight requests get after SIGTERM."""
        return min(self.graceful_timeout_s, self.timeout_s)

    def execution_parameters(self) -> dict[str, object]:
        """The body of ``GET /execution-parameters``."""
        return {
            "MaxConcurrentTransforms": self.max_concurrent_transforms,
            "BatchStrategy": self.batch_strategy,
            "MaxPayloadInMB": self.max_payload_mb,
        }

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from ``environ`` (default: the process environment)."""
        env = dict(os.environ if environ is None else environ)
        reader = Reader(env, _ENVIRONMENT)
        gpu = reader.boolean(p.GPU, devices.gpu_placement(env))
        found = devices.GpuCount(0, "")
        if gpu:
            proc_dir = Path(env.get(p.NVIDIA_PROC_DIR) or p.DEFAULT_NVIDIA_PROC_DIR)
            found = devices.visible_gpus(env, proc_dir)
        default_workers = found.count if found.count else cpu_count()
        workers = reader.integer(p.MODEL_SERVER_WORKERS, default_workers, low=1, high=256)
        model_dir = Path(env.get(p.MODEL_DIR) or p.DEFAULT_MODEL_DIR)
        handler_dir_raw = env.get(p.HANDLER_DIR)
        handler_dir = Path(handler_dir_raw) if handler_dir_raw else model_dir / "code"
        program = (env.get(p.PROGRAM) or p.DEFAULT_PROGRAM).strip()
        if "/" in program or program in {"", ".py"}:
            reader.problem(p.PROGRAM, f"must be a module file name such as inference.py, got {program!r}")
        payload_default = reader.integer(p.CONFIG_MAX_PAYLOAD_IN_MB, p.DEFAULT_PAYLOAD_MB,
                                         low=0, high=p.MAX_PAYLOAD_MB)
        strategy_default = reader.text_choice(p.CONFIG_BATCH_STRATEGY, p.BATCH_STRATEGIES,
                                              "MULTI_RECORD", canonical=_strategy)
        concurrency_default = reader.integer(p.CONFIG_MAX_CONCURRENT_TRANSFORMS, workers,
                                             low=1, high=1024)
        batch = reader.boolean(p.BATCH, False)
        timeout_default = reader.number(p.CONFIG_TIMEOUT_S,
                                        p.BATCH_TIMEOUT_S if batch else p.DEFAULT_TIMEOUT_S,
                                        low=0.001, kind=_SECONDS)
        max_request_mb: int | None = None
        if reader.text(p.MAX_REQUEST_MB) is not None:
            max_request_mb = reader.integer(p.MAX_REQUEST_MB, 0, low=1,
                                            high=p.MAX_REQUEST_MB_LIMIT) or None
        budget_mb = reader.integer(p.MEMORY_BUDGET_MB, 0, low=1, high=1 << 30) \
            if reader.text(p.MEMORY_BUDGET_MB) is not None else 0
        fraction = reader.number(p.MEMORY_FRACTION, p.DEFAULT_MEMORY_FRACTION, low=0.01,
                                 kind="a fraction such as 0.8")
        if fraction > 1:
            reader.problem(p.MEMORY_FRACTION, f"must be at most 1, got {fraction:g}")
        models_dir = env.get(p.MODELS_DIR, p.DEFAULT_MODELS_DIR).strip()
        default_accept = (env.get(p.DEFAULT_ACCEPT) or env.get(p.DEFAULT_INVOCATIONS_ACCEPT)
                          or p.JSON).strip().lower()
        settings = cls(
            host=env.get(p.HOST) or "0.0.0.0",
            port=reader.integer(p.BIND_TO_PORT, p.DEFAULT_PORT, low=1, high=65535),
            workers=workers,
            timeout_s=reader.number(p.MODEL_SERVER_TIMEOUT, timeout_default, low=0.001,
                                    kind=_SECONDS),
            model_dir=model_dir,
            handler_dir=handler_dir,
            program=program,
            batch=batch,
            max_payload_mb=reader.integer(p.MAX_PAYLOAD_IN_MB, payload_default,
                                          low=0, high=p.MAX_PAYLOAD_MB),
            batch_strategy=reader.text_choice(p.BATCH_STRATEGY, p.BATCH_STRATEGIES,
                                              strategy_default, canonical=_strategy),
            max_concurrent_transforms=reader.integer(p.MAX_CONCURRENT_TRANSFORMS,
                                                     concurrency_default, low=1, high=1024),
            default_accept=default_accept,
            default_content_type=(env.get(p.DEFAULT_CONTENT_TYPE) or p.JSON).strip().lower(),
            debug=reader.boolean(p.DEBUG, False),
            threads=reader.integer(p.THREADS, 1, low=1, high=256),
            max_hung_threads=reader.integer(p.MAX_HUNG_THREADS, 2, low=1, high=1024),
            graceful_timeout_s=reader.number(p.GRACEFUL_TIMEOUT, 20.0, low=0.0,
                                             kind=_SECONDS),
            heartbeat_timeout_s=reader.number(p.HEARTBEAT_TIMEOUT, 30.0, low=1.0,
                                              kind=_SECONDS),
            access_log=reader.boolean(p.ACCESS_LOG, True),
            log_level=(env.get(p.LOG_LEVEL) or "INFO").strip().upper(),
            text_bodies=reader.boolean(p.TEXT_BODIES, True),
            max_request_mb=max_request_mb,
            gpu=gpu,
            gpus=found.count,
            gpu_source=found.source,
            multi_model=reader.boolean(p.MULTI_MODEL, False),
            models_dir=Path(models_dir) if models_dir else None,
            memory_budget_bytes=budget_mb * 1048576 or None,
            memory_fraction=min(fraction, 1.0),
        )
        if settings.log_level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            reader.problem(p.LOG_LEVEL, f"must be DEBUG, INFO, WARNING or ERROR, got {settings.log_level!r}")
        reader.raise_if_problems()
        return settings
