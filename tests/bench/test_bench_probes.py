"""Busy pings count failures at their timeout; the process tree's CPU and memory are read."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from bench_helpers import answering, silent

from sagepack.bench.probes import BusyPings, OthersCpu, ProcessTree
from sagepack.ports import free_port


def test_a_ping_that_times_out_counts_at_its_timeout() -> None:
    pings = BusyPings(timeout_s=0.3)
    with silent() as port:
        pings.probe(port)
    assert pings.latencies_ms == [300.0]
    summary = pings.summary()
    assert summary["busy_ping_failures"] == 1
    assert summary["busy_ping_max_ms"] == 300.0 and summary["busy_pings"] == 1


def test_a_refused_or_unhealthy_ping_counts_at_its_timeout() -> None:
    pings = BusyPings(timeout_s=0.5)
    pings.probe(free_port())  # nobody listens
    with answering(503) as port:
        pings.probe(port)
    assert pings.latencies_ms == [500.0, 500.0]
    assert len(pings.failures) == 2 and "status 503" in pings.failures[1]


def test_an_answered_ping_reports_its_latency() -> None:
    pings = BusyPings(timeout_s=2.0)
    with answering(200) as port:
        pings.run(port, delay_s=0, count=3, interval_s=0)
    assert len(pings.latencies_ms) == 3 and pings.failures == []
    assert all(0 < ms < 2000 for ms in pings.latencies_ms)


def test_process_tree_counts_the_cpu_of_its_children() -> None:
    spin = "import time\nend = time.process_time() + 0.4\nwhile time.process_time() < end: pass\n"
    parent = subprocess.Popen([sys.executable, "-c",
                               "import subprocess, sys, time\n"
                               f"subprocess.Popen([sys.executable, '-c', {spin!r} + "
                               "'time.sleep(30)'])\ntime.sleep(30)"])
    try:
        tree = ProcessTree(parent.pid)
        deadline = time.monotonic() + 10
        while len(tree.members()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(tree.members()) == 2
        while tree.cpu_seconds() < 0.4 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert tree.cpu_seconds() >= 0.4  # the child's spin, not the idle parent's
        rss, pss = tree.memory_mib()
        assert rss > 1 and 0 < pss <= rss
    finally:
        for member in reversed(ProcessTree(parent.pid).members()):
            member.kill()
        parent.wait(10)


@pytest.mark.parametrize("host", ["127.0.0.1"])
def test_free_port_is_bindable(host: str) -> None:
    import socket

    port = free_port(host)
    with socket.socket() as sock:
        sock.bind((host, port))



SPIN = "import time\nend = time.monotonic() + 3\nwhile time.monotonic() < end: pass\n"


def others_percent_while(spinner_in_tree: bool) -> float:
    spinner = subprocess.Popen([sys.executable, "-c", SPIN])
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        time.sleep(0.3)  # both started
        others = OthersCpu(ProcessTree(spinner.pid if spinner_in_tree else idle.pid))
        time.sleep(1.5)
        return others.percent()
    finally:
        for process in (spinner, idle):
            process.kill()
            process.wait(10)


def test_others_cpu_counts_work_outside_the_server_tree_only() -> None:
    one_cpu = 100 / (os.cpu_count() or 1)
    inside = others_percent_while(spinner_in_tree=True)
    outside = others_percent_while(spinner_in_tree=False)
    # The spinner is about one CPU: counted when outside the tree, not when inside.
    assert outside - inside >= one_cpu * 0.5, (inside, outside)
