"""A SageMaker runtime in front of moto's that answers ``InvokeEndpointWithResponseStream``.

moto has no ``InvokeEndpointWithResponseStream``. :class:`StreamingRuntime` forwards every
other request (``InvokeEndpoint``...) to the real moto server, and answers
``POST /endpoints/<name>/invocations-response-stream`` itself, for an endpoint moto
holds, with the scripted events encoded as AWS's event stream (each frame: total and
headers lengths, the prelude's CRC32, typed headers, the payload and the message's CRC32),
sent as HTTP chunks one event at a time. Each stream request is recorded.
"""

from __future__ import annotations

import http.client
import json
import struct
import threading
import zlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from loopback import LoopbackServer, QuietHandler

STRING = 7  # the event stream's header value type of a UTF-8 string
STREAM_SUFFIX = "/invocations-response-stream"


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One event stream message."""
    raw = b""
    for name, value in headers.items():
        data = value.encode()
        raw += struct.pack(">B", len(name)) + name.encode() + struct.pack(">BH", STRING,
                                                                           len(data)) + data
    prelude = struct.pack(">II", 12 + len(raw) + len(payload) + 4, len(raw))
    prelude += struct.pack(">I", zlib.crc32(prelude) & 0xFFFFFFFF)
    message = prelude + raw + payload
    return message + struct.pack(">I", zlib.crc32(message) & 0xFFFFFFFF)


def payload_part(data: bytes) -> bytes:
    return frame({":message-type": "event", ":event-type": "PayloadPart",
                  ":content-type": "application/octet-stream"}, data)


def stream_error(kind: str, message: str, code: str | None = None) -> bytes:
    """A ``ModelStreamError`` or ``InternalStreamFailure`` event."""
    body = {"Message": message, **({"ErrorCode": code} if code else {})}
    return frame({":message-type": "exception", ":exception-type": kind,
                  ":content-type": "application/json"}, json.dumps(body).encode())


@dataclass(frozen=True)
class StreamRequest:
    endpoint: str
    content_type: str | None
    accept: str | None
    body: bytes


class StreamingRuntime(LoopbackServer):
    def __init__(self, upstream: str, sagemaker_url: str) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.sagemaker_url = sagemaker_url
        self.events: list[bytes] = []  # the next stream's events
        self.content_type = "text/csv"
        self.variant = "cpu"
        self.streams: list[StreamRequest] = []
        self.forwarded: list[str] = []  # paths sent on to moto
        self._lock = threading.Lock()
        super().__init__(self._handler())

    def _endpoint_exists(self, name: str) -> bool:
        import boto3
        from botocore.exceptions import ClientError

        try:
            boto3.client("sagemaker", endpoint_url=self.sagemaker_url).describe_endpoint(
                EndpointName=name)
        except ClientError:
            return False
        return True

    def _handler(self) -> type[QuietHandler]:
        runtime = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = self.read_body()
                path = urlsplit(self.path).path
                if path.endswith(STREAM_SUFFIX):
                    self._stream(unquote(path[len("/endpoints/"):-len(STREAM_SUFFIX)]), body)
                else:
                    self._forward(body)

            def _stream(self, endpoint: str, body: bytes) -> None:
                with runtime._lock:
                    runtime.streams.append(StreamRequest(
                        endpoint, self.headers.get("Content-Type"),
                        self.headers.get("X-Amzn-SageMaker-Accept"), body))
                    events = list(runtime.events)
                if not runtime._endpoint_exists(endpoint):
                    data = json.dumps({"message": f"Endpoint {endpoint} not found."}).encode()
                    self.send_response(400)
                    self.send_header("x-amzn-ErrorType", "ValidationError")
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/vnd.amazon.eventstream")
                self.send_header("X-Amzn-SageMaker-Content-Type", runtime.content_type)
                self.send_header("x-Amzn-Invoked-Production-Variant", runtime.variant)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for event in events:  # one HTTP chunk per event, as they would arrive
                    self.wfile.write(f"{len(event):x}\r\n".encode() + event + b"\r\n")
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")

            def _forward(self, body: bytes) -> None:
                with runtime._lock:
                    runtime.forwarded.append(self.path)
                headers: dict[str, Any] = {
                    k: v for k, v in self.headers.items()
                    if k.lower() not in ("connection", "content-length", "host",
                                         "transfer-encoding")}
                conn = http.client.HTTPConnection(*runtime.upstream, timeout=60)
                try:
                    conn.request("POST", self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    status, reply = resp.status, resp.getheaders()
                finally:
                    conn.close()
                self.send_response(status)
                for key, value in reply:
                    if key.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
