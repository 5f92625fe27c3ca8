"""The model's ``[[samples]]`` sent to the deployed endpoint, answers compared.

Each sample goes through ``sagemaker-runtime`` ``InvokeEndpoint`` with its content type and
Accept, or, a sample with ``stream = true``, through ``InvokeEndpointWithResponseStream``,
whose ``PayloadPart`` events are joined into the answer (a ``ModelStreamError`` or
``InternalStreamFailure`` event fails it). The answer is compared with the expected
response by :mod:`sagepack.compare` (the one tolerance comparison), and the latency seen
by the client is reported (for a stream, also the time to its first part).

An answer proves something only when the model gave it. One from an endpoint that is not
SageMaker's (a local stand-in such as moto, which answers canned bodies) is
*inconclusive*, whatever it holds; one from SageMaker that names another production
variant than the one deployed is a failure.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from rich.console import Console

from sagepack.compare import expected_diffs
from sagepack.config import Sample
from sagepack.deploy.plan import DeployPlan

PASSED, FAILED, INCONCLUSIVE = "passed", "failed", "inconclusive"
AWS_HOST_SUFFIXES = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws")


@dataclass(frozen=True)
class SampleResult:
    name: str
    status: str  # passed, failed or inconclusive
    latency_ms: float | None
    detail: str


def stand_in(client: Any) -> str | None:
    """The endpoint URL when ``client`` does not talk to AWS itself, else ``None``."""
    url = str(client.meta.endpoint_url)
    host = urlsplit(url).hostname or ""
    return None if host.endswith(AWS_HOST_SUFFIXES) else url


def _media(value: str | None) -> str:
    return (value or "").split(";")[0].strip().lower()


@dataclass(frozen=True)
class Answer:
    body: bytes
    response: dict[str, Any]
    parts: int | None = None  # a stream's PayloadPart events
    first_part_ms: float | None = None


def _stream(runtime: Any, plan: DeployPlan, sample: Sample, body: bytes,
            start: float) -> Answer:
    response = runtime.invoke_endpoint_with_response_stream(
        EndpointName=plan.endpoint_name, Body=body, ContentType=sample.content_type,
        Accept=sample.accept)
    parts: list[bytes] = []
    first: float | None = None
    for event in response["Body"]:  # an error event raises botocore's EventStreamError
        part = event.get("PayloadPart")
        if part is not None:
            first = first if first is not None else (time.perf_counter() - start) * 1000
            parts.append(bytes(part.get("Bytes", b"")))
    return Answer(b"".join(parts), response, len(parts), first)


def _invoke(runtime: Any, plan: DeployPlan, sample: Sample, body: bytes,
            start: float) -> Answer:
    if sample.stream:
        return _stream(runtime, plan, sample, body, start)
    response = runtime.invoke_endpoint(EndpointName=plan.endpoint_name, Body=body,
                                       ContentType=sample.content_type, Accept=sample.accept)
    return Answer(response["Body"].read(), response)


def check_sample(runtime: Any, plan: DeployPlan, sample: Sample) -> SampleResult:
    from botocore.exceptions import BotoCoreError, ClientError

    body = sample.body.read_bytes()
    call = "InvokeEndpointWithResponseStream" if sample.stream else "InvokeEndpoint"
    start = time.perf_counter()
    try:
        answer = _invoke(runtime, plan, sample, body, start)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        return SampleResult(sample.name, FAILED, None,
                            f"{call} refused: {error.get('Code', '?')}: "
                            f"{error.get('Message', exc)} (the container's log: CloudWatch "
                            f"log group {plan.log_group})")
    except BotoCoreError as exc:
        return SampleResult(sample.name, FAILED, None, f"{call} failed: {exc}")
    latency = (time.perf_counter() - start) * 1000
    response = answer.response
    diffs = expected_diffs(answer.body, sample.expected, sample.accept)
    verdict = ("answered (no expected response to compare)" if sample.expected is None else
               "matches the expected response" if not diffs else
               "differs from the expected response: " + "; ".join(diffs[:3]))
    if answer.parts == 0:
        diffs, verdict = ["no PayloadPart"], "is an empty stream (no PayloadPart event)"
    elif answer.parts is not None:
        verdict += (f" (streamed in {answer.parts} part(s), the first after "
                    f"{answer.first_part_ms or 0:.0f} ms)")
    where = stand_in(runtime)
    if where is not None:
        return SampleResult(sample.name, INCONCLUSIVE, latency,
                            f"answered by {where}, a stand-in that does not run the model "
                            f"(its answer {verdict}); not a check of the model")
    wanted = plan.production_variant["VariantName"]
    invoked = response.get("InvokedProductionVariant")
    if invoked != wanted:
        return SampleResult(sample.name, FAILED, latency,
                            f"answered by production variant {invoked!r}, not {wanted!r}")
    if _media(response.get("ContentType")) != _media(sample.accept):
        return SampleResult(sample.name, FAILED, latency,
                            f"answered {response.get('ContentType')!r}, not the Accept "
                            f"{sample.accept!r}")
    return SampleResult(sample.name, FAILED if diffs else PASSED, latency, verdict)


def check_samples(runtime: Any, plan: DeployPlan, console: Console) -> list[SampleResult]:
    results = []
    for sample in plan.model.samples:
        result = check_sample(runtime, plan, sample)
        latency = f"{result.latency_ms:.0f} ms" if result.latency_ms is not None else "-"
        console.print(f"sample {result.name}: {result.status.upper()} ({latency}): "
                      f"{result.detail}")
        results.append(result)
    if not plan.model.samples:
        console.print(f"no [[samples]] in {plan.model.config_file}: the endpoint's answers "
                      "were not checked")
    return results
