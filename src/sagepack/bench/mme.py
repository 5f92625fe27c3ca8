"""``invoke bench --what mme``: a multi-model endpoint holding 100 models against a
single-model server of the same model, same run, same workers count.

The model is packed as ``invoke package`` packs it and extracted as SageMaker extracts it;
the extracted folder is laid out 100 times under a models folder (``<name>/model``, hard
links where the filesystem allows) and removed afterwards. sagepack's server runs on
127.0.0.1 twice: in multi-model mode over that folder, and as a single-model server of the
extracted folder. Measured:

* loading: every ``POST /models`` timed from the client (and the server's ``loadTimeMs``),
  the first load apart (it imports the handler's libraries into the workers), unloads too;
* memory: the RSS and PSS of the multi-model server's process tree (supervisor and
  workers) once the 100 models are loaded and each invoked, then after each of 3 cycles of
  unloading all and loading (and invoking) all again; the growth over the first figure;
* invocations: wrk against ``POST /models/<name>/invoke``, going round the 100 models with
  each request's ``X-Amzn-SageMaker-Target-Model``, against the single-model server's
  ``/invocations`` with the same script, and (for information: what holding 100 models
  costs, without spreading the requests over them) against the first model alone, in turn
  (the order reversed every other round); the round reported is chosen as the serving
  benchmark chooses (:func:`sagepack.bench.serve.pick`).

Any load, unload or invocation answered other than 200, an answer that differs from the
single-model server's, or a wrk run with errors makes the run INVALID: its problems are
reported, no figure depends on it and no goal it decides is met. How busy the machine was
is recorded before each phase and round, as in the serving benchmark.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from sagepack.archive import pack, safe_extract
from sagepack.bench import baselines, wrk
from sagepack.bench.mme_report import LABELS, MULTI, MULTI_ONE, SINGLE, evaluate, print_report
from sagepack.bench.probes import (
    OthersCpu,
    ProcessTree,
    load_average,
    log_tail,
    machine_busy_pct,
    machine_facts,
    request,
    wait_ready,
)
from sagepack.bench.serve import pick, sample_body
from sagepack.config import ModelConfig
from sagepack.errors import SagepackError
from sagepack.files import write_json
from sagepack.ports import free_port
from sagepack.processes import stop_group
from sagepack.progress import say
from sagepack.serving import parameters as p

__all__ = ["MULTI", "SINGLE", "bench_mme", "bench_mme_of", "extracted", "lay_out"]

WRK_THREADS = 2
WRK_TIMEOUT_S = 10.0
CALL_TIMEOUT_S = 120.0
WARM_CALLS = 2  # invocations of every model after each time all are loaded
WARM_SINGLE = 200


def extracted(model: ModelConfig, work: Path) -> Path:
    """``model`` packed into ``work`` and extracted to ``work/extracted``."""
    archive = pack(model, work, progress=False).archive
    return safe_extract(archive, work / "extracted")


def _link(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def lay_out(model_dir: Path, models_root: Path, count: int) -> dict[str, str]:
    """``count`` copies of ``model_dir`` at ``models_root/model-<n>/model``: name -> url."""
    urls: dict[str, str] = {}
    for index in range(count):
        name = f"model-{index:03d}"
        target = models_root / name / "model"
        shutil.copytree(model_dir, target, copy_function=_link)
        urls[name] = str(target)
    return urls


def _short(answer: bytes) -> str:
    text = answer.decode("utf-8", "replace").strip()
    return text if len(text) <= 300 else text[:300] + "..."


@dataclasses.dataclass
class _Endpoint:
    """The multi-model server's models, driven through SageMaker's API, and what it took."""

    port: int
    urls: dict[str, str]
    body: bytes
    problems: list[str] = dataclasses.field(default_factory=list)
    load_ms: list[float] = dataclasses.field(default_factory=list)
    server_load_ms: list[float] = dataclasses.field(default_factory=list)
    unload_ms: list[float] = dataclasses.field(default_factory=list)
    answer: bytes | None = None

    def _call(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes, float]:
        began = time.perf_counter()
        try:
            status, answer = request(self.port, path, body, method=method,
                                     timeout=CALL_TIMEOUT_S)
        except OSError as exc:
            status, answer = 0, f"{type(exc).__name__}: {exc}".encode()
        return status, answer, (time.perf_counter() - began) * 1000

    def _failed(self, what: str, status: int, answer: bytes) -> bool:
        self.problems.append(f"{what} answered {status or 'nothing'}: {_short(answer)}")
        return False

    def load_all(self) -> bool:
        for name, url in self.urls.items():
            payload = json.dumps({"model_name": name, "url": url}).encode()
            status, answer, took = self._call("POST", p.MODELS, payload)
            if status != 200:
                return self._failed(f"POST {p.MODELS} ({name})", status, answer)
            self.load_ms.append(took)
            with contextlib.suppress(ValueError, TypeError, KeyError):
                self.server_load_ms.append(float(json.loads(answer)["loadTimeMs"]))
        return True

    def unload_all(self) -> bool:
        for name in self.urls:
            status, answer, took = self._call("DELETE", f"{p.MODELS}/{name}")
            if status != 200:
                return self._failed(f"DELETE {p.MODELS}/{name}", status, answer)
            self.unload_ms.append(took)
        return True

    def invoke_all(self, times: int = WARM_CALLS) -> bool:
        """Invoke every model ``times`` times; every answer must be 200 and the same."""
        for _ in range(times):
            for name in self.urls:
                path = f"{p.MODELS}/{name}{p.INVOKE_SUFFIX}"
                status, answer, _ = self._call("POST", path, self.body)
                if status != 200:
                    return self._failed(f"POST {path}", status, answer)
                if self.answer is None:
                    self.answer = answer
                elif answer != self.answer:
                    self.problems.append(f"POST {path} answered {_short(answer)!r}, the "
                                         f"other models {_short(self.answer)!r}")
                    return False
        return True


def _mib(tree: ProcessTree) -> dict[str, float]:
    rss, pss = tree.memory_mib()
    return {"rss_mib": round(rss, 1), "pss_mib": round(pss, 1)}


def _memory(endpoint: _Endpoint, tree: ProcessTree, cycles: int) -> dict[str, Any]:
    """Load and invoke every model, then unload and reload them ``cycles`` times."""
    figures: dict[str, Any] = {"empty": _mib(tree), "busy_before_pct": machine_busy_pct(),
                               "load_before": load_average()}
    others = OthersCpu(tree)
    say(f"multi-model: loading {len(endpoint.urls)} models")
    if not (endpoint.load_all() and endpoint.invoke_all()):
        return figures
    figures["loaded"] = _mib(tree)
    figures["cycles"] = []
    for cycle in range(1, cycles + 1):
        say(f"multi-model: cycle {cycle}/{cycles}: unloading and loading every model")
        if not endpoint.unload_all():
            return figures
        unloaded = _mib(tree)
        if not (endpoint.load_all() and endpoint.invoke_all()):
            return figures
        figures["cycles"].append({"unloaded": unloaded, "loaded": _mib(tree)})
    figures["others_cpu_during_pct"] = round(others.percent(), 1)
    return figures


def _percentile(values: Sequence[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))], 2)


def _timings(endpoint: _Endpoint) -> dict[str, Any]:
    later = endpoint.load_ms[1:]
    return {"loads": len(endpoint.load_ms), "unloads": len(endpoint.unload_ms),
            "first_load_ms": round(endpoint.load_ms[0], 2) if endpoint.load_ms else None,
            "load_p50_ms": _percentile(later, 50), "load_p99_ms": _percentile(later, 99),
            "load_max_ms": round(max(later), 2) if later else None,
            "server_load_p50_ms": _percentile(endpoint.server_load_ms[1:], 50),
            "unload_p50_ms": _percentile(endpoint.unload_ms, 50),
            "unload_p99_ms": _percentile(endpoint.unload_ms, 99)}


@contextlib.contextmanager
def _running(spec: baselines.ServerSpec, label: str, log: Path) -> Iterator[tuple[int, float]]:
    """The server of ``spec`` started and ready (yields its pid and cold start in ms), then
    stopped; an error names the server and ends with its log's tail."""
    with log.open("wb") as output:
        process = subprocess.Popen(list(spec.command), env=spec.env, stdout=output,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    started = time.monotonic()
    try:
        cold_start_ms = round(wait_ready(process, spec.port, started, what=label) * 1000, 1)
        yield process.pid, cold_start_ms
    except SagepackError as exc:
        raise SagepackError(f"{exc}\n--- {label} log ({log}) ---\n{log_tail(log)}") from exc
    finally:
        stop_group(process)


def _round(label: str, pid: int, port: int, script: Path, wrk_path: str, path: str,
           duration_s: float, connections: int) -> dict[str, Any]:
    busy_before = machine_busy_pct()
    load_before = load_average()
    tree = ProcessTree(pid)
    cpu_before = tree.cpu_seconds()
    others = OthersCpu(tree)
    say(f"{label}: wrk -t{WRK_THREADS} -c{connections} -d{duration_s:g}s (CPU "
        f"{busy_before:.0f}% busy before, load {load_before[0]})")
    run = wrk.run(wrk_path, f"http://127.0.0.1:{port}{path}", script, threads=WRK_THREADS,
                  connections=connections, duration_s=duration_s, timeout_s=WRK_TIMEOUT_S,
                  what=label)
    cpu_after = tree.cpu_seconds()
    figures: dict[str, Any] = {
        "valid": run.valid, "problems": run.problems, "wrk": run.as_dict(),
        "cpu_busy_before_pct": busy_before, "others_cpu_during_pct": round(others.percent(), 1),
        "load_before": load_before, "load_after": load_average(), **_mib(tree)}
    if run.valid:
        figures.update({
            "requests": run.requests, "rps": round(run.rps, 1), "p50_ms": round(run.p50_ms, 2),
            "p90_ms": round(run.p90_ms, 2), "p99_ms": round(run.p99_ms, 2),
            "max_ms": round(run.max_ms, 2),
            "cpu_ms_per_request": round((cpu_after - cpu_before) * 1000 / run.requests, 4)})
    else:
        say(f"{label}: INVALID run: {'; '.join(run.problems)}")
    return figures


def _invocations(endpoint: _Endpoint, multi_pid: int, single: baselines.ServerSpec,
                 base: Path, wrk_path: str, duration_s: float, connections: int,
                 rounds: int) -> dict[str, Any]:
    """wrk rounds against every target; the single-model server runs for these only."""
    paths = [(f"{p.MODELS}/{name}{p.INVOKE_SUFFIX}",
              {"X-Amzn-SageMaker-Target-Model": f"{name}.tar.gz"}) for name in endpoint.urls]
    multi_script = wrk.write_rotating_script(base / "multi.lua", endpoint.body, paths)
    one_script = wrk.write_rotating_script(base / "one.lua", endpoint.body, paths[:1])
    single_script = wrk.write_rotating_script(base / "single.lua", endpoint.body,
                                              [(p.INVOCATIONS, {})])
    runs: dict[str, list[dict[str, Any]]] = {MULTI: [], MULTI_ONE: [], SINGLE: []}
    with _running(single, LABELS[SINGLE], base / "single.log") as (single_pid, cold_start_ms):
        targets = {MULTI: (multi_pid, endpoint.port, multi_script, paths[0][0]),
                   MULTI_ONE: (multi_pid, endpoint.port, one_script, paths[0][0]),
                   SINGLE: (single_pid, single.port, single_script, p.INVOCATIONS)}
        for _ in range(WARM_SINGLE):
            status, answer = request(single.port, p.INVOCATIONS, endpoint.body)
            if status != 200 or answer != endpoint.answer:
                endpoint.problems.append(f"the single-model server answered {status}: "
                                         f"{_short(answer)!r}, the multi-model server "
                                         f"{_short(endpoint.answer or b'')!r}")
                return {SINGLE: {"cold_start_ms": cold_start_ms}}
        for index in range(max(1, rounds)):
            for name in list(runs) if index % 2 == 0 else list(runs)[::-1]:
                pid, port, script, path = targets[name]
                runs[name].append(_round(LABELS[name], pid, port, script, wrk_path, path,
                                         duration_s, connections))
    servers = {name: pick(figures) for name, figures in runs.items()}
    servers[SINGLE]["cold_start_ms"] = cold_start_ms
    return servers


def bench_mme(model_dir: Path, body: bytes, out: Path, *, models: int = 100,
              cycles: int = 3, duration_s: float = 10, connections: int = 32,
              workers: int = 2, rounds: int = 4) -> dict[str, Any]:
    """Measure a multi-model server with ``models`` copies of the extracted archive
    ``model_dir`` against a single-model server of it (``body`` is the request); write
    ``out`` (JSON) and print the figures and goals."""
    wrk_path = shutil.which("wrk")
    if wrk_path is None:
        raise SagepackError("wrk is needed for the multi-model benchmark (Debian package wrk)")
    model_dir = model_dir.resolve()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SAGEMAKER_", "SAGEPACK_"))}
    base = Path(tempfile.mkdtemp(prefix="sagepack-bench-mme-"))
    try:
        urls = lay_out(model_dir, base / "models", max(1, models))
        multi = baselines.server(baselines.SAGEPACK, base / "no-model", free_port(), env,
                                 workers=workers, threads=1)
        multi = dataclasses.replace(multi, env={**multi.env, p.MULTI_MODEL: "true",
                                                p.MODELS_DIR: str(base / "models")})
        single = baselines.server(baselines.SAGEPACK, model_dir, free_port(), env,
                                  workers=workers, threads=1)
        endpoint = _Endpoint(multi.port, urls, body)
        servers: dict[str, Any] = {}
        say(f"multi-model: starting ({workers} workers, {len(urls)} models)")
        with _running(multi, LABELS[MULTI], base / "multi.log") as (pid, cold_start_ms):
            memory = _memory(endpoint, ProcessTree(pid), cycles)
            if not endpoint.problems:
                servers = _invocations(endpoint, pid, single, base, wrk_path, duration_s,
                                       connections, rounds)
            servers.setdefault(MULTI, {})["cold_start_ms"] = cold_start_ms
    finally:
        shutil.rmtree(base, ignore_errors=True)
    result: dict[str, Any] = {
        "benchmark": "mme", "model_dir": str(model_dir), "request_body": body.decode(),
        "models": len(urls), "cycles": cycles, "workers": workers,
        "wrk": {"threads": WRK_THREADS, "connections": connections, "duration_s": duration_s,
                "timeout_s": WRK_TIMEOUT_S, "rounds": max(1, rounds)},
        "machine": machine_facts(),
        "problems": endpoint.problems, "loading": _timings(endpoint), "memory": memory,
        "servers": servers}
    result.update(evaluate(result))
    write_json(out, result)
    print_report(result)
    return result


def bench_mme_of(model: ModelConfig, out: Path, **options: Any) -> dict[str, Any]:
    """:func:`bench_mme` with ``model`` packed and extracted, its first sample the request."""
    with tempfile.TemporaryDirectory(prefix="sagepack-bench-mme-archive-") as work:
        return bench_mme(extracted(model, Path(work)), sample_body(model.root), out, **options)
