"""SIGTERM with a request in flight: the request completes, the container exits 0 in 30 s."""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
import requests

from sagepack.compare import expected_diffs
from sagepack.config import ModelConfig
from sagepack.containers.contract import STOP_GRACE_S
from sagepack.serving import parameters as p
from sagepack.smoke.plugin import Services
from sagepack.smoke.probes import wait_for_interim
from sagepack.smoke.spec import SERVICE_SIGTERM


def test_sigterm_in_flight(services: Services, model: ModelConfig,
                           record_property: Callable[[str, object], None]) -> None:
    """SIGTERM with a request in flight: it completes, exit 0 within 30 s"""
    if not model.samples:
        pytest.fail(f"{model.config_file}: no [[samples]] configured")
    sample = model.samples[0]
    body = sample.body.read_bytes()
    running = services.get(SERVICE_SIGTERM)
    parts = urlsplit(running.url)
    sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80),
                                    timeout=10)
    try:
        # The request's head and half its body go out first: the server has a request it
        # cannot finish until the rest arrives, after the SIGTERM.
        head = (f"POST {p.INVOCATIONS} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                f"Content-Type: {sample.content_type}\r\nAccept: {sample.accept}\r\n"
                f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n")
        sock.sendall(head.encode("ascii"))
        interim = wait_for_interim(sock, 1.0)
        half = max(1, len(body) // 2)
        sock.sendall(body[:half])
        time.sleep(0.5)
        assert running.state().get("Running"), "the container stopped before the SIGTERM"
        running.signal("SIGTERM")
        signalled = time.perf_counter()
        time.sleep(0.5)
        sock.sendall(body[half:])
        response = http.client.HTTPResponse(sock, method="POST")
        sock.settimeout(STOP_GRACE_S)
        try:
            response.begin()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            pytest.fail(f"the in-flight request was cut by the SIGTERM: {type(exc).__name__}: "
                        f"{exc}\n{running.logs(tail_lines=20)}")
    finally:
        sock.close()
    remaining = max(1.0, STOP_GRACE_S - (time.perf_counter() - signalled))
    try:
        code = running.wait(remaining)
    except requests.RequestException as exc:  # the SDK's wait timed out
        pytest.fail(f"still running {STOP_GRACE_S} s after SIGTERM ({type(exc).__name__}): "
                    "SageMaker would SIGKILL it")
    took = time.perf_counter() - signalled
    record_property("detail", f"request answered {response.status}, exit code {code} "
                              f"{took:.1f} s after SIGTERM"
                              f"{'' if interim else ' (server sent no 100 Continue)'}")
    assert response.status == 200, f"HTTP {response.status}: {data[:300]!r}"
    diffs = expected_diffs(data, sample.expected, sample.accept)
    assert not diffs, "the in-flight response differs:\n  " + "\n  ".join(diffs)
    assert code == 0, f"exit code {code} after SIGTERM, expected 0"
    assert took <= STOP_GRACE_S
