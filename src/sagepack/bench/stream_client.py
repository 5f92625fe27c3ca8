"""The streaming benchmark's client: one keep-alive connection, raw HTTP/1.1, every line of a
chunked answer stamped with when it arrived.

A socket read is stamped with ``time.monotonic_ns()`` as soon as it returns, and the bytes
it brought are parsed at once, so each line's end and the first body byte carry the stamp
of the read that delivered them. The clock is the one the benchmark's handler stamps its
chunks with (:mod:`sagepack.bench.apps.ticker`): their difference is the time a chunk took
from the handler's ``yield`` to the client.

A reply that is not a complete chunked 200 says why in ``problem``; the connection is then
closed and the next request opens a new one.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field

HEADER_LIMIT = 65_536
_READ = 65_536


@dataclass
class Reply:
    """One answer as the client saw it (times in ``time.monotonic_ns()``)."""

    sent_ns: int
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    chunks: int = 0  # HTTP chunks with data
    first_byte_ns: int | None = None  # when the first body byte arrived
    lines: list[tuple[bytes, int]] = field(default_factory=list)  # each line, when it ended
    body: bytearray = field(default_factory=bytearray)
    complete: bool = False  # the terminating chunk arrived
    done_ns: int = 0
    problem: str | None = None

    @property
    def chunked(self) -> bool:
        return self.headers.get("transfer-encoding", "").lower() == "chunked"


class _Framing(Exception):
    """The server broke the HTTP framing, or the connection."""


class StreamClient:
    """POSTs to one server over one connection, reopened after a failed reply."""

    def __init__(self, port: int, *, timeout_s: float = 10.0) -> None:
        self.port = port
        self.timeout_s = timeout_s
        self._sock: socket.socket | None = None
        self._data = bytearray()
        self._at = 0  # parse position in _data
        self._read_ns = 0  # when the last read returned

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> StreamClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connect(self) -> socket.socket:
        if self._sock is None:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout_s)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock = sock
            self._data.clear()
            self._at = 0
        return self._sock

    def _read(self) -> None:
        assert self._sock is not None
        if self._at:
            del self._data[:self._at]
            self._at = 0
        data = self._sock.recv(_READ)
        self._read_ns = time.monotonic_ns()
        if not data:
            raise _Framing("the server closed the connection")
        self._data += data

    def post(self, path: str, body: bytes, *, content_type: str,
             accept: str) -> Reply:
        """Send one request and read its whole answer."""
        request = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                   f"Content-Type: {content_type}\r\nAccept: {accept}\r\n"
                   f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1") + body
        try:
            sock = self._connect()
        except OSError as exc:
            return Reply(time.monotonic_ns(), problem=f"cannot connect: {exc}")
        reply = Reply(time.monotonic_ns())
        try:
            sock.sendall(request)
            self._head(reply)
            if not reply.chunked:
                self._sized(reply)
                reply.problem = (f"status {reply.status}, not chunked "
                                 f"(Content-Length {reply.headers.get('content-length')})")
            else:
                self._chunks(reply)
                if reply.status != 200:
                    reply.problem = f"status {reply.status}"
        except (OSError, _Framing) as exc:  # socket.timeout is an OSError
            reply.problem = (f"{type(exc).__name__}: {exc} after {len(reply.body)} bytes in "
                             f"{reply.chunks} chunks (status {reply.status or 'none'})")
        reply.done_ns = time.monotonic_ns()
        if reply.problem is not None:
            if reply.status and reply.status != 200:
                reply.problem += f": {bytes(reply.body[:200])!r}"
            self.close()
        return reply

    def _head(self, reply: Reply) -> None:
        while (end := self._data.find(b"\r\n\r\n", self._at)) < 0:
            if len(self._data) - self._at > HEADER_LIMIT:
                raise _Framing("no end of the headers")
            self._read()
        lines = bytes(self._data[self._at:end]).decode("latin-1").split("\r\n")
        self._at = end + 4
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise _Framing(f"bad status line {lines[0]!r}")
        reply.status = int(parts[1])
        for header in lines[1:]:
            name, _, value = header.partition(":")
            reply.headers[name.strip().lower()] = value.strip()

    def _sized(self, reply: Reply) -> None:
        """Read (and keep) a Content-Length body, so the reply can be shown."""
        length = int(reply.headers.get("content-length") or 0)
        while len(self._data) - self._at < length:
            self._read()
        reply.body += self._data[self._at:self._at + length]
        self._at += length

    def _line(self) -> bytes:
        while (end := self._data.find(b"\r\n", self._at)) < 0:
            if len(self._data) - self._at > HEADER_LIMIT:
                raise _Framing("a chunk size line without its end")
            self._read()
        text = bytes(self._data[self._at:end])
        self._at = end + 2
        return text

    def _chunks(self, reply: Reply) -> None:
        """Read the chunked body, stamping the first byte and each line's end."""
        line_start = 0
        while True:
            size_text = self._line().split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise _Framing(f"bad chunk size {size_text[:40]!r}") from None
            if size == 0:
                while self._line():  # trailers, up to the empty line
                    pass
                reply.complete = True
                return
            reply.chunks += 1
            left = size
            while left:
                if self._at == len(self._data):
                    self._read()
                take = bytes(self._data[self._at:self._at + left])
                self._at += len(take)
                left -= len(take)
                if reply.first_byte_ns is None:
                    reply.first_byte_ns = self._read_ns
                offset = len(reply.body)
                reply.body += take
                while (newline := take.find(b"\n")) >= 0:
                    end = offset + newline + 1
                    reply.lines.append((bytes(reply.body[line_start:end]), self._read_ns))
                    line_start = end
                    take = take[newline + 1:]
                    offset = end
            if self._line():
                raise _Framing("no CRLF after a chunk's data")
