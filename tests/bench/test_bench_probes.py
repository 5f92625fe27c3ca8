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


def test_others_cpu_counts_work_outside_the_server_tree_only() -> None:
    # One window, two views of it: the spinner as the server's tree, and an idle process as
    # the server's tree. Whatever else the machine does is in both; the spinner only in the
    # second, so the difference is the spinner's own CPU share, measured by psutil.
    spinner = subprocess.Popen([sys.executable, "-c", SPIN])
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        time.sleep(0.3)  # both started
        spinning = ProcessTree(spinner.pid)
        spun_before = spinning.cpu_seconds()
        started = time.monotonic()
        inside = OthersCpu(spinning)
        outside = OthersCpu(ProcessTree(idle.pid))
        time.sleep(1.5)
        inside_pct, outside_pct = inside.percent(), outside.percent()
        spinner_pct = ((spinning.cpu_seconds() - spun_before)
                       / ((time.monotonic() - started) * (os.cpu_count() or 1)) * 100)
    finally:
        for process in (spinner, idle):
            process.kill()
            process.wait(10)
    assert spinner_pct > 5, spinner_pct  # it did spin
    assert outside_pct - inside_pct == pytest.approx(spinner_pct, rel=0.3, abs=3), (
        inside_pct, outside_pct, spinner_pct)
