"""Reading a streamed (HTTP/1.1 chunked) response as it arrives, chunk by chunk.

``requests`` and ``http.client`` join the chunks and hide where one ends; the stream check
needs the framing itself (how many chunks, when each came), so this client speaks HTTP/1.1
on a plain socket: it sends one request with a Content-Length and parses the answer's
chunked framing (RFC 9112 section 7.1), timing each chunk from the moment the request was
sent. A response with a Content-Length is read whole and has no chunks.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from typing import BinaryIO
from urllib.parse import urlsplit

from sagepack.errors import ContainerError

MAX_LINE = 64 * 1024


@dataclass(frozen=True)
class Chunk:
    size: int
    seconds: float
    """When the chunk had fully arrived, counted from the end of the request."""


@dataclass(frozen=True)
class StreamedResponse:
    status: int
    headers: dict[str, str]
    """Header names in lower case (a repeated header: the values joined with ``, ``)."""
    body: bytes
    chunks: tuple[Chunk, ...] = field(default_factory=tuple)
    chunked: bool = False
    complete: bool = True
    """Chunked: the terminating zero-size chunk came (a cut stream has not)."""
    seconds: float = 0.0
    """From the end of the request to the end of the response."""

    @property
    def first_chunk_s(self) -> float | None:
        return self.chunks[0].seconds if self.chunks else None


def _line(fh: BinaryIO, what: str) -> bytes:
    line = fh.readline(MAX_LINE + 1)
    if not line:
        raise EOFError(f"the connection closed before the {what}")
    if len(line) > MAX_LINE or not line.endswith(b"\n"):
        raise ContainerError(f"a malformed {what}: {line[:100]!r}")
    return line.rstrip(b"\r\n")


def _exact(fh: BinaryIO, size: int, what: str) -> bytes:
    data = fh.read(size)
    if len(data) != size:
        raise EOFError(f"the connection closed {size - len(data)} bytes into the {what}")
    return data


def _head(fh: BinaryIO) -> tuple[int, dict[str, str]]:
    status_line = _line(fh, "status line").decode("latin-1")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ContainerError(f"not an HTTP status line: {status_line!r}")
    headers: dict[str, str] = {}
    while True:
        raw = _line(fh, "headers").decode("latin-1")
        if not raw:
            return int(parts[1]), headers
        name, _, value = raw.partition(":")
        key = name.strip().lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()


def _read_chunks(fh: BinaryIO, sent: float) -> tuple[bytes, list[Chunk], bool]:
    body = bytearray()
    chunks: list[Chunk] = []
    try:
        while True:
            size_text = _line(fh, "chunk size").split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise ContainerError(f"a malformed chunk size {size_text[:40]!r}") from None
            if size == 0:
                while _line(fh, "trailers"):
                    pass
                return bytes(body), chunks, True
            body += _exact(fh, size, "chunk")
            if _exact(fh, 2, "chunk's end") != b"\r\n":
                raise ContainerError("a chunk is not followed by CRLF")
            chunks.append(Chunk(size, time.perf_counter() - sent))
    except (EOFError, OSError):
        return bytes(body), chunks, False


def post_streamed(url: str, path: str, body: bytes, headers: dict[str, str], *,
                  timeout_s: float = 60.0) -> StreamedResponse:
    """POST ``body`` to ``url`` + ``path`` and read the answer chunk by chunk."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    head = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close",
            f"Content-Length: {len(body)}"]
    head += [f"{key}: {value}" for key, value in headers.items()]
    request = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        sock.sendall(request)
        sent = time.perf_counter()
        with sock.makefile("rb") as fh:
            status, response_headers = _head(fh)
            if "chunked" in response_headers.get("transfer-encoding", "").lower():
                data, chunks, complete = _read_chunks(fh, sent)
                return StreamedResponse(status, response_headers, data, tuple(chunks),
                                        chunked=True, complete=complete,
                                        seconds=time.perf_counter() - sent)
            length = response_headers.get("content-length")
            data = _exact(fh, int(length), "body") if length is not None else fh.read()
            return StreamedResponse(status, response_headers, data,
                                    seconds=time.perf_counter() - sent)
