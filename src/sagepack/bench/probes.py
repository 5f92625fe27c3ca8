"""What the serving benchmark measures besides wrk: readiness, ``/ping`` under load, and the
CPU time and memory of a server's process tree (through psutil).

``/ping`` while busy follows SageMaker's health check: a ping that is not answered 200
within its timeout (2 s, the platform's) is a failed health check. It is counted at its
timeout, never dropped, so a server that stops answering pings under load cannot report a
good ping latency.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import resource
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from sagepack.errors import SagepackError
from sagepack.serving import parameters as p

PING_TIMEOUT_S = 2.0  # SageMaker's health-check timeout


def request(port: int, path: str, body: bytes | None = None, *, timeout: float = 5.0,
            content_type: str = "application/json",
            method: str | None = None) -> tuple[int, bytes]:
    """GET (or POST ``body`` to) ``path`` on 127.0.0.1:``port``: (status, body); ``method``
    (``DELETE``...) instead of GET or POST when given."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        if body is None:
            connection.request(method or "GET", path)
        else:
            connection.request(method or "POST", path, body=body,
                               headers={"Content-Type": content_type})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def log_tail(log: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a server's log ('' if it cannot be read)."""
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def wait_ready(process: subprocess.Popen[bytes], port: int, started: float, *,
               within_s: float = 60.0, what: str = "the server") -> float:
    """Seconds from ``started`` (monotonic) to the first 200 on /ping."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SagepackError(f"{what} exited with code {process.returncode} before "
                                "answering /ping")
        with contextlib.suppress(OSError):
            if request(port, p.PING, timeout=1.0)[0] == 200:
                return time.monotonic() - started
        time.sleep(0.002)
    raise SagepackError(f"{what}: no 200 on /ping from port {port} within {within_s:g} s")


@dataclass
class BusyPings:
    """``/ping`` latencies (ms) taken while the server is loaded; failures at the timeout."""

    timeout_s: float = PING_TIMEOUT_S
    latencies_ms: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def probe(self, port: int) -> None:
        """One ping: its latency when answered 200 in time, else the timeout, recorded."""
        began = time.perf_counter()
        try:
            status = request(port, p.PING, timeout=self.timeout_s)[0]
        except OSError as exc:  # timeouts included
            self.failures.append(f"{type(exc).__name__}: {exc}")
            self.latencies_ms.append(self.timeout_s * 1000)
            return
        elapsed_ms = (time.perf_counter() - began) * 1000
        if status != 200 or elapsed_ms > self.timeout_s * 1000:
            self.failures.append(f"status {status} after {elapsed_ms:.0f} ms")
            self.latencies_ms.append(self.timeout_s * 1000)
        else:
            self.latencies_ms.append(elapsed_ms)

    def run(self, port: int, delay_s: float, count: int, interval_s: float = 0.1) -> None:
        time.sleep(delay_s)
        for _ in range(count):
            self.probe(port)
            time.sleep(interval_s)

    def start(self, port: int, delay_s: float, count: int) -> threading.Thread:
        thread = threading.Thread(target=self.run, args=(port, delay_s, count), daemon=True)
        thread.start()
        return thread

    def summary(self) -> dict[str, float | int | list[str] | None]:
        ordered = sorted(self.latencies_ms)
        return {
            "busy_pings": len(ordered),
            "busy_ping_p50_ms": round(ordered[len(ordered) // 2], 2) if ordered else None,
            "busy_ping_max_ms": round(ordered[-1], 2) if ordered else None,
            "busy_ping_failures": len(self.failures),
            "busy_ping_failure_reasons": sorted(set(self.failures))[:5],
        }


def load_average() -> list[float]:
    """The machine's load average over 1, 5 and 15 minutes."""
    return [round(v, 2) for v in os.getloadavg()]


def machine_busy_pct(interval_s: float = 1.0) -> float:
    """How busy every CPU was over the next ``interval_s`` (percent), measured while no
    benchmarked server runs: the load others put on the machine."""
    return float(psutil.cpu_percent(interval=interval_s))


class OthersCpu:
    """CPU that processes outside the benchmark use during a run, in percent of the machine.

    All the machine's busy CPU time over the run, less the server tree's, this process's
    (the pinger) and its waited-for children's (wrk): what other work took from the run.
    """

    def __init__(self, tree: ProcessTree) -> None:
        self.tree = tree
        self.started = time.monotonic()
        self._machine = _machine_busy_s()
        self._ours = _own_cpu_s() + tree.cpu_seconds()

    def percent(self) -> float:
        wall = time.monotonic() - self.started
        machine = _machine_busy_s() - self._machine
        ours = _own_cpu_s() + self.tree.cpu_seconds() - self._ours
        return max(0.0, (machine - ours) / (wall * (psutil.cpu_count() or 1))) * 100


def _machine_busy_s() -> float:
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0)
                 - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0))


def _own_cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class ProcessTree:
    """A server's process and its descendants, as they are when asked."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)

    def members(self) -> list[psutil.Process]:
        return [self.root, *self.root.children(recursive=True)]

    def cpu_seconds(self) -> float:
        """User + system CPU time of the processes alive now."""
        total = 0.0
        for member in self.members():
            with contextlib.suppress(psutil.NoSuchProcess):
                times = member.cpu_times()
                total += times.user + times.system
        return total

    def memory_mib(self) -> tuple[float, float]:
        """(RSS, PSS) in MiB; PSS counts the pages forked workers share once."""
        rss = pss = 0
        for member in self.members():
            with contextlib.suppress(psutil.NoSuchProcess):
                info = member.memory_full_info()
                rss += info.rss
                pss += getattr(info, "pss", info.uss)
        return rss / 2**20, pss / 2**20


def machine_facts() -> dict[str, Any]:
    """What every benchmark report says of the machine it ran on."""
    import platform

    return {"cpus": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform()}


def pick_round(rounds: list[dict[str, Any]], score: Callable[[dict[str, Any]], float],
               keys: tuple[str, ...]) -> dict[str, Any]:
    """The round reported for one server: the first invalid one if any round was invalid
    (a failure is never hidden by a better round), else the one of highest ``score``; a
    summary of every round (``valid``, ``keys`` and how busy the machine was) is kept under
    ``rounds``."""
    invalid = [figures for figures in rounds if not figures["valid"]]
    chosen = invalid[0] if invalid else max(rounds, key=score)
    summary = [{key: f.get(key) for key in ("valid", *keys, "cpu_busy_before_pct",
                                             "others_cpu_during_pct")} for f in rounds]
    return {**chosen, "rounds": summary}
