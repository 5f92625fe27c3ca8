"""``invoke bench --what stream``: sagepack's streaming responses against the same generator
behind uvicorn + Starlette's ``StreamingResponse``, same run.

Both servers serve one model folder whose handler (:mod:`sagepack.bench.apps.ticker`) is a
generator stamping each chunk with ``time.monotonic_ns()`` as it yields it, on 127.0.0.1,
with the same workers count and their default logging. One client
(:mod:`sagepack.bench.stream_client`) sends requests one after another over a keep-alive
connection and stamps each chunk as it arrives, on the same clock. Two loads, after a
warm-up:

* latency: many short streams (a few chunks, spaced like generated tokens): time to first
  byte, its overhead (the handler's first yield to the first body byte) and each later
  chunk's (yield to arrival), p50 and p99;
* rate: a few streams of many chunks yielded back to back: chunks per second, and the
  server's CPU time per chunk.

An answer that is not a complete chunked 200 in several chunks with exactly the handler's
lines makes the run INVALID (:mod:`sagepack.bench.stream_samples`): no figure, never a pass.
Each server is measured ``rounds`` times, in turn, the order reversed every other round;
the reported round is the first invalid one, else the one with the lowest p99 overhead,
every round's summary kept. How busy the CPUs were before each run and what other
processes took during it are recorded, as the serving benchmark does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sagepack.bench import baselines
from sagepack.bench.apps import ticker
from sagepack.bench.baselines import SAGEPACK, UVICORN_STARLETTE, ServerSpec
from sagepack.bench.probes import (
    OthersCpu,
    ProcessTree,
    machine_busy_pct,
    machine_facts,
    pick_round,
    wait_ready,
)
from sagepack.bench.stream_client import StreamClient
from sagepack.bench.stream_report import evaluate, print_report
from sagepack.bench.stream_samples import Timed, check, latency_figures, rate_figures
from sagepack.errors import SagepackError
from sagepack.files import write_json
from sagepack.ports import free_port
from sagepack.processes import stop_group
from sagepack.progress import say
from sagepack.serving import parameters as p

__all__ = ["Plan", "bench_stream", "make_model", "measure"]


@dataclass(frozen=True)
class Plan:
    """What each server is asked: ``latency_requests`` streams of ``latency_chunks`` chunks
    ``interval_us`` apart, then ``rate_requests`` streams of ``rate_chunks`` back to back,
    every chunk ``size`` bytes, after ``warmup`` streams of each kind; ``busy_sample_s``
    is how long the CPUs are watched before each server starts, ``timeout_s`` how long
    the client waits for a read."""

    latency_requests: int = 400
    latency_chunks: int = 8
    interval_us: int = 1000
    rate_requests: int = 20
    rate_chunks: int = 2000
    size: int = 64
    warmup: int = 20
    busy_sample_s: float = 1.0
    timeout_s: float = 10.0


class _Invalid(Exception):
    """An answer that disqualifies the run."""


def make_model(folder: Path) -> Path:
    """A model folder serving the benchmark's handler as ``code/inference.py``."""
    code = folder / "code"
    code.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ticker.__file__, code / "inference.py")
    return folder


def _log_tail(log: Path, lines: int = 20) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def _streams(client: StreamClient, count: int, chunks: int, interval_us: int, size: int,
             what: str) -> list[Timed]:
    body = ticker.request(chunks, interval_us, size)
    answers = []
    for index in range(count):
        reply = client.post(p.INVOCATIONS, body, content_type=ticker.CONTENT_TYPE,
                            accept=ticker.RESPONSE_TYPE)
        answer = check(reply, chunks, size)
        if isinstance(answer, str):
            raise _Invalid(f"{what} stream {index + 1} of {count}: {answer}")
        answers.append(answer)
    return answers


def generator_alone(plan: Plan) -> float:
    """Chunks per second the handler's generator yields with no server (the ceiling)."""
    began = time.monotonic_ns()
    for _ in ticker.ticks(plan.rate_chunks, 0, plan.size):
        pass
    return round(plan.rate_chunks * 1e9 / max(1, time.monotonic_ns() - began))


def measure(spec: ServerSpec, plan: Plan, log: Path) -> dict[str, Any]:
    """Start the server of ``spec``, run ``plan`` against it, stop it: its figures.

    Raises SagepackError (with the end of its log) when it does not start; a wrong answer
    makes the figures invalid instead.
    """
    busy_before = machine_busy_pct(plan.busy_sample_s)
    load_before = _load()
    say(f"{spec.label}: starting (CPU {busy_before:.0f}% busy before, load {load_before[0]})")
    with log.open("wb") as output:
        process = subprocess.Popen(list(spec.command), env=spec.env, stdout=output,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    started = time.monotonic()
    figures: dict[str, Any] = {"valid": False, "problems": [], "workers": spec.workers,
                               "command": " ".join(spec.command[1:]),
                               "cpu_busy_before_pct": busy_before, "load_before": load_before}
    try:
        cold_start_s = wait_ready(process, spec.port, started, what=spec.label)
        figures["cold_start_ms"] = round(cold_start_s * 1000, 1)
        tree = ProcessTree(process.pid)
        others = OthersCpu(tree)
        with StreamClient(spec.port, timeout_s=plan.timeout_s) as client:
            try:
                _streams(client, plan.warmup, plan.latency_chunks, plan.interval_us,
                         plan.size, "warm-up")
                _streams(client, max(1, plan.warmup // 10), plan.rate_chunks, 0, plan.size,
                         "warm-up")
                say(f"{spec.label}: {plan.latency_requests} streams of {plan.latency_chunks} "
                    f"chunks {plan.interval_us} us apart, then {plan.rate_requests} of "
                    f"{plan.rate_chunks} back to back")
                latency = _streams(client, plan.latency_requests, plan.latency_chunks,
                                   plan.interval_us, plan.size, "latency")
                cpu_before = tree.cpu_seconds()
                rate = _streams(client, plan.rate_requests, plan.rate_chunks, 0, plan.size,
                                "rate")
                cpu_after = tree.cpu_seconds()
            except _Invalid as exc:
                figures["problems"] = [str(exc)]
                say(f"{spec.label}: INVALID run: {exc}")
            else:
                figures.update(valid=True, **latency_figures(latency), **rate_figures(rate),
                               http_chunks_per_answer=latency[0].http_chunks,
                               cpu_us_per_chunk=round((cpu_after - cpu_before) * 1e6
                                                      / (plan.rate_requests * plan.rate_chunks),
                                                      2))
        figures["others_cpu_during_pct"] = round(others.percent(), 1)
        rss_mib, pss_mib = tree.memory_mib()
        figures.update(rss_mib=round(rss_mib, 1), pss_mib=round(pss_mib, 1))
    except SagepackError as exc:
        raise SagepackError(f"{exc}\n--- {spec.label} log ({log}) ---\n{_log_tail(log)}") from exc
    finally:
        stop_group(process)
    figures["load_after"] = _load()
    if not figures["valid"]:
        figures["log_tail"] = _log_tail(log)
    return figures


def _pick(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The first invalid round if any, else the one with the lowest p99 overhead."""
    return pick_round(rounds, lambda f: -float(f["ttfb_overhead_p99_ms"]), (
        "ttfb_overhead_p50_ms", "ttfb_overhead_p99_ms", "chunks_per_s"))


def bench_stream(out: Path, *, plan: Plan = Plan(), workers: int = 1, threads: int = 1,
                 rounds: int = 3, against: tuple[str, ...] = (UVICORN_STARLETTE,)
                 ) -> dict[str, Any]:
    """Measure sagepack and the ``against`` servers streaming the benchmark's handler; write
    ``out`` (JSON) and print the figures and goals."""
    baselines.check_installed(against)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SAGEMAKER_", "SAGEPACK_"))}
    names = (SAGEPACK, *against)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    base = Path(tempfile.mkdtemp(prefix="sagepack-bench-stream-"))
    try:
        model_dir = make_model(base / "model")
        for index in range(max(1, rounds)):
            for name in names if index % 2 == 0 else names[::-1]:
                spec = baselines.server(name, model_dir, free_port(), env, workers=workers,
                                        threads=threads)
                runs[name].append(measure(spec, plan, base / f"{name}.log"))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    servers = {name: _pick(runs[name]) for name in names}
    result: dict[str, Any] = {
        "benchmark": "stream",
        "handler": "sagepack.bench.apps.ticker (a generator stamping each chunk as it yields)",
        "plan": asdict(plan),
        "generator_alone_chunks_per_s": generator_alone(plan),
        "machine": machine_facts(),
        "workers": workers,
        "threads_per_worker": threads,
        "rounds": max(1, rounds),
        "servers": servers,
        **evaluate(servers, goal_baseline=UVICORN_STARLETTE),
    }
    write_json(out, result)
    print_report(result)
    return result
