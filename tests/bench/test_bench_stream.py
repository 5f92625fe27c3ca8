"""The streaming benchmark: both real servers timed on a small plan, and a server that does
not really stream never gives a figure."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from sagepack.bench.baselines import SAGEPACK, UVICORN_STARLETTE, ServerSpec
from sagepack.bench.stream import Plan, bench_stream, measure
from sagepack.bench.stream_report import GOALS, evaluate
from sagepack.ports import free_port

BROKEN = Path(__file__).with_name("broken_stream_server.py")
SMALL = Plan(latency_requests=30, latency_chunks=4, interval_us=500, rate_requests=2,
             rate_chunks=200, warmup=3, busy_sample_s=0.1, timeout_s=5.0)


def test_both_servers_are_timed_chunk_by_chunk_and_the_report_is_written(
        tmp_path: Path) -> None:
    out = tmp_path / "stream.json"
    result = bench_stream(out, plan=SMALL, rounds=1)
    written = json.loads(out.read_text())
    assert written == json.loads(json.dumps(result))
    assert written["benchmark"] == "stream"
    assert written["generator_alone_chunks_per_s"] > 0
    for name in (SAGEPACK, UVICORN_STARLETTE):
        figures = written["servers"][name]
        assert figures["valid"] is True, figures["problems"]
        assert figures["problems"] == []
        assert figures["http_chunks_per_answer"] == SMALL.latency_chunks
        assert 0 <= figures["ttfb_overhead_p50_ms"] <= figures["ttfb_overhead_p99_ms"] \
            <= figures["ttfb_overhead_max_ms"]
        assert figures["ttfb_p99_ms"] > 0 and figures["first_yield_p50_ms"] > 0
        assert 0 <= figures["chunk_overhead_p50_ms"] <= figures["chunk_overhead_p99_ms"]
        assert 0 < figures["chunks_per_s_min"] <= figures["chunks_per_s"]
        assert figures["cpu_us_per_chunk"] > 0
        assert len(figures["rounds"]) == 1
        assert figures["cpu_busy_before_pct"] >= 0 and figures["others_cpu_during_pct"] >= 0
    ratios = written["ratios"][UVICORN_STARLETTE]
    assert set(ratios) == {"ttfb_p50", "ttfb_p99", "ttfb_overhead_p50", "ttfb_overhead_p99", "chunk_overhead_p99",
                           "chunks_per_s", "cpu_per_chunk"}
    assert all(value > 0 for value in ratios.values()), (ratios, written["servers"])
    ours = written["servers"][SAGEPACK]
    p50, p99 = written["goals"]["ttfb_overhead_p50_ms"], written["goals"]["ttfb_overhead_p99_ms"]
    assert p50["sagepack"] == ours["ttfb_overhead_p50_ms"]
    assert p50["status"] == ("met" if ours["ttfb_overhead_p50_ms"]
                             <= GOALS["ttfb_overhead_p50_ms_max"] else "missed")
    assert p99["status"] == ("met" if ours["ttfb_overhead_p99_ms"]
                             < GOALS["ttfb_overhead_p99_ms_max"] else "missed")
    assert p99["baseline"] == written["servers"][UVICORN_STARLETTE]["ttfb_overhead_p99_ms"]


@pytest.mark.parametrize(("mode", "problem"), [
    ("sized", "not chunked"),
    ("one", "1 chunk, not a stream"),
    ("cut", "closed the connection after"),
    ("error", "status 500"),
])
def test_a_server_that_does_not_stream_makes_the_run_invalid(
        tmp_path: Path, mode: str, problem: str) -> None:
    port = free_port()
    spec = ServerSpec(f"broken-{mode}", (sys.executable, str(BROKEN), str(port), mode),
                      dict(os.environ), port, 1)
    figures = measure(spec, SMALL, tmp_path / "broken.log")
    assert figures["valid"] is False
    assert len(figures["problems"]) == 1 and problem in figures["problems"][0], figures
    assert "ttfb_overhead_p50_ms" not in figures and "chunks_per_s" not in figures
    verdict = evaluate({SAGEPACK: figures, UVICORN_STARLETTE: figures},
                       goal_baseline=UVICORN_STARLETTE)
    assert verdict["ratios"] == {UVICORN_STARLETTE: None}
    assert {g["status"] for g in verdict["goals"].values()} == {"invalid"}
    assert not any(g["met"] for g in verdict["goals"].values())
