"""A real tiny HTTP model server on 127.0.0.1, for transform tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = tuple[int, bytes]
Model = Callable[[bytes, dict[str, str]], Reply]


def echo(body: bytes, headers: dict[str, str]) -> Reply:
    return 200, body


@dataclass
class FakeContainer:
    """Serves /ping, /execution-parameters and /invocations; records every invocation."""

    model: Model = echo
    execution_parameters: dict[str, Any] | None = None
    requests: list[bytes] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    in_flight: int = 0
    max_in_flight: int = 0
    url: str = ""

    def __post_init__(self) -> None:
        self.execution_parameter_calls = 0


def _handler(container: FakeContainer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else 40 ms delayed-ACK stalls per keep-alive request

        def log_message(self, format: str, *args: Any) -> None:
            return None

        def _send(self, status: int, body: bytes, ctype: str = "application/octet-stream") -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/ping":
                self._send(200, b"")
            elif self.path == "/execution-parameters":
                container.execution_parameter_calls += 1
                if container.execution_parameters is None:
                    self._send(404, b"not found")
                else:
                    self._send(200, json.dumps(container.execution_parameters).encode(),
                               "application/json")
            else:
                self._send(404, b"")

        def _read_body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().strip(), 16)
                    if size == 0:
                        self.rfile.readline()
                        break
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                return b"".join(chunks)
            return self.rfile.read(int(self.headers.get("Content-Length", "0")))

        def do_POST(self) -> None:
            body = self._read_body()
            if self.path != "/invocations":
                self._send(404, b"")
                return
            headers = {k.lower(): v for k, v in self.headers.items()}
            with container.lock:
                container.requests.append(body)
                container.headers.append(headers)
                container.in_flight += 1
                container.max_in_flight = max(container.max_in_flight, container.in_flight)
            try:
                status, reply = container.model(body, headers)
            finally:
                with container.lock:
                    container.in_flight -= 1
            self._send(status, reply)

    return Handler


@contextmanager
def serve(fake: FakeContainer) -> Iterator[FakeContainer]:
    """Run ``fake`` on a free port of 127.0.0.1 until the block ends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
