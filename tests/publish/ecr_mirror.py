"""A proxy in front of the local registry that tells moto's ECR about every manifest pushed.

In AWS the registry and the ECR API are one service: a pushed image is at once visible to
``DescribeImages`` and scanned. Locally they are two processes, so this proxy forwards
everything to the registry and, when a manifest ``PUT`` succeeds, registers the same
manifest, tag and digest with moto (``PutImage``) before answering the pusher.
"""

from __future__ import annotations

import http.client
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import boto3

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "expect", "te", "upgrade",
               "proxy-connection"}
MANIFEST_PUT = re.compile(r"^/v2/(?P<name>.+)/manifests/(?P<reference>[^/?]+)$")


class EcrMirror:
    def __init__(self, registry_host: str, moto_url: str, region: str) -> None:
        host, _, port = registry_host.rpartition(":")
        self.upstream = (host, int(port))
        self.ecr: Any = boto3.client("ecr", region_name=region, endpoint_url=moto_url,
                                     aws_access_key_id="testing",
                                     aws_secret_access_key="testing")
        self.registered: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    def start(self) -> EcrMirror:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def register(self, name: str, reference: str, body: bytes, media_type: str,
                 digest: str) -> None:
        self.ecr.put_image(repositoryName=name, imageManifest=body.decode(),
                           imageManifestMediaType=media_type, imageTag=reference,
                           imageDigest=digest)
        with self._lock:
            self.registered.append((name, reference, digest))

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    data = bytearray()
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return bytes(data)
                        data += self.rfile.read(size)
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _forward(self) -> None:
                body = self._body()
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in HOP_HEADERS}
                headers["Content-Length"] = str(len(body))
                conn = http.client.HTTPConnection(*mirror.upstream, timeout=300)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    status = resp.status
                    path = urlsplit(self.path).path
                    match = MANIFEST_PUT.match(path)
                    if self.command == "PUT" and status == 201 and match:
                        try:
                            mirror.register(match["name"], match["reference"], body,
                                            self.headers.get("Content-Type", ""),
                                            resp.getheader("Docker-Content-Digest", ""))
                        except Exception as exc:  # noqa: BLE001 - the pusher sees it
                            status, data = 500, f"ECR mirror: {exc}".encode()
                    self.send_response(status)
                    for key, value in resp.getheaders():
                        if key.lower() not in HOP_HEADERS and key.lower() != "content-length":
                            self.send_header(key, value)
                    if self.command == "HEAD":
                        self.send_header("Content-Length",
                                         resp.getheader("Content-Length") or "0")
                    else:
                        self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                finally:
                    conn.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _forward

        return Handler
