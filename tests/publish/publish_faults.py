"""A fault-injecting HTTP proxy on loopback, in front of moto's S3.

While ``failing`` is set, every S3 UploadPart request with a part number of at least
``from_part`` is cut: the proxy reads ``cut_after`` bytes of its body, then drops the
connection without answering, as a network failure mid-upload would. Everything else is
forwarded unchanged; each PUT is held ``put_delay_s`` before it is forwarded, and the most
PUTs in flight at once is kept in ``max_in_flight`` (to show uploads run concurrently).
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
from urllib.parse import parse_qs, urlsplit

from loopback import LoopbackServer, QuietHandler

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "expect", "te", "upgrade",
               "proxy-connection"}


class CuttingProxy(LoopbackServer):
    def __init__(self, upstream: str, *, cut_after: int = 64 * 1024, from_part: int = 2) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.cut_after = cut_after
        self.from_part = from_part
        self.failing = False
        self.cuts = 0
        self.parts_forwarded = 0
        self.put_delay_s = 0.0
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        super().__init__(self._handler_class())

    def _should_cut(self, method: str, path: str) -> bool:
        if not self.failing or method != "PUT":
            return False
        query = parse_qs(urlsplit(path).query)
        numbers = query.get("partNumber")
        return bool(numbers) and int(numbers[0]) >= self.from_part

    def _handler_class(self) -> type[QuietHandler]:
        proxy = self

        class Handler(QuietHandler):
            def _forward(self) -> None:
                if proxy._should_cut(self.command, self.path):
                    length = int(self.headers.get("Content-Length") or proxy.cut_after)
                    self.rfile.read(min(length, proxy.cut_after))
                    with proxy._lock:
                        proxy.cuts += 1
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(socket.SHUT_RDWR)
                    return
                body = self.read_body()
                if self.command == "PUT":
                    with proxy._lock:
                        proxy.in_flight += 1
                        proxy.max_in_flight = max(proxy.max_in_flight, proxy.in_flight)
                    time.sleep(proxy.put_delay_s)
                    with proxy._lock:
                        proxy.in_flight -= 1
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in HOP_HEADERS}
                if body or self.command in ("PUT", "POST"):
                    headers["Content-Length"] = str(len(body))
                conn = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port,
                                                  timeout=120)
                try:
                    conn.request(self.command, self.path, body=body or None, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    if "partNumber" in self.path:
                        with proxy._lock:
                            proxy.parts_forwarded += 1
                    self.send_response(resp.status, resp.reason)
                    for key, value in resp.getheaders():
                        if key.lower() not in HOP_HEADERS and key.lower() != "content-length":
                            self.send_header(key, value)
                    if self.command == "HEAD":
                        length = resp.getheader("Content-Length")
                        if length is not None:
                            self.send_header("Content-Length", length)
                    else:
                        self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                finally:
                    conn.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        return Handler
