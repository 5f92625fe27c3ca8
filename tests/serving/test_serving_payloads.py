"""Asynchronous inference payloads through the real ``serve``: a raised body limit and
timeout, and a 200 MB body read without holding it twice in memory."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import psutil
import pytest
from serving_helpers import write_model
from serving_processes import Server, start, stop

pytestmark = pytest.mark.slow

MIB = 1024 * 1024

# Answers with what it was given, without copying the body.
DIGEST = """
import hashlib
import json
import os

def model_fn(model_dir):
    return None

def transform_fn(model, body, content_type, accept):
    return json.dumps({"type": type(body).__name__, "size": len(body),
                       "sha256": hashlib.sha256(body).hexdigest()}), "application/json"
"""


def status_kib(pid: int, field: str) -> int:
    """A ``/proc/<pid>/status`` figure (VmRSS, VmHWM) in KiB."""
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(rf"^{field}:\s+(\d+) kB$", text, re.MULTILINE)
    assert match, f"no {field} in /proc/{pid}/status: cannot measure"
    return int(match.group(1))


def only_worker(server: Server) -> int:
    children = psutil.Process(server.process.pid).children()
    assert len(children) == 1, children
    return children[0].pid


def test_a_200_mb_body_is_answered_without_holding_it_twice(tmp_path: Path) -> None:
    server = start(tmp_path, write_model(tmp_path / "model", DIGEST), workers=1,
                   SAGEPACK_MAX_REQUEST_MB="256", SAGEPACK_TIMEOUT_S="300",
                   SAGEPACK_ACCESS_LOG="false")
    try:
        server.wait_ready()
        worker = only_worker(server)
        body = bytes(range(256)) * (200 * MIB // 256)
        size = len(body)
        before = status_kib(worker, "VmRSS")
        status, answer, _ = server.call("POST", "/invocations", body,
                                        {"Content-Type": "application/octet-stream"},
                                        timeout=120)
        peak = status_kib(worker, "VmHWM")
        assert status == 200, answer[:500]
        assert json.loads(answer) == {"type": "bytes", "size": size,
                                      "sha256": hashlib.sha256(body).hexdigest()}
        growth = (peak - before) * 1024
        print(f"worker RSS growth for a {size / MIB:.0f} MiB body: "
              f"{growth / MIB:.0f} MiB ({growth / size:.2f}x)")
        assert growth < 1.5 * size, f"the worker grew by {growth / size:.2f}x the body's size"
        assert status_kib(worker, "VmRSS") - before < 50 * 1024, "the body stayed in memory"
        assert "timeout 300 s" in server.log.read_text()
    finally:
        stop(server)


def test_the_raised_limit_still_refuses_bigger_bodies_and_defaults_are_unchanged(
        tmp_path: Path) -> None:
    raised = start(tmp_path / "raised", write_model(tmp_path / "raised" / "model", DIGEST),
                   workers=1, SAGEPACK_MAX_REQUEST_MB="8")
    try:
        raised.wait_ready()
        seven = b"x" * (7 * MIB)
        assert raised.call("POST", "/invocations", seven,
                           {"Content-Type": "application/octet-stream"})[0] == 200
        status, answer, _ = raised.call("POST", "/invocations", b"x" * (9 * MIB),
                                        {"Content-Type": "application/octet-stream"})
        assert status == 413 and str(8 * MIB) in json.loads(answer)["message"]
    finally:
        stop(raised)
    default = start(tmp_path / "default", write_model(tmp_path / "default" / "model", DIGEST),
                    workers=1)
    try:
        default.wait_ready()
        status, answer, _ = default.call("POST", "/invocations", b"x" * (7 * MIB),
                                         {"Content-Type": "application/octet-stream"})
        assert status == 413 and "6291456" in json.loads(answer)["message"]
        assert "timeout 60 s" in default.log.read_text()
    finally:
        stop(default)
