"""Real ``serve`` processes for the tests: start one on a free port, call it, stop it."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from sagepack.processes import stop_group

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    marks: Path
    started: float = field(default_factory=time.monotonic)

    def call(self, method: str, path: str, body: bytes = b"",
             headers: dict[str, str] | None = None,
             timeout: float = 30) -> tuple[int, bytes, float]:
        began = time.monotonic()
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.read(), time.monotonic() - began
        finally:
            connection.close()

    def sleep_request(self, seconds: float) -> tuple[int, bytes, float]:
        return self.call("POST", "/invocations", json.dumps([seconds]).encode(),
                         {"Content-Type": "application/json"})

    def wait_ready(self, within: float = 15) -> float:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                if self.call("GET", "/ping", timeout=2)[0] == 200:
                    return time.monotonic() - self.started
            except OSError:
                pass
            time.sleep(0.02)
        raise AssertionError(f"no 200 on /ping within {within} s:\n{self.log.read_text()}")

    def busy_pids(self) -> set[str]:
        return {mark.name.split("-")[0] for mark in self.marks.iterdir()}


def start(tmp_path: Path, model: Path, workers: int | None = 2,
          argv: list[str] | None = None, **env: str) -> Server:
    """``serve`` on a free port; ``workers`` None leaves the count to the server."""
    port = free_port()
    marks = tmp_path / "marks"
    marks.mkdir(exist_ok=True)
    log = tmp_path / "serve.log"
    environment = {
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "PYTHONPATH": str(REPO / "src"),  # this tree, not whatever the venv points at
        "SAGEPACK_MODEL_DIR": str(model), "SAGEMAKER_BIND_TO_PORT": str(port),
        "SAGEPACK_HOST": "127.0.0.1", "SLEEPER_MARKS": str(marks), **env,
    }
    if workers is not None:
        environment.setdefault("SAGEMAKER_MODEL_SERVER_WORKERS", str(workers))
    command = argv or [sys.executable, "-m", "sagepack.serving"]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, env=environment, stdout=sink,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    return Server(process, port, log, marks)


def stop(server: Server) -> None:
    """Stop the server and its whole process group: nothing is left behind."""
    stop_group(server.process, grace_s=15)


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting to be reaped has finished)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in {"Z", "X"}
