"""Transform job parameters: what the user asked for, and what the job runs with.

Precedence follows SageMaker: a value given for the job (the command line here) wins over
the container's ``GET /execution-parameters``, which wins over the defaults
(``MaxConcurrentTransforms`` 1, ``MaxPayloadInMB`` 6, ``BatchStrategy`` MultiRecord).
``MaxConcurrentTransforms`` 0 means "not given", as in ``CreateTransformJob``.
The container speaks ``MULTI_RECORD`` / ``SINGLE_RECORD``; both spellings are accepted
everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sagepack.errors import TransformError
from sagepack.transform.jsonpath import JsonPath, JsonPathError, compile_path

__all__ = [
    "DEFAULT_MAX_CONCURRENT",
    "DEFAULT_MAX_PAYLOAD_MB",
    "DEFAULT_STRATEGY",
    "ExecutionParameters",
    "JobParameters",
    "TransformJob",
    "normalize_strategy",
    "resolve",
]

DEFAULT_MAX_CONCURRENT = 1
DEFAULT_MAX_PAYLOAD_MB = 6
DEFAULT_STRATEGY = "MultiRecord"
MB = 1024 * 1024

SPLIT_TYPES = ("None", "Line", "RecordIO", "TFRecord")
ASSEMBLE_WITH = ("None", "Line")
COMPRESSIONS = ("None", "Gzip")
JOIN_SOURCES = ("None", "Input")
CSV_TYPES = ("text/csv",)
JSON_TYPES = ("application/json", "application/jsonlines", "application/x-jsonlines",
              "application/json-lines")


@dataclass(frozen=True)
class TransformJob:
    """What the user asked for; ``None`` means "not given"."""

    input: Path
    output: Path
    content_type: str | None = None
    accept: str | None = None
    split_type: str = "None"
    strategy: str | None = None
    max_payload_mb: int | None = None
    max_concurrent: int | None = None
    assemble_with: str = "None"
    compression: str = "None"
    input_filter: str = "$"
    output_filter: str = "$"
    join_source: str = "None"
    timeout_s: int = 600
    retries: int = 3


@dataclass(frozen=True)
class ExecutionParameters:
    """What the container's ``/execution-parameters`` answered (``None``: not said)."""

    max_concurrent: int | None = None
    strategy: str | None = None
    max_payload_mb: int | None = None

    @classmethod
    def from_json(cls, body: Mapping[str, Any], endpoint: str) -> ExecutionParameters:
        def integer(key: str) -> int | None:
            value = body.get(key)
            if value is None:
                return None
            if isinstance(value, bool) or not isinstance(value, int):
                raise TransformError(
                    f"{endpoint}/execution-parameters: {key} must be an integer, got {value!r}"
                )
            return value

        strategy = body.get("BatchStrategy")
        if strategy is not None and not isinstance(strategy, str):
            raise TransformError(
                f"{endpoint}/execution-parameters: BatchStrategy must be a string, "
                f"got {strategy!r}"
            )
        return cls(
            max_concurrent=integer("MaxConcurrentTransforms"),
            strategy=normalize_strategy(strategy, f"{endpoint}/execution-parameters")
            if strategy
            else None,
            max_payload_mb=integer("MaxPayloadInMB"),
        )


@dataclass(frozen=True)
class JobParameters:
    """The validated parameters a job runs with; ``sources`` says where each came from."""

    input: Path
    output: Path
    content_type: str | None
    accept: str | None
    split_type: str
    strategy: str
    max_payload_mb: int
    max_concurrent: int
    assemble_with: str
    compression: str
    input_filter: JsonPath
    output_filter: JsonPath
    join_source: str
    timeout_s: int
    retries: int
    sources: Mapping[str, str] = field(default_factory=dict)

    @property
    def max_payload_bytes(self) -> int | None:
        """The payload limit in bytes; ``None`` for MaxPayloadInMB 0 (no limit, chunked)."""
        return self.max_payload_mb * MB if self.max_payload_mb else None

    @property
    def processing(self) -> bool:
        """Whether any data processing (filters, join) is asked for."""
        return (
            not self.input_filter.is_identity
            or not self.output_filter.is_identity
            or self.join_source == "Input"
        )

    @property
    def data_format(self) -> str | None:
        """``"csv"`` or ``"json"`` from the content type; ``None`` for anything else."""
        return media_format(self.content_type)


def media_format(content_type: str | None) -> str | None:
    if content_type is None:
        return None
    media = content_type.split(";")[0].strip().lower()
    if media in CSV_TYPES:
        return "csv"
    if media in JSON_TYPES:
        return "json"
    return None


def normalize_strategy(value: str, where: str) -> str:
    """``MultiRecord``/``MULTI_RECORD`` -> ``MultiRecord``; likewise SingleRecord."""
    key = value.replace("_", "").replace("-", "").lower()
    if key == "multirecord":
        return "MultiRecord"
    if key == "singlerecord":
        return "SingleRecord"
    raise TransformError(
        f"{where}: BatchStrategy {value!r} is not one of MultiRecord, SingleRecord "
        "(MULTI_RECORD, SINGLE_RECORD)"
    )


def _choice(value: str, allowed: tuple[str, ...], name: str) -> str:
    for option in allowed:
        if value.lower() == option.lower():
            return option
    raise TransformError(f"{name} {value!r} is not one of {', '.join(allowed)}")


def resolve(job: TransformJob, container: ExecutionParameters | None, *,
            local: bool = True) -> JobParameters:
    """Apply precedence and validate; raises :class:`TransformError` listing every problem.

    The same checks serve the local emulator and a remote job (``local=False``), so that a
    parameter SageMaker would refuse is the same error in both; only the checks of local
    input and output folders are skipped for a remote job."""
    container = container or ExecutionParameters()
    problems: list[str] = []
    sources: dict[str, str] = {}

    def pick(name: str, given: Any, from_container: Any, default: Any) -> Any:
        if given is not None:
            sources[name] = "job"
            return given
        if from_container is not None:
            sources[name] = "container"
            return from_container
        sources[name] = "default"
        return default

    strategy_given = None
    if job.strategy is not None:
        try:
            strategy_given = normalize_strategy(job.strategy, "--strategy")
        except TransformError as exc:
            problems.append(str(exc))
    given_concurrent = job.max_concurrent if job.max_concurrent else None  # 0 = not given
    container_concurrent = container.max_concurrent if container.max_concurrent else None
    strategy = pick("BatchStrategy", strategy_given, container.strategy, DEFAULT_STRATEGY)
    payload = pick("MaxPayloadInMB", job.max_payload_mb, container.max_payload_mb,
                   DEFAULT_MAX_PAYLOAD_MB)
    concurrent = pick("MaxConcurrentTransforms", given_concurrent, container_concurrent,
                      DEFAULT_MAX_CONCURRENT)

    choices: dict[str, str] = {}
    for name, value, allowed in (
        ("SplitType", job.split_type, SPLIT_TYPES),
        ("AssembleWith", job.assemble_with, ASSEMBLE_WITH),
        ("CompressionType", job.compression, COMPRESSIONS),
        ("JoinSource", job.join_source, JOIN_SOURCES),
    ):
        try:
            choices[name] = _choice(value, allowed, name)
        except TransformError as exc:
            problems.append(str(exc))
            choices[name] = allowed[0]

    if not 0 <= payload <= 100:
        problems.append(
            f"MaxPayloadInMB {payload} ({sources['MaxPayloadInMB']}) must be between 0 and 100"
        )
    if concurrent < 1:
        problems.append(
            f"MaxConcurrentTransforms {concurrent} ({sources['MaxConcurrentTransforms']}) "
            "must be at least 1"
        )
    if concurrent * payload > 100:
        problems.append(
            f"MaxConcurrentTransforms x MaxPayloadInMB = {concurrent} x {payload} = "
            f"{concurrent * payload} exceeds 100 (MaxConcurrentTransforms from "
            f"{sources['MaxConcurrentTransforms']}, MaxPayloadInMB from "
            f"{sources['MaxPayloadInMB']})"
        )
    if not 0 <= job.retries <= 3:
        problems.append(f"retries {job.retries} must be between 0 and 3")
    if not 1 <= job.timeout_s <= 3600:
        problems.append(f"invocation timeout {job.timeout_s} s must be between 1 and 3600")

    filters: dict[str, JsonPath] = {}
    for name, expr in (("InputFilter", job.input_filter), ("OutputFilter", job.output_filter)):
        try:
            filters[name] = compile_path(expr)
        except JsonPathError as exc:
            problems.append(f"{name}: {exc}")
            filters[name] = compile_path("$")
    processing = (
        not filters["InputFilter"].is_identity
        or not filters["OutputFilter"].is_identity
        or choices["JoinSource"] == "Input"
    )
    if processing:
        fmt = media_format(job.content_type)
        if fmt is None:
            problems.append(
                "InputFilter, OutputFilter and JoinSource need a CSV or JSON content type "
                f"(text/csv, application/json, application/jsonlines); got "
                f"{job.content_type!r}"
            )
        elif job.accept is not None and media_format(job.accept) != fmt:
            problems.append(
                f"data processing needs Accept of the same format as the input "
                f"({fmt}); got {job.accept!r}"
            )
        if fmt == "csv" and (choices["SplitType"], choices["AssembleWith"]) != ("Line", "Line"):
            problems.append(
                "data processing on text/csv needs SplitType Line and AssembleWith Line "
                f"(got {choices['SplitType']} and {choices['AssembleWith']})"
            )
        if choices["SplitType"] in ("RecordIO", "TFRecord"):
            problems.append(
                f"data processing applies to JSON and CSV records only, not SplitType "
                f"{choices['SplitType']}"
            )

    if not local:
        pass
    elif not job.input.exists():
        problems.append(f"input {job.input} does not exist")
    elif job.input.is_dir() and job.output.resolve().is_relative_to(job.input.resolve()):
        problems.append(
            f"output folder {job.output} is inside the input folder {job.input}: "
            "its .out files would be read as input"
        )
    if local and job.output.exists() and not job.output.is_dir():
        problems.append(f"output {job.output} exists and is not a folder")

    if problems:
        head = "invalid transform parameters" if len(problems) == 1 else (
            f"{len(problems)} problems with the transform parameters")
        raise TransformError(head + ":\n  " + "\n  ".join(problems))

    return JobParameters(
        input=job.input,
        output=job.output,
        content_type=job.content_type,
        accept=job.accept,
        split_type=choices["SplitType"],
        strategy=strategy,
        max_payload_mb=payload,
        max_concurrent=concurrent,
        assemble_with=choices["AssembleWith"],
        compression=choices["CompressionType"],
        input_filter=filters["InputFilter"],
        output_filter=filters["OutputFilter"],
        join_source=choices["JoinSource"],
        timeout_s=job.timeout_s,
        retries=job.retries,
        sources=sources,
    )


def optional_int(value: str | int | None, flag: str) -> int | None:
    """A whole number given on the command line, or ``None`` when the flag was not given."""
    if value is None or isinstance(value, int):
        return value
    try:
        return int(value)
    except ValueError:
        raise TransformError(f"{flag} expects a whole number, got {value!r}") from None
