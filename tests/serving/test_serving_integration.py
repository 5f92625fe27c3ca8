"""The real ``serve`` as a subprocess: readiness, /ping while busy, SIGTERM mid-request."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from serving_helpers import write_model
from serving_processes import REPO, Server, alive, start, stop

pytestmark = pytest.mark.slow

SERVE = REPO / "containers" / "serve"

# Sleeps for the number of seconds in the body; notes which worker is busy while it sleeps.
SLEEPER = """
import os
import time
from pathlib import Path

def model_fn(model_dir):
    return Path(os.environ["SLEEPER_MARKS"])

def predict_fn(data, marks):
    mark = marks / f"{os.getpid()}-{time.monotonic_ns()}"
    mark.write_text("")
    try:
        time.sleep(float(data.flat[0]))
    finally:
        mark.unlink()
    return {"slept": float(data.flat[0]), "pid": os.getpid()}
"""


@pytest.fixture
def sleeper(tmp_path: Path) -> Iterator[Server]:
    server = start(tmp_path, write_model(tmp_path / "model", SLEEPER))
    yield server
    stop(server)


def test_ping_answers_fast_while_every_worker_is_busy(sleeper: Server) -> None:
    sleeper.wait_ready()
    results: list[tuple[int, bytes, float]] = []
    threads: list[threading.Thread] = []
    # Keep sending 3-second invocations until both workers are sleeping in one.
    deadline = time.monotonic() + 10
    while len(sleeper.busy_pids()) < 2 and time.monotonic() < deadline:
        thread = threading.Thread(target=lambda: results.append(sleeper.sleep_request(3)))
        thread.start()
        threads.append(thread)
        time.sleep(0.05)
    assert len(sleeper.busy_pids()) == 2, sleeper.log.read_text()
    pings = [sleeper.call("GET", "/ping", timeout=2) for _ in range(10)]
    assert all(status == 200 for status, _, _ in pings)
    slowest = max(elapsed for _, _, elapsed in pings)
    assert slowest < 0.5, f"slowest /ping took {slowest:.3f} s while busy"
    for thread in threads:
        thread.join(20)
    assert results and all(status == 200 for status, _, _ in results)


def test_sigterm_finishes_the_request_in_flight_and_exits_0(sleeper: Server) -> None:
    sleeper.wait_ready()
    result: list[tuple[int, bytes, float]] = []
    thread = threading.Thread(target=lambda: result.append(sleeper.sleep_request(2)))
    thread.start()
    deadline = time.monotonic() + 5
    while not sleeper.busy_pids() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sleeper.busy_pids(), "the request never started"
    sleeper.process.send_signal(signal.SIGTERM)
    stopped = time.monotonic()
    thread.join(15)
    assert result, "the in-flight request got no answer"
    status, body, _ = result[0]
    assert status == 200 and json.loads(body)["slept"] == 2
    assert sleeper.process.wait(15) == 0
    assert time.monotonic() - stopped < 6
    log = sleeper.log.read_text()
    assert "SIGTERM: finishing in-flight requests" in log
    assert "server stopped" in log
    # New connections are refused once the server is gone.
    with pytest.raises(OSError):
        sleeper.call("GET", "/ping", timeout=2)


def test_timeout_and_replacement_of_a_wedged_worker(tmp_path: Path) -> None:
    server = start(tmp_path, write_model(tmp_path / "model", SLEEPER), workers=1,
                   SAGEMAKER_MODEL_SERVER_TIMEOUT="0.5", SAGEPACK_MAX_HUNG_THREADS="1")
    try:
        server.wait_ready()
        first_pid = json.loads(server.sleep_request(0)[1])["pid"]
        status, body, elapsed = server.sleep_request(5)
        assert status == 504 and elapsed < 2
        assert "SAGEMAKER_MODEL_SERVER_TIMEOUT=0.5 s" in json.loads(body)["message"]
        # The worker asks to be replaced; a new one answers within a few seconds.
        deadline = time.monotonic() + 10
        answer: tuple[int, bytes, float] = (0, b"", 0.0)
        while time.monotonic() < deadline:
            try:
                answer = server.sleep_request(0)
            except OSError:
                answer = (0, b"", 0.0)
            if answer[0] == 200 and json.loads(answer[1])["pid"] != first_pid:
                break
            time.sleep(0.05)
        assert answer[0] == 200, server.log.read_text()
        assert json.loads(answer[1])["pid"] != first_pid
        assert "asked to be replaced" in server.log.read_text()
    finally:
        stop(server)
    assert server.process.returncode == 0


def test_serve_script_execs_the_server_and_serves_the_example_model(tmp_path: Path) -> None:
    iris = REPO / "artifacts" / "iris"
    if not (iris / "code" / "inference.py").is_file():
        pytest.skip("artifacts/iris is not there")
    assert os.access(SERVE, os.X_OK), "containers/serve must be executable"
    server = start(tmp_path, iris, workers=2, argv=[str(SERVE)])
    try:
        cold = server.wait_ready()
        cmdline = Path(f"/proc/{server.process.pid}/cmdline").read_bytes()
        assert b"sagepack.serving" in cmdline, "serve must exec the server, not wrap it"
        rows = (iris / "samples" / "request.csv").read_bytes()
        status, body, _ = server.call("POST", "/invocations", rows,
                                      {"Content-Type": "text/csv", "Accept": "text/csv"})
        assert status == 200
        assert len(body.decode().splitlines()) == len([r for r in rows.splitlines() if r])
        status, body, _ = server.call("GET", "/execution-parameters")
        assert json.loads(body)["MaxConcurrentTransforms"] == 2
        assert cold < 5
    finally:
        stop(server)
    assert server.process.returncode == 0
    log = server.log.read_text()
    assert "listening on 127.0.0.1" in log and "2 worker(s)" in log
    assert '"POST /invocations" 200' in log


def test_workers_stop_when_the_supervisor_is_killed(tmp_path: Path) -> None:
    server = start(tmp_path, write_model(tmp_path / "model", SLEEPER), workers=2)
    try:
        server.wait_ready()
        pids = {json.loads(server.sleep_request(0)[1])["pid"] for _ in range(20)}
        workers = [int(p) for p in Path(f"/proc/{server.process.pid}/task/{server.process.pid}"
                                        "/children").read_text().split()]
        assert pids <= set(workers) and len(workers) == 2
        server.process.kill()
        server.process.wait(5)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(alive(p) for p in workers):
            time.sleep(0.05)
        assert not any(alive(p) for p in workers), "orphaned workers live on"
        assert "the supervisor is gone" in server.log.read_text()
    finally:
        stop(server)
