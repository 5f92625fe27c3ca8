"""``invoke bench --what serve``: sagepack's server against the naive recipe, same run.

Both serve the same model directory with the same handler code, on 127.0.0.1:

* (a) ``python -m sagepack.serving``: forked workers, uvicorn + uvloop + httptools, a lean
  ASGI app, inference on a thread per worker;
* (b) the naive recipe sellers use: Flask's development server (one process, threaded, as
  ``app.run`` defaults), calling the handler functions in the view.

Each is loaded with ``wrk`` for a fixed time with one JSON body. Reported per server:
requests per second, p50/p99 latency, server CPU time per request (``/proc/<pid>/stat`` of
the server's process tree, before and after), RSS and PSS of the tree, cold start (process
start to the first 200 on ``/ping``) and ``/ping`` latency while wrk keeps every worker busy.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sagepack.errors import SagepackError
from sagepack.files import write_json
from sagepack.processes import stop_group
from sagepack.progress import say, table

GOALS = {"rps_ratio_min": 10.0, "p99_ms_max": 15.0, "cold_start_ms_max": 500.0,
         "busy_ping_ms_max": 50.0}

NAIVE_SERVER = '''\
"""The naive recipe: Flask's development server calling the handler functions."""
import sys
from pathlib import Path

from flask import Flask, Response, request

from sagepack.serving.context import Context
from sagepack.serving.handler import Handler

model_dir = Path(sys.argv[1])
port = int(sys.argv[2])
handler = Handler.load(model_dir / "code" / "inference.py")
model = handler.load_model(model_dir)
app = Flask(__name__)


@app.route("/ping")
def ping():
    return Response(status=200)


@app.route("/invocations", methods=["POST"])
def invocations():
    content_type = (request.content_type or "application/json").split(";")[0].strip().lower()
    accept = request.headers.get("Accept", "application/json")
    if accept in ("", "*/*"):
        accept = "application/json"
    context = Context(model_dir, content_type, accept, dict(request.headers))
    body, result_type = handler.invoke(model, request.get_data(), context, accept,
                                       "application/json")
    return Response(body, content_type=result_type)


app.run(host="127.0.0.1", port=port, threaded=True)
'''

WRK_SCRIPT = '''\
wrk.method = "POST"
wrk.body = [==[{body}]==]
wrk.headers["Content-Type"] = "application/json"

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_JSON {{\\"requests\\": %d, \\"duration_us\\": %d, \\"p50_us\\": %d, " ..
    "\\"p90_us\\": %d, \\"p99_us\\": %d, \\"max_us\\": %d, \\"errors\\": %d, " ..
    "\\"non_2xx\\": %d, \\"timeouts\\": %d}}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.connect + e.read + e.write, e.status, e.timeout))
end
'''


@dataclass
class _Running:
    process: subprocess.Popen[bytes]
    port: int
    started: float


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(port: int, path: str, body: bytes | None = None, timeout: float = 5.0) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        if body is None:
            connection.request("GET", path)
        else:
            connection.request("POST", path, body=body,
                               headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _wait_ready(running: _Running, within_s: float = 60.0) -> float:
    """Seconds from process start to the first 200 on /ping."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if running.process.poll() is not None:
            raise SagepackError(f"the server exited with code {running.process.returncode} "
                                "before answering /ping")
        with contextlib.suppress(OSError):
            if _get(running.port, "/ping", timeout=1.0)[0] == 200:
                return time.monotonic() - running.started
        time.sleep(0.002)
    raise SagepackError(f"no 200 on /ping from port {running.port} within {within_s:g} s")


def _tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def _cpu_seconds(pid: int) -> float:
    ticks = 0
    for member in _tree(pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def _memory_mib(pid: int) -> tuple[float, float]:
    """(RSS, PSS) of the process tree in MiB; PSS counts pages shared by forks once."""
    rss = pss = 0
    for member in _tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1])
            for line in Path(f"/proc/{member}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1])
    return rss / 1024, pss / 1024


def _ping_while_busy(port: int, delay_s: float, count: int, results: list[float]) -> None:
    time.sleep(delay_s)
    for _ in range(count):
        began = time.perf_counter()
        with contextlib.suppress(OSError):
            if _get(port, "/ping", timeout=5.0)[0] == 200:
                results.append((time.perf_counter() - began) * 1000)
        time.sleep(0.1)


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def _measure(name: str, command: list[str], env: dict[str, str], port: int, body: bytes,
             wrk: str, script: Path, duration_s: float, connections: int) -> dict[str, Any]:
    say(f"{name}: starting")
    running = _Running(subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, start_new_session=True),
                       port, time.monotonic())
    try:
        cold_start_s = _wait_ready(running)
        status, answer = _get(port, "/invocations", body)
        if status != 200:
            raise SagepackError(f"{name}: POST /invocations answered {status}: {answer[:200]!r}")
        for _ in range(200):  # warm up
            _get(port, "/invocations", body)
        cpu_before = _cpu_seconds(running.process.pid)
        pings: list[float] = []
        pinger = threading.Thread(target=_ping_while_busy,
                                  args=(port, min(1.0, duration_s / 4),
                                        max(5, int(duration_s * 5)), pings), daemon=True)
        say(f"{name}: wrk -t2 -c{connections} -d{duration_s:g}s")
        pinger.start()
        completed = subprocess.run(
            [wrk, "-t2", f"-c{connections}", f"-d{duration_s:g}s", "--timeout", "10s",
             "-s", str(script), f"http://127.0.0.1:{port}/invocations"],
            capture_output=True, text=True, check=False, timeout=duration_s + 60)
        pinger.join(duration_s + 10)
        cpu_after = _cpu_seconds(running.process.pid)
        rss_mib, pss_mib = _memory_mib(running.process.pid)
    finally:
        stop_group(running.process)
    line = next((ln for ln in completed.stdout.splitlines() if ln.startswith("WRK_JSON ")), None)
    if completed.returncode != 0 or line is None:
        raise SagepackError(f"{name}: wrk failed ({completed.returncode}): "
                            f"{completed.stderr.strip() or completed.stdout.strip()}")
    figures = json.loads(line.removeprefix("WRK_JSON "))
    requests = max(1, figures["requests"])
    return {
        "answer": answer.decode("utf-8", "replace"),
        "requests": figures["requests"],
        "rps": round(figures["requests"] / (figures["duration_us"] / 1e6), 1),
        "p50_ms": round(figures["p50_us"] / 1000, 2),
        "p90_ms": round(figures["p90_us"] / 1000, 2),
        "p99_ms": round(figures["p99_us"] / 1000, 2),
        "max_ms": round(figures["max_us"] / 1000, 2),
        "socket_errors": figures["errors"],
        "non_2xx": figures["non_2xx"],
        "timeouts": figures["timeouts"],
        "cpu_ms_per_request": round((cpu_after - cpu_before) * 1000 / requests, 4),
        "rss_mib": round(rss_mib, 1),
        "pss_mib": round(pss_mib, 1),
        "cold_start_ms": round(cold_start_s * 1000, 1),
        "busy_ping_p50_ms": round(_percentile(pings, 0.5), 2),
        "busy_ping_max_ms": round(max(pings), 2) if pings else None,
        "busy_pings": len(pings),
    }


def sample_body(model_dir: Path) -> bytes:
    """One JSON request: ``[[...]]`` from the first row of a CSV sample, or a JSON sample."""
    samples = model_dir / "samples"
    for path in sorted(samples.glob("*.json")) if samples.is_dir() else []:
        return path.read_bytes().strip()
    for path in sorted(samples.glob("*.csv")) if samples.is_dir() else []:
        first = next(line for line in path.read_text().splitlines() if line.strip())
        return json.dumps([[float(v) for v in first.split(",")]]).encode()
    raise SagepackError(f"no samples/*.json or samples/*.csv in {model_dir} to send")


def bench_serve(model_dir: Path, out: Path, duration_s: float = 10, connections: int = 32,
                workers: int = 2, threads: int = 1) -> dict[str, Any]:
    """Measure sagepack's server and the naive Flask recipe on ``model_dir``; write ``out``."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SagepackError("wrk is needed for the serving benchmark (Debian package wrk)")
    model_dir = model_dir.resolve()
    body = sample_body(model_dir)
    base = Path(tempfile.mkdtemp(prefix="sagepack-bench-serve-"))
    try:
        script = base / "post.lua"
        script.write_text(WRK_SCRIPT.format(body=body.decode()))
        naive = base / "naive_flask.py"
        naive.write_text(NAIVE_SERVER)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SAGEMAKER_", "SAGEPACK_"))}
        port = _free_port()
        ours = _measure(
            "sagepack", [sys.executable, "-m", "sagepack.serving"],
            {**env, "SAGEPACK_MODEL_DIR": str(model_dir), "SAGEMAKER_BIND_TO_PORT": str(port),
             "SAGEPACK_HOST": "127.0.0.1", "SAGEMAKER_MODEL_SERVER_WORKERS": str(workers),
             "SAGEPACK_THREADS": str(threads)},
            port, body, wrk, script, duration_s, connections)
        port = _free_port()
        baseline = _measure("flask", [sys.executable, str(naive), str(model_dir), str(port)],
                            env, port, body, wrk, script, duration_s, connections)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    if ours["answer"] != baseline["answer"]:
        raise SagepackError(f"the two servers answer differently: {ours['answer']!r} vs "
                            f"{baseline['answer']!r}")
    ratio = round(ours["rps"] / max(baseline["rps"], 0.1), 1)
    goals = {
        "rps_ratio": {"target": f">= {GOALS['rps_ratio_min']:g}", "actual": ratio,
                      "met": ratio >= GOALS["rps_ratio_min"]},
        "p99_ms": {"target": f"< {GOALS['p99_ms_max']:g}", "actual": ours["p99_ms"],
                   "met": ours["p99_ms"] < GOALS["p99_ms_max"]},
        "cold_start_ms": {"target": f"< {GOALS['cold_start_ms_max']:g}",
                          "actual": ours["cold_start_ms"],
                          "met": ours["cold_start_ms"] < GOALS["cold_start_ms_max"]},
        "busy_ping_max_ms": {"target": f"< {GOALS['busy_ping_ms_max']:g}",
                             "actual": ours["busy_ping_max_ms"],
                             "met": (ours["busy_ping_max_ms"] or 1e9) < GOALS["busy_ping_ms_max"]},
    }
    result: dict[str, Any] = {
        "benchmark": "serve",
        "model_dir": str(model_dir),
        "request_body": body.decode(),
        "wrk": {"threads": 2, "connections": connections, "duration_s": duration_s},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "sagepack": {**ours, "workers": workers, "threads_per_worker": threads},
        "naive_flask": baseline,
        "ratio": {"rps": ratio,
                  "p99": round(baseline["p99_ms"] / max(ours["p99_ms"], 0.001), 1),
                  "cpu_per_request": round(baseline["cpu_ms_per_request"]
                                           / max(ours["cpu_ms_per_request"], 1e-6), 1)},
        "goals": goals,
    }
    write_json(out, result)
    _print(result)
    return result


def _print(result: dict[str, Any]) -> None:
    ours, naive = result["sagepack"], result["naive_flask"]
    rows = [
        ("requests/s", ours["rps"], naive["rps"], f"{result['ratio']['rps']}x"),
        ("p50 latency (ms)", ours["p50_ms"], naive["p50_ms"], ""),
        ("p99 latency (ms)", ours["p99_ms"], naive["p99_ms"], f"{result['ratio']['p99']}x"),
        ("CPU per request (ms)", ours["cpu_ms_per_request"], naive["cpu_ms_per_request"],
         f"{result['ratio']['cpu_per_request']}x"),
        ("RSS / PSS (MiB)", f"{ours['rss_mib']} / {ours['pss_mib']}",
         f"{naive['rss_mib']} / {naive['pss_mib']}", ""),
        ("cold start (ms)", ours["cold_start_ms"], naive["cold_start_ms"], ""),
        ("/ping while busy, p50 / max (ms)", f"{ours['busy_ping_p50_ms']} / {ours['busy_ping_max_ms']}",
         f"{naive['busy_ping_p50_ms']} / {naive['busy_ping_max_ms']}", ""),
        ("errors / non-2xx", f"{ours['socket_errors']} / {ours['non_2xx']}",
         f"{naive['socket_errors']} / {naive['non_2xx']}", ""),
    ]
    wrk = result["wrk"]
    table(f"serving {Path(result['model_dir']).name}: wrk -t2 -c{wrk['connections']} "
          f"-d{wrk['duration_s']:g}s, {ours['workers']} workers",
          ["", "sagepack", "flask dev server", "ratio"], rows)
    met = [name for name, goal in result["goals"].items() if goal["met"]]
    missed = [name for name, goal in result["goals"].items() if not goal["met"]]
    say(f"goals met: {', '.join(met) or 'none'}; missed: {', '.join(missed) or 'none'}")
