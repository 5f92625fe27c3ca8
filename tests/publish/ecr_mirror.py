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
from typing import Any
from urllib.parse import urlsplit

import boto3
from loopback import LoopbackServer, QuietHandler

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "expect", "te", "upgrade",
               "proxy-connection"}
MANIFEST_PUT = re.compile(r"^/v2/(?P<name>.+)/manifests/(?P<reference>[^/?]+)$")


class EcrMirror(LoopbackServer):
    def __init__(self, registry_host: str, moto_url: str, region: str) -> None:
        host, _, port = registry_host.rpartition(":")
        self.upstream = (host, int(port))
        self.ecr: Any = boto3.client("ecr", region_name=region, endpoint_url=moto_url,
                                     aws_access_key_id="testing",
                                     aws_secret_access_key="testing")
        self.registered: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()
        super().__init__(self._handler_class())

    def register(self, name: str, reference: str, body: bytes, media_type: str,
                 digest: str) -> None:
        self.ecr.put_image(repositoryName=name, imageManifest=body.decode(),
                           imageManifestMediaType=media_type, imageTag=reference,
                           imageDigest=digest)
        with self._lock:
            self.registered.append((name, reference, digest))

    def _handler_class(self) -> type[QuietHandler]:
        mirror = self

        class Handler(QuietHandler):
            def _forward(self) -> None:
                body = self.read_body()
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
