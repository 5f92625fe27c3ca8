"""Streaming responses through the real ``serve``: chunks as produced, a stream cut when the
handler fails, a generator closed when the client leaves, the timeout between chunks, and
``/ping`` while every worker streams."""

from __future__ import annotations

import http.client
import itertools
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from serving_helpers import write_model
from serving_processes import Server, start, stop

pytestmark = pytest.mark.slow

# transform_fn streams what the request orders: {"mode", "n", "gap", ...}.
STREAMER = """
import asyncio
import json
import os
import time
from pathlib import Path

def model_fn(model_dir):
    return Path(os.environ["SLEEPER_MARKS"])

def transform_fn(marks, body, content_type, accept):
    order = json.loads(body)
    mode, n, gap = order["mode"], order.get("n", 3), order.get("gap", 0.0)
    if mode == "whole":
        return json.dumps({"whole": True}), "application/json"
    if mode == "async":
        async def tokens():
            for i in range(n):
                await asyncio.sleep(gap)
                yield f"data: {i}\\n\\n"
        return tokens(), "text/event-stream"
    if mode == "fail-first":
        def broken():
            raise ValueError("no tokens at all (marker 77aa)")
            yield ""
        return broken(), "text/event-stream"

    def tokens():
        mark = marks / f"{os.getpid()}-{time.monotonic_ns()}"
        mark.write_text("")
        sent = 0
        try:
            for i in range(n):
                if mode == "fail" and i == order["at"]:
                    raise RuntimeError("the decoder broke (marker 3e1f)")
                time.sleep(order["stall"] if mode == "stall" and i == 1 else gap)
                yield f"data: {i}\\n\\n"
                sent += 1
        finally:
            mark.unlink()
            (marks.parent / f"closed-{order.get('tag', 'x')}").write_text(str(sent))
    return tokens(), "text/event-stream"
"""

# predict_fn yields one JSON line per input row; the default decoder reads the body.
ROWS = """
import json
import numpy as np

def model_fn(model_dir):
    return None

def predict_fn(data, model):
    for row in np.asarray(data):
        yield json.dumps({"sum": float(row.sum())}) + "\\n"
"""


class Streamed:
    """A streamed response read chunk by chunk, with the arrival time of each."""

    def __init__(self, response: http.client.HTTPResponse, began: float) -> None:
        self.response = response
        self.began = began
        self.arrivals: list[tuple[float, bytes]] = []
        self.broken: Exception | None = None

    @property
    def body(self) -> bytes:
        return b"".join(data for _, data in self.arrivals)

    def read(self, limit: int | None = None) -> Streamed:
        while limit is None or len(self.arrivals) < limit:
            try:
                data = self.response.read1(65536)
            except (http.client.IncompleteRead, ConnectionError) as exc:
                self.broken = exc
                return self
            if not data:
                return self
            self.arrivals.append((time.monotonic() - self.began, data))
        return self


def post(server: Server, order: object, **headers: str) -> tuple[
        http.client.HTTPConnection, Streamed]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    began = time.monotonic()
    connection.request("POST", "/invocations", body=json.dumps(order).encode(),
                       headers={"Content-Type": "application/json", **headers})
    return connection, Streamed(connection.getresponse(), began)


def stream(server: Server, order: object, **headers: str) -> Streamed:
    connection, streamed = post(server, order, **headers)
    try:
        return streamed.read()
    finally:
        connection.close()


def wait_for(path: Path, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if path.exists():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture(scope="module")
def streamer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("streamer")
    server = start(root, write_model(root / "model", STREAMER), workers=1,
                   SAGEMAKER_MODEL_SERVER_TIMEOUT="1")
    server.wait_ready()
    yield server
    stop(server)


def test_each_chunk_is_sent_as_it_is_produced(streamer: Server) -> None:
    got = stream(streamer, {"mode": "sync", "n": 5, "gap": 0.3})
    headers = {key.lower(): value for key, value in got.response.getheaders()}
    assert got.response.status == 200
    assert headers["transfer-encoding"] == "chunked" and "content-length" not in headers
    assert headers["content-type"] == "text/event-stream"
    assert got.body == b"".join(f"data: {i}\n\n".encode() for i in range(5))
    assert got.broken is None
    times = [arrived for arrived, _ in got.arrivals]
    # One read per chunk, each about 0.3 s after the one before: nothing is held back.
    assert len(times) == 5, got.arrivals
    assert times[0] < 0.6, f"the first chunk took {times[0]:.2f} s"
    assert all(later - earlier > 0.15 for earlier, later in itertools.pairwise(times)), times


def test_an_async_generator_streams_too(streamer: Server) -> None:
    got = stream(streamer, {"mode": "async", "n": 4, "gap": 0.25})
    assert got.response.status == 200 and got.broken is None
    assert got.body == b"".join(f"data: {i}\n\n".encode() for i in range(4))
    assert len(got.arrivals) == 4 and got.arrivals[0][0] < 0.5
    assert got.arrivals[-1][0] - got.arrivals[0][0] > 0.5


def test_a_handler_that_does_not_stream_keeps_content_length(streamer: Server) -> None:
    got = stream(streamer, {"mode": "whole"})
    headers = {key.lower(): value for key, value in got.response.getheaders()}
    assert headers["content-length"] == str(len(got.body)) and "transfer-encoding" not in headers
    assert json.loads(got.body) == {"whole": True}


def test_a_stream_failing_before_its_first_chunk_is_an_ordinary_error(streamer: Server) -> None:
    got = stream(streamer, {"mode": "fail-first"})
    assert got.response.status == 500
    assert "no tokens at all (marker 77aa)" in json.loads(got.body)["message"]


def test_a_failure_mid_stream_breaks_the_stream_and_the_worker_serves_on(
        streamer: Server) -> None:
    got = stream(streamer, {"mode": "fail", "n": 5, "at": 2, "tag": "fail"},
                 **{"X-Amzn-SageMaker-Inference-Id": "inf-9c41"})
    assert got.response.status == 200  # the headers were out before it broke
    assert got.body == b"data: 0\n\ndata: 1\n\n"
    assert isinstance(got.broken, http.client.IncompleteRead), \
        "the stream ended cleanly: the client cannot tell it was cut"
    log = streamer.log.read_text()
    line = next(line for line in log.splitlines() if "inf-9c41" in line and "cut" in line)
    assert "after 18 bytes in 2 chunks" in line, line
    assert "RuntimeError: the decoder broke (marker 3e1f)" in log
    assert 'raise RuntimeError("the decoder broke' in log, "no traceback in the log"
    assert "Exception in ASGI application" not in log
    again = stream(streamer, {"mode": "sync", "n": 2})
    assert again.response.status == 200 and again.broken is None


def test_a_client_that_leaves_stops_the_generator(streamer: Server) -> None:
    closed = streamer.marks.parent / "closed-leaver"
    connection, streamed = post(streamer, {"mode": "sync", "n": 1000, "gap": 0.05,
                                           "tag": "leaver"})
    streamed.read(limit=3)
    assert len(streamed.arrivals) == 3
    connection.sock.shutdown(socket.SHUT_RDWR)  # type: ignore[union-attr]
    connection.close()
    assert wait_for(closed, within=3), "the generator's finally never ran"
    assert int(closed.read_text()) < 100, "the generator ran on after the client left"
    assert "the client left the stream" in streamer.log.read_text()


def test_the_timeout_applies_between_chunks_not_to_the_whole_stream(streamer: Server) -> None:
    # SAGEMAKER_MODEL_SERVER_TIMEOUT is 1 s: 5 chunks 0.5 s apart take 2.5 s and pass.
    slow = stream(streamer, {"mode": "sync", "n": 5, "gap": 0.5})
    assert slow.broken is None and len(slow.arrivals) == 5
    assert slow.arrivals[-1][0] > 2.0
    # A gap of 2 s between two chunks cuts the stream.
    stalled = stream(streamer, {"mode": "stall", "n": 3, "stall": 2.0, "tag": "stall"},
                     **{"X-Amzn-SageMaker-Inference-Id": "inf-stall"})
    assert stalled.body == b"data: 0\n\n"
    assert isinstance(stalled.broken, http.client.IncompleteRead)
    line = next(line for line in streamer.log.read_text().splitlines()
                if "inf-stall" in line and "cut" in line)
    assert "no chunk within SAGEMAKER_MODEL_SERVER_TIMEOUT=1 s" in line, line


def test_predict_fn_streams_one_line_per_row_with_the_accept_type(tmp_path: Path) -> None:
    server = start(tmp_path, write_model(tmp_path / "model", ROWS), workers=1)
    try:
        server.wait_ready()
        got = stream(server, [[1, 2], [3, 4], [5, 6]], Accept="application/jsonlines")
        assert got.response.status == 200 and got.broken is None
        assert got.response.getheader("content-type") == "application/jsonlines"
        lines = got.body.decode().splitlines()
        assert [json.loads(line) for line in lines] == [{"sum": 3.0}, {"sum": 7.0}, {"sum": 11.0}]
    finally:
        stop(server)


def test_ping_answers_within_50_ms_while_every_worker_streams(tmp_path: Path) -> None:
    server = start(tmp_path, write_model(tmp_path / "model", STREAMER), workers=2,
                   SAGEPACK_ACCESS_LOG="false")
    try:
        server.wait_ready()
        results: list[Streamed] = []
        threads: list[threading.Thread] = []
        deadline = time.monotonic() + 10
        while len(server.busy_pids()) < 2 and time.monotonic() < deadline:
            thread = threading.Thread(target=lambda: results.append(
                stream(server, {"mode": "sync", "n": 60, "gap": 0.05})))
            thread.start()
            threads.append(thread)
            time.sleep(0.1)
        assert len(server.busy_pids()) == 2, "not every worker was streaming"
        pings = []
        for _ in range(30):
            if len(server.busy_pids()) < 2:
                break
            pings.append(server.call("GET", "/ping", timeout=2))
            time.sleep(0.02)
        assert len(pings) >= 10, "the streams ended before /ping was measured"
        assert all(status == 200 for status, _, _ in pings)
        slowest = max(elapsed for _, _, elapsed in pings)
        assert slowest < 0.05, f"slowest /ping took {slowest * 1000:.1f} ms while streaming"
        for thread in threads:
            thread.join(30)
        assert results and all(r.broken is None and len(r.arrivals) > 1 for r in results)
    finally:
        stop(server)
