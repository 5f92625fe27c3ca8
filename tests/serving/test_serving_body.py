"""Body limits as clients see them: a 413 every client reads, and batch jobs that stream."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from serving_helpers import DOUBLER, invoke, write_model
from serving_processes import Server, start, stop

from sagepack.serving import body
from sagepack.serving.app import ServingApp
from sagepack.serving.settings import Settings

App = Callable[..., ServingApp]
SEVEN_MB = b"x" * (7 * 1024 * 1024)
ECHO_SIZE = """
def model_fn(model_dir):
    return None

def transform_fn(model, body, content_type, accept):
    return str(len(body)), "text/plain"
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("body")
    running = start(root, write_model(root / "model", DOUBLER), workers=1)
    running.wait_ready()
    yield running
    stop(running)


def assert_413(status: int, payload: bytes) -> None:
    assert status == 413
    error = json.loads(payload)
    assert error["error"] == "Request Entity Too Large"
    assert "7340032 bytes exceeds the limit of 6291456 bytes" in error["message"]


@pytest.mark.slow
def test_urllib_reads_the_413(server: Server) -> None:
    request = urllib.request.Request(f"http://127.0.0.1:{server.port}/invocations",
                                     data=SEVEN_MB, headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=20)
    assert_413(caught.value.code, caught.value.read())


@pytest.mark.slow
def test_http_client_reads_the_413_and_keeps_the_connection(server: Server) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
    try:
        connection.request("POST", "/invocations", body=SEVEN_MB,
                           headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        assert_413(response.status, response.read())
        connection.request("POST", "/invocations", body=b"[1]",
                           headers={"Content-Type": "application/json"})
        assert connection.getresponse().status == 200  # the body was drained: same connection
    finally:
        connection.close()


def raw(port: int, head: bytes, payload: bytes = b"") -> bytes:
    """Send ``head`` then ``payload`` on a plain socket, then read until the server closes
    (the request says ``Connection: close``)."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(head)
        answer = b""
        sock.sendall(payload)
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@pytest.mark.slow
def test_a_raw_socket_reads_the_413(server: Server) -> None:
    head = (f"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(SEVEN_MB)}\r\nConnection: close\r\n\r\n").encode()
    answer = raw(server.port, head, SEVEN_MB)
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 413 Request Entity Too Large"
    assert_413(413, rest.partition(b"\r\n\r\n")[2])


@pytest.mark.slow
def test_a_chunked_body_over_the_limit_is_drained_too(server: Server) -> None:
    head = (b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
    piece = b"x" * 65536
    chunks = (f"{len(piece):x}\r\n".encode() + piece + b"\r\n") * 112 + b"0\r\n\r\n"
    answer = raw(server.port, head, chunks)
    assert answer.startswith(b"HTTP/1.1 413 ")
    message = json.loads(answer.partition(b"\r\n\r\n")[2])["message"]
    assert "request body of at least" in message and "limit of 6291456 bytes" in message


@pytest.mark.slow
def test_expect_continue_gets_the_413_before_sending(server: Server) -> None:
    head = (f"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(SEVEN_MB)}\r\nExpect: 100-continue\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(head)
        assert sock.recv(65536).startswith(b"HTTP/1.1 413 ")  # not "100 Continue"


def test_a_client_that_stalls_gets_its_413_within_the_bound(
        make_app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(body, "DRAIN_IDLE_S", 0.2)
    app = make_app()
    sent: list[Any] = []
    chunks = [b"x" * 1_000_000]

    async def receive() -> dict[str, object]:
        if chunks:
            return {"type": "http.request", "body": chunks.pop(), "more_body": True}
        await asyncio.sleep(3600)  # the client sends nothing more
        raise AssertionError("unreachable")

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/invocations",
             "headers": [(b"content-length", b"7340032")]}
    began = time.monotonic()
    asyncio.run(asyncio.wait_for(app(scope, receive, send), 5))  # type: ignore[arg-type]
    assert sent[0]["status"] == 413
    assert time.monotonic() - began < 1


def test_max_payload_0_in_batch_takes_any_body(make_app: App) -> None:
    app = make_app(ECHO_SIZE, batch=True, max_payload_mb=0)
    assert app.settings.max_body_bytes is None
    big = b"7" * (120 * 1024 * 1024)
    response = invoke(app, big, "text/csv")
    assert response.status_code == 200 and response.text == str(len(big))


@pytest.mark.slow
def test_server_starts_with_max_payload_0_and_takes_a_chunked_body(tmp_path: Path) -> None:
    server = start(tmp_path, write_model(tmp_path / "model", ECHO_SIZE), workers=1,
                   SAGEMAKER_BATCH="true", SAGEMAKER_MAX_PAYLOAD_IN_MB="0")
    try:
        server.wait_ready()
        head = (b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
                b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        piece = b"1" * (1024 * 1024)
        chunks = (f"{len(piece):x}\r\n".encode() + piece + b"\r\n") * 10 + b"0\r\n\r\n"
        answer = raw(server.port, head, chunks)
        assert answer.startswith(b"HTTP/1.1 200 "), answer[:300]
        assert answer.endswith(b"\r\n\r\n10485760")
        assert server.call("GET", "/execution-parameters")[0] == 200
        payload = server.call("GET", "/execution-parameters")[1]
        assert json.loads(payload)["MaxPayloadInMB"] == 0
        log = server.log.read_text()
        assert "timeout 600 s, batch (MaxPayloadInMB 0), no body limit (streamed)" in log
    finally:
        stop(server)


def test_real_time_limit_is_exactly_six_megabytes(make_app: App) -> None:
    app = make_app()
    fits = b"[" + b" " * (6 * 1024 * 1024 - 3) + b"1]"
    assert len(fits) == 6_291_456
    assert invoke(app, fits).status_code == 200
    too_big = invoke(app, fits + b" ")
    assert too_big.status_code == 413
    assert "6291457 bytes exceeds the limit of 6291456" in too_big.json()["message"]


def test_batch_limit_is_max_payload(make_app: App) -> None:
    app = make_app(batch=True, max_payload_mb=8)
    assert invoke(app, b"[" + b" " * (7 * 1024 * 1024) + b"1]").status_code == 200
    assert invoke(app, b" " * (8 * 1024 * 1024 + 1)).status_code == 413


def test_streamed_body_over_the_limit_is_413() -> None:
    app = ServingApp(replace(Settings(), model_dir=Path("/nonexistent")))
    sent: list[dict[str, object]] = []
    chunks = [b"x" * 4_000_000, b"x" * 4_000_000]

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": chunks.pop(0), "more_body": bool(chunks)}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/invocations", "headers": []}
    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    app.pool.shutdown()
    assert sent[0]["status"] == 413


def test_a_large_declared_body_arrives_whole_as_bytes_in_one_object() -> None:
    size = 3 * 1024 * 1024 + 17
    data = bytes(range(256)) * (size // 256) + b"z" * (size % 256)
    pieces = [data[i:i + 65536] for i in range(0, size, 65536)]

    async def read() -> bytes:
        queue = [{"type": "http.request", "body": piece, "more_body": i < len(pieces) - 1}
                 for i, piece in enumerate(pieces)]

        async def receive() -> dict[str, Any]:
            return queue.pop(0)
        return await body.read_body({"content-length": str(size)}, receive, None)

    got = asyncio.run(read())
    assert type(got) is bytes and got == data
    assert hash(got) == hash(data)  # a real, immutable bytes object


def test_a_client_leaving_mid_body_is_noticed_for_large_bodies_too() -> None:
    messages = [{"type": "http.request", "body": b"a" * 65536, "more_body": True},
                {"type": "http.disconnect"}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)
    with pytest.raises(body.Disconnected):
        asyncio.run(body.read_body({"content-length": str(2 * 1024 * 1024)}, receive, None))
