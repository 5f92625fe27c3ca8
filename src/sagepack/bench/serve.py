"""``invoke bench --what serve``: sagepack's server against its strongest baselines, same run.

The servers (:mod:`sagepack.bench.baselines`) serve the same model folder with the same
handler on 127.0.0.1: sagepack, uvicorn + Starlette and gunicorn + Flask with the same
workers count, and Flask's development server. Each is loaded with ``wrk`` for a fixed time
with one JSON body (:mod:`sagepack.bench.wrk`; a run with socket errors, timeouts or
non-2xx answers is INVALID and gives no figure). Reported per server: requests per second,
p50/p99 latency, server CPU time per request, RSS and PSS of its process tree, cold start
(process start to the first 200 on ``/ping``) and ``/ping`` latency while wrk keeps every
worker busy, a failed ping counted at its timeout (:mod:`sagepack.bench.probes`). How busy
the CPUs were in the second before each server starts (no benchmarked server running), the
CPU other processes took during the run, and the load average are recorded: figures from a
busy machine say so.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from sagepack.bench import baselines, wrk
from sagepack.bench.baselines import SAGEPACK, UVICORN_STARLETTE, ServerSpec
from sagepack.bench.probes import (
    BusyPings,
    OthersCpu,
    ProcessTree,
    load_average,
    log_tail,
    machine_busy_pct,
    machine_facts,
    pick_round,
    request,
    wait_ready,
)
from sagepack.bench.serve_report import evaluate, print_report
from sagepack.errors import SagepackError
from sagepack.files import write_json
from sagepack.ports import free_port
from sagepack.processes import stop_group
from sagepack.progress import say
from sagepack.serving import parameters as p

__all__ = ["bench_serve", "pick", "sample_body"]

WRK_THREADS = 2
WRK_TIMEOUT_S = 10.0


def sample_body(model_dir: Path) -> bytes:
    """One JSON request: a JSON sample, else ``[[...]]`` from the first row of a CSV one."""
    samples = model_dir / "samples"
    for path in sorted(samples.glob("*.json")) if samples.is_dir() else []:
        return path.read_bytes().strip()
    for path in sorted(samples.glob("*.csv")) if samples.is_dir() else []:
        first = next(line for line in path.read_text().splitlines() if line.strip())
        return json.dumps([[float(v) for v in first.split(",")]]).encode()
    raise SagepackError(f"no samples/*.json or samples/*.csv in {model_dir} to send")


def _measure(spec: ServerSpec, body: bytes, wrk_path: str, script: Path, log: Path,
             duration_s: float, connections: int) -> dict[str, Any]:
    busy_before = machine_busy_pct()
    load_before = load_average()
    say(f"{spec.label}: starting (CPU {busy_before:.0f}% busy before, load {load_before[0]})")
    with log.open("wb") as output:
        process = subprocess.Popen(list(spec.command), env=spec.env, stdout=output,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    started = time.monotonic()
    try:
        cold_start_s = wait_ready(process, spec.port, started, what=spec.label)
        status, answer = request(spec.port, p.INVOCATIONS, body)
        if status != 200:
            raise SagepackError(f"{spec.label}: POST /invocations answered {status}: "
                                f"{answer[:200]!r}")
        for _ in range(200):  # warm up
            request(spec.port, p.INVOCATIONS, body)
        tree = ProcessTree(process.pid)
        cpu_before = tree.cpu_seconds()
        others = OthersCpu(tree)
        pings = BusyPings()
        pinger = pings.start(spec.port, min(1.0, duration_s / 4), max(5, int(duration_s * 5)))
        say(f"{spec.label}: wrk -t{WRK_THREADS} -c{connections} -d{duration_s:g}s")
        run = wrk.run(wrk_path, f"http://127.0.0.1:{spec.port}{p.INVOCATIONS}", script,
                      threads=WRK_THREADS, connections=connections, duration_s=duration_s,
                      timeout_s=WRK_TIMEOUT_S, what=spec.label)
        pinger.join(duration_s + 2 * pings.timeout_s + 10)
        cpu_after = tree.cpu_seconds()
        others_pct = round(others.percent(), 1)
        rss_mib, pss_mib = tree.memory_mib()
    except SagepackError as exc:
        raise SagepackError(f"{exc}\n--- {spec.label} log ({log}) ---\n{log_tail(log)}") from exc
    finally:
        stop_group(process)
    figures: dict[str, Any] = {
        "valid": run.valid, "problems": run.problems, "wrk": run.as_dict(),
        "answer": answer.decode("utf-8", "replace"), "workers": spec.workers,
        "command": " ".join(spec.command[1:]),
        "cpu_busy_before_pct": busy_before, "others_cpu_during_pct": others_pct, "load_before": load_before, "load_after": load_average(),
    }
    if run.valid:
        figures.update({
            "requests": run.requests, "rps": round(run.rps, 1),
            "p50_ms": round(run.p50_ms, 2), "p90_ms": round(run.p90_ms, 2),
            "p99_ms": round(run.p99_ms, 2), "max_ms": round(run.max_ms, 2),
            "cpu_ms_per_request": round((cpu_after - cpu_before) * 1000 / run.requests, 4),
        })
    else:
        say(f"{spec.label}: INVALID run: {'; '.join(run.problems)}")
    figures.update({"rss_mib": round(rss_mib, 1), "pss_mib": round(pss_mib, 1),
                    "cold_start_ms": round(cold_start_s * 1000, 1), **pings.summary()})
    return figures


def pick(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The round reported for one server: the first invalid one, else the most req/s."""
    return pick_round(rounds, lambda figures: float(figures["rps"]), ("rps", "p99_ms"))


def bench_serve(model_dir: Path, out: Path, duration_s: float = 10, connections: int = 32,
                workers: int = 2, threads: int = 1,
                against: tuple[str, ...] = baselines.BASELINES,
                rounds: int = 3) -> dict[str, Any]:
    """Measure sagepack's server and the ``against`` baselines on ``model_dir``; write
    ``out`` (JSON) and print the figures and goals.

    The servers are measured ``rounds`` times, in turn (the order reversed every other
    round, so load from elsewhere falls on each alike); see :func:`pick` for the round
    reported.
    """
    wrk_path = shutil.which("wrk")
    if wrk_path is None:
        raise SagepackError("wrk is needed for the serving benchmark (Debian package wrk)")
    baselines.check_installed()
    model_dir = model_dir.resolve()
    body = sample_body(model_dir)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SAGEMAKER_", "SAGEPACK_"))}
    names = (SAGEPACK, *against)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    base = Path(tempfile.mkdtemp(prefix="sagepack-bench-serve-"))
    try:
        script = wrk.write_script(base / "post.lua", body)
        for index in range(max(1, rounds)):
            for name in names if index % 2 == 0 else names[::-1]:
                spec = baselines.server(name, model_dir, free_port(), env, workers=workers,
                                        threads=threads)
                runs[name].append(_measure(spec, body, wrk_path, script,
                                           base / f"{name}.log", duration_s, connections))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    servers = {name: pick(runs[name]) for name in names}
    expected = servers[SAGEPACK]["answer"]
    for name, figures in servers.items():
        if figures["answer"] != expected:
            raise SagepackError(f"{baselines.LABELS[name]} answers differently from sagepack: "
                                f"{figures['answer']!r} vs {expected!r}")
    result: dict[str, Any] = {
        "benchmark": "serve",
        "model_dir": str(model_dir),
        "request_body": body.decode(),
        "wrk": {"threads": WRK_THREADS, "connections": connections, "duration_s": duration_s,
                "timeout_s": WRK_TIMEOUT_S},
        "machine": machine_facts(),
        "threads_per_worker": threads,
        "rounds": max(1, rounds),
        "servers": servers,
        **evaluate(servers, goal_baseline=UVICORN_STARLETTE),
    }
    write_json(out, result)
    print_report(result)
    return result
