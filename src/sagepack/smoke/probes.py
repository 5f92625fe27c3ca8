"""HTTP helpers of the image checks: sample requests, big bodies, raw requests."""

from __future__ import annotations

import http.client
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from sagepack.config import Sample
from sagepack.serving import parameters as p

LINE_TYPES = ("text/csv", "application/jsonlines", "application/x-jsonlines",
              "application/json-lines", "text/plain")


def media(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


def invoke_sample(session: requests.Session, url: str, sample: Sample,
                  extra_headers: dict[str, str] | None = None,
                  timeout_s: float = 60.0) -> requests.Response:
    headers = {"Content-Type": sample.content_type, "Accept": sample.accept,
               **(extra_headers or {})}
    return session.post(f"{url}{p.INVOCATIONS}", data=sample.body.read_bytes(), headers=headers,
                        timeout=timeout_s)


def line_sample(samples: tuple[Sample, ...]) -> Sample | None:
    """A sample whose body is records, one per line (CSV, JSON Lines): it can be grown."""
    for sample in samples:
        if media(sample.content_type) in LINE_TYPES:
            return sample
    return None


def grown_body(sample: Sample, size: int, *, exact: bool = False) -> bytes:
    """``sample``'s lines repeated up to ``size`` bytes (padded with newlines if ``exact``)."""
    lines = [line + b"\n" for line in sample.body.read_bytes().splitlines() if line.strip()]
    unit = b"".join(lines)
    body = unit * max(1, size // len(unit))
    for line in lines:
        if len(body) + len(line) > size:
            break
        body += line
    if exact and len(body) < size:
        body += b"\n" * (size - len(body))
    return body[:size] if exact else body


@dataclass(frozen=True)
class RawResponse:
    status: int | None
    body: bytes
    error: str | None
    seconds: float


def post_raw(url: str, body: bytes, headers: dict[str, str], *,
             timeout_s: float = 60.0, chunk: int = 256 * 1024) -> RawResponse:
    """POST /invocations; keeps the answer even when the server stops reading early
    (a 413 sent before the whole body arrived)."""
    parts = urlsplit(url)
    started = time.perf_counter()
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80,
                                      timeout=timeout_s)
    send_error: str | None = None
    try:
        conn.putrequest("POST", p.INVOCATIONS)
        for key, value in {**headers, "Content-Length": str(len(body))}.items():
            conn.putheader(key, value)
        conn.endheaders()
        try:
            for offset in range(0, len(body), chunk):
                conn.send(body[offset:offset + chunk])
        except (BrokenPipeError, ConnectionResetError) as exc:
            send_error = f"{type(exc).__name__} while sending"
        try:
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            return RawResponse(None, b"", f"{send_error or ''} {type(exc).__name__}: {exc}".strip(),
                               time.perf_counter() - started)
        return RawResponse(response.status, data, send_error, time.perf_counter() - started)
    finally:
        conn.close()


def wait_for_interim(sock: socket.socket, timeout_s: float) -> bool:
    """True when the server sent ``100 Continue`` within ``timeout_s`` (left unread)."""
    sock.settimeout(timeout_s)
    try:
        head = sock.recv(32, socket.MSG_PEEK)
    except TimeoutError:
        return False
    finally:
        sock.settimeout(None)
    return head.startswith(b"HTTP/1.1 100")
