"""Samples with ``stream = true`` come back as a stream: chunked, in more than one chunk,
and joined they are the expected response."""

from __future__ import annotations

from pathlib import Path

import pytest

from sagepack.compare import expected_diffs
from sagepack.config import ModelConfig, Sample
from sagepack.smoke.chunks import post_streamed
from sagepack.smoke.plugin import Record, Services, model_under_test, skip_check
from sagepack.smoke.spec import SERVICE_MAIN, RunSpec


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "stream_sample" not in metafunc.fixturenames:
        return
    spec = RunSpec.read(Path(str(metafunc.config.getoption("--sagepack-run"))))
    model = model_under_test(spec)
    streamed = [s for s in model.samples if s.stream]
    if streamed:
        metafunc.parametrize("stream_sample", streamed, ids=[s.name for s in streamed])
    else:
        metafunc.parametrize("stream_sample", [None], ids=["none"])


def test_stream(services: Services, stream_sample: Sample | None, record_property: Record,
                model: ModelConfig) -> None:
    """Streamed sample arrives in chunks"""
    if stream_sample is None:
        skip_check(record_property, "streaming (no sample has stream = true)",
                   "no sample of this model has stream = true")
    if model.multi_model:
        skip_check(record_property, "streaming via /invocations (multi-model image)",
                   "a multi-model image streams through /models/<name>/invoke: checked "
                   "with the test models' samples")
    sample = stream_sample
    running = services.get(SERVICE_MAIN)
    response = post_streamed(running.url, "/invocations", sample.body.read_bytes(),
                             {"Content-Type": sample.content_type, "Accept": sample.accept})
    first = response.first_chunk_s
    record_property("detail", f"{len(response.chunks)} chunks, first after "
                              f"{first * 1000:.1f} ms, all in "
                              f"{response.seconds * 1000:.1f} ms" if first is not None else
                              f"HTTP {response.status}, no chunks")
    assert response.status == 200, (
        f"{sample.name}: HTTP {response.status}: {response.body[:500]!r}")
    assert response.chunked, (
        f"{sample.name}: not streamed: no Transfer-Encoding: chunked (headers: "
        f"{response.headers})")
    assert "content-length" not in response.headers, (
        f"{sample.name}: a chunked answer also has Content-Length "
        f"{response.headers['content-length']}")
    assert response.complete, (
        f"{sample.name}: the stream was cut after {len(response.chunks)} chunks "
        f"({len(response.body)} bytes): no terminating chunk")
    assert len(response.chunks) > 1, (
        f"{sample.name}: the stream came in {len(response.chunks)} chunk; a streamed answer "
        "comes in more than one")
    diffs = expected_diffs(response.body, sample.expected, sample.accept)
    assert not diffs, (f"{sample.name} (joined chunks) differs from {sample.expected}:\n  "
                       + "\n  ".join(diffs))
