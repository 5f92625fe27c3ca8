"""A proxy in front of moto's SageMaker that plays a script of model package statuses.

moto creates every model package ``Completed`` at once. SageMaker runs the validation
transform and the image scans first; to see a publish follow them, each
``DescribeModelPackage`` answer passing through here gets the next state of ``script``
(the last one repeats): its ``ModelPackageStatus`` and ``ModelPackageStatusDetails``.
Everything else is forwarded unchanged.
"""

from __future__ import annotations

import http.client
import json
import threading
from typing import Any
from urllib.parse import urlsplit

from loopback import LoopbackServer, QuietHandler

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "expect", "te", "upgrade",
               "proxy-connection", "content-length"}
TARGET = "SageMaker.DescribeModelPackage"


def state(status: str, validation: str, scan: str, reason: str = "") -> dict[str, Any]:
    """One state: the package status, its validation's and its image scan's."""
    scan_entry = {"Name": "image", "Status": scan}
    if reason:
        scan_entry["FailureReason"] = reason
    return {"ModelPackageStatus": status, "ModelPackageStatusDetails": {
        "ValidationStatuses": [{"Name": "validation", "Status": validation}],
        "ImageScanStatuses": [scan_entry]}}


class StatusScript(LoopbackServer):
    def __init__(self, upstream: str, script: list[dict[str, Any]]) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.script = list(script)
        self.described = 0
        self._lock = threading.Lock()
        super().__init__(self._handler_class())

    def rewrite(self, data: bytes) -> bytes:
        with self._lock:
            step = self.script[min(self.described, len(self.script) - 1)]
            self.described += 1
        body = json.loads(data)
        body.update(step)
        return json.dumps(body).encode()

    def _handler_class(self) -> type[QuietHandler]:
        proxy = self

        class Handler(QuietHandler):
            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in HOP_HEADERS}
                headers["Content-Length"] = str(len(body))
                conn = http.client.HTTPConnection(*proxy.upstream, timeout=120)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    if resp.status == 200 and self.headers.get("X-Amz-Target") == TARGET:
                        data = proxy.rewrite(data)
                    self.send_response(resp.status)
                    for key, value in resp.getheaders():
                        if key.lower() not in HOP_HEADERS:
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                finally:
                    conn.close()

            do_GET = do_PUT = do_POST = do_DELETE = _forward

        return Handler
