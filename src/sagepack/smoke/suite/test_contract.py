"""The HTTP contract SageMaker relies on, probed on a running container."""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests

from sagepack.compare import response_diffs
from sagepack.config import ModelConfig
from sagepack.containers.contract import PING_TIMEOUT_S
from sagepack.containers.readiness import ping
from sagepack.serving import parameters as p
from sagepack.smoke.plugin import Record, Services
from sagepack.smoke.probes import grown_body, invoke_sample, line_sample, post_raw
from sagepack.smoke.spec import MOVED_PORT, SERVICE_MAIN, SERVICE_PORT


def test_ping_during_invocations(services: Services, model: ModelConfig,
                                 record_property: Record) -> None:
    """/ping answers within 2 s while /invocations are in flight"""
    running = services.get(SERVICE_MAIN)
    grown = line_sample(model.samples)
    sample = grown or model.samples[0]
    # Enough rows to keep every invocation busy. A streamed answer comes back one chunk per
    # row, and without a network each chunk crosses the exec relay, which costs far more
    # than the server does: a smaller body keeps the load on the server, not the relay.
    size = (256 if grown and grown.stream else 2048) * 1024
    body = grown_body(grown, size) if grown else sample.body.read_bytes()
    headers = {"Content-Type": sample.content_type, "Accept": sample.accept}
    stop = threading.Event()
    done: list[int] = []

    def load() -> None:
        with requests.Session() as session:
            while not stop.is_set():
                r = session.post(f"{running.url}{p.INVOCATIONS}", data=body, headers=headers,
                                 timeout=60)
                done.append(r.status_code)

    workers = [threading.Thread(target=load, daemon=True) for _ in range(4)]
    for w in workers:
        w.start()
    try:
        time.sleep(0.5)
        results = []
        with requests.Session() as session:
            for _ in range(10):
                results.append(ping(session, running.url, PING_TIMEOUT_S))
                time.sleep(0.2)
    finally:
        stop.set()
        for w in workers:
            w.join(timeout=120)
    slowest = max(r.seconds for r in results)
    record_property("detail", f"slowest /ping {slowest * 1000:.0f} ms, "
                              f"{len(done)} invocations of {len(body)} bytes meanwhile")
    failed = [r.detail for r in results if not r.ok]
    assert not failed, f"/ping failed under load: {failed}"
    assert slowest < PING_TIMEOUT_S
    assert done and all(code == 200 for code in done), f"invocations under load: {set(done)}"


def test_payload_limit_accepted(services: Services, model: ModelConfig,
                                record_property: Record) -> None:
    """A 6 MB body is accepted (2xx)"""
    running = services.get(SERVICE_MAIN)
    sample = line_sample(model.samples) or model.samples[0]
    body = grown_body(sample, p.REALTIME_MAX_BODY_BYTES, exact=True)
    result = post_raw(running.url, body, {"Content-Type": sample.content_type,
                                          "Accept": sample.accept})
    record_property("detail", f"{len(body)} bytes: HTTP {result.status} in "
                              f"{result.seconds:.1f} s")
    assert result.status is not None, f"no answer to a {len(body)}-byte body: {result.error}"
    assert result.status != 413, (
        f"a {len(body)}-byte body (SageMaker's 6 MB limit) was refused with 413: the server "
        "limit is below the platform's")
    assert 200 <= result.status < 300, (
        f"a {len(body)}-byte body (SageMaker's 6 MB limit) got HTTP {result.status}, not a "
        f"2xx: {result.body[:300]!r}")


def test_payload_over_limit(services: Services, model: ModelConfig,
                            record_property: Record) -> None:
    """A body over 6 MB gets 413"""
    running = services.get(SERVICE_MAIN)
    sample = line_sample(model.samples) or model.samples[0]
    body = grown_body(sample, p.REALTIME_MAX_BODY_BYTES + 1, exact=True)
    result = post_raw(running.url, body, {"Content-Type": sample.content_type,
                                          "Accept": sample.accept})
    record_property("detail", f"{len(body)} bytes: HTTP {result.status}")
    assert result.status == 413, (f"a {len(body)}-byte body got HTTP {result.status} "
                                  f"({result.error or result.body[:200]!r}), expected 413")


def test_unsupported_content_type(services: Services, model: ModelConfig) -> None:
    """An unsupported Content-Type gets 415"""
    running = services.get(SERVICE_MAIN)
    sample = model.samples[0]
    response = running.session.post(
        f"{running.url}{p.INVOCATIONS}", data=sample.body.read_bytes(), timeout=60,
        headers={"Content-Type": "application/x-sagepack-unsupported",
                 "Accept": sample.accept})
    assert response.status_code == 415, f"HTTP {response.status_code}: {response.text[:300]}"


def test_garbage_body(services: Services, content_type: str, record_property: Record) -> None:
    """A garbage body gets 400"""
    running = services.get(SERVICE_MAIN)
    garbage = b"\x00\xff\xfe not a valid request {{{ ,,, \x01\n\"unterminated"
    response = running.session.post(f"{running.url}{p.INVOCATIONS}", data=garbage, timeout=60,
                                    headers={"Content-Type": content_type})
    record_property("detail", f"HTTP {response.status_code}: {response.text[:80]}")
    assert response.status_code == 400, f"HTTP {response.status_code}: {response.text[:300]}"


def test_extra_headers_tolerated(services: Services, model: ModelConfig,
                                 record_property: Record) -> None:
    """Unknown headers and X-Amzn-SageMaker-Custom-Attributes are tolerated"""
    running = services.get(SERVICE_MAIN)
    sample = model.samples[0]
    extra = {
        p.CUSTOM_ATTRIBUTES_HEADER: ("trace=1;" * 128)[:1024],
        p.TARGET_MODEL_HEADER: "model.tar.gz",
        p.TARGET_VARIANT_HEADER: "AllTraffic",
        p.INFERENCE_ID_HEADER: "sagepack-check-0001",
        p.ENABLE_EXPLANATIONS_HEADER: "`false`",
        "X-Sagepack-Unknown-Header": "ignored",
    }
    response = invoke_sample(running.session, running.url, sample, extra)
    assert response.status_code == 200, f"HTTP {response.status_code}: {response.text[:300]}"
    if sample.expected is not None:
        reference, against = sample.expected.read_bytes(), str(sample.expected)
    else:  # no expected response yet: the same request without the extra headers
        plain = invoke_sample(running.session, running.url, sample)
        reference, against = plain.content, "the answer without them"
    diffs = response_diffs(response.content, reference, sample.accept)
    assert not diffs, (f"the response changed with extra headers (compared with {against}):"
                       "\n  " + "\n  ".join(diffs))


def test_bind_to_port(services: Services, model: ModelConfig, record_property: Record) -> None:
    """SAGEMAKER_BIND_TO_PORT moves the port"""
    running = services.get(SERVICE_PORT)
    listening = running.listening_ports()
    shown = sorted(listening) if listening is not None else "unreadable"
    record_property("detail", f"ready on {MOVED_PORT} in {running.time_to_ready or 0:.1f} s; "
                              f"listening: {shown}")
    assert listening is not None, (
        "the ports listening in the container could not be read (/proc/net/tcp), so "
        f"whether anything still listens on {p.DEFAULT_PORT} is unknown")
    assert MOVED_PORT in listening, (
        f"with SAGEMAKER_BIND_TO_PORT={MOVED_PORT} nothing listens on {MOVED_PORT}: "
        f"{sorted(listening)}")
    assert p.DEFAULT_PORT not in listening, (
        f"with SAGEMAKER_BIND_TO_PORT={MOVED_PORT} something still listens on {p.DEFAULT_PORT}")
    if model.samples:
        response = invoke_sample(running.session, running.url, model.samples[0])
        assert response.status_code == 200, f"HTTP {response.status_code} on {MOVED_PORT}"


def test_execution_parameters(services: Services, record_property: Record) -> None:
    """GET /execution-parameters answers valid JSON"""
    running = services.get(SERVICE_MAIN)
    response = running.session.get(f"{running.url}{p.EXECUTION_PARAMETERS}", timeout=10)
    assert response.status_code == 200, f"HTTP {response.status_code}: {response.text[:300]}"
    try:
        body = json.loads(response.content)
    except ValueError as exc:
        pytest.fail(f"not JSON: {exc}: {response.text[:300]!r}")
    record_property("detail", json.dumps(body, sort_keys=True)[:120])
    assert isinstance(body, dict), f"expected a JSON object, got {body!r}"
    concurrent = body.get("MaxConcurrentTransforms")
    payload = body.get("MaxPayloadInMB")
    strategy = body.get("BatchStrategy")
    assert concurrent is None or (isinstance(concurrent, int) and concurrent >= 1), body
    assert payload is None or (isinstance(payload, int) and 0 <= payload <= 100), body
    assert strategy is None or strategy in ("MULTI_RECORD", "SINGLE_RECORD"), body
    if isinstance(concurrent, int) and isinstance(payload, int):
        assert concurrent * payload <= 100, f"MaxConcurrentTransforms x MaxPayloadInMB > 100: {body}"
