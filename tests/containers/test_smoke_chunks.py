"""The stream check's client: it sees each chunk of a chunked answer, and a cut stream."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from sagepack.smoke.chunks import post_streamed


def _serve(answer: list[bytes], pause_s: float = 0.0) -> Iterator[str]:
    listener = socket.create_server(("127.0.0.1", 0))
    received: list[bytes] = []

    def run() -> None:
        conn, _ = listener.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, rest = data.partition(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            while len(rest) < length:
                rest += conn.recv(65536)
            received.append(rest)
            for part in answer:
                conn.sendall(part)
                time.sleep(pause_s)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    thread.join(5)
    listener.close()
    assert received == [b"[1]"]


CHUNKED = b"HTTP/1.1 200 OK\r\nContent-Type: application/jsonlines\r\nTransfer-Encoding: chunked\r\n\r\n"


@pytest.fixture
def three_chunks() -> Iterator[str]:
    yield from _serve([CHUNKED, b"3\r\nab\n\r\n", b"3;x=1\r\ncd\n\r\n", b"2\r\nef\r\n",
                       b"0\r\n\r\n"], pause_s=0.02)


def test_each_chunk_is_seen_and_timed(three_chunks: str) -> None:
    r = post_streamed(three_chunks, "/invocations", b"[1]", {"Content-Type": "x"})
    assert (r.status, r.chunked, r.complete) == (200, True, True)
    assert r.body == b"ab\ncd\nef"
    assert [c.size for c in r.chunks] == [3, 3, 2]
    assert r.first_chunk_s is not None and r.chunks[-1].seconds > r.first_chunk_s
    assert r.headers["content-type"] == "application/jsonlines"


@pytest.fixture
def cut_stream() -> Iterator[str]:
    yield from _serve([CHUNKED, b"3\r\nab\n\r\n", b"5\r\nab"])


def test_a_cut_stream_is_incomplete(cut_stream: str) -> None:
    r = post_streamed(cut_stream, "/invocations", b"[1]", {})
    assert r.chunked and not r.complete
    assert [c.size for c in r.chunks] == [3]


@pytest.fixture
def whole_body() -> Iterator[str]:
    yield from _serve([b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n", b"abcd"])


def test_a_body_with_content_length_has_no_chunks(whole_body: str) -> None:
    r = post_streamed(whole_body, "/invocations", b"[1]", {})
    assert (r.chunked, r.chunks, r.body) == (False, (), b"abcd")
