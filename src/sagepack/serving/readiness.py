"""Readiness across workers: the server accepts no connection until every worker's model
is loaded, and a model that fails to load breaks the whole server, not one worker.

The rule is gunicorn's: a worker that is not ready to serve does not accept. Each worker
loads the handler and the model *before* it runs its event loop, then reports to the
supervisor and waits for its verdict. The supervisor binds the port at start-up but calls
``listen()`` only once every worker has reported: until then a connection is refused, so
the first ``/ping`` that answers 200 comes after every worker is loaded, and so does every
later one. A worker forked later (after a crash) loads before it accepts, while the others
serve.

If a worker's ``model_fn`` fails (or the worker dies while loading), the supervisor logs the
reason once, with its traceback, and tells every worker to break down: from then on, every
connection's ``/ping`` and ``/invocations`` answer 503 with that reason (the socket then
listens, so SageMaker's health check and a user's ``curl`` read it). The state is final:
SageMaker replaces a container whose ``/ping`` does not answer 200. Warnings raised while
loading are logged once too, by the supervisor, whichever workers raised them.

Supervisor and worker talk over a ``SOCK_SEQPACKET`` socket pair, one message per send:
the worker sends ``.`` (heartbeat), ``R`` + report (loaded) or ``F`` + report (failed); the
supervisor answers ``G`` (serve) or ``B`` + reason (serve 503). A report is JSON:
``{"loaded": bool, "reason": str, "detail": str, "warnings": [LoadWarning JSON, ...]}``.
Multi-model endpoints add four kinds, each with a JSON object (see :mod:`.coordinator`):
``Q`` (a worker asks to load or unload a model), ``C`` (the supervisor commands every worker
to load, publish, discard or unload one), ``A`` (a worker's answer to a command), ``D`` (the
supervisor's answer to a ``Q``). They are sent with :func:`send_json`, which waits for room
rather than drop them.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import select
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from sagepack.serving import parameters as p
from sagepack.serving.app import READY, ServingApp
from sagepack.serving.loading import LoadWarning
from sagepack.serving.logs import logger

HEARTBEAT, LOADED, FAILED, GO, BROKEN = b".", b"R", b"F", b"G", b"B"
REQUEST, COMMAND, ANSWER, DONE = b"Q", b"C", b"A", b"D"
_MAX_MESSAGE = 65536
_MAX_DETAIL = 16000
_MAX_REASON = 4000
_BEAT_S = 1.0


def channel() -> tuple[socket.socket, socket.socket]:
    """A connected pair: (supervisor's end, worker's end)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ours.setblocking(False)
    return ours, theirs


def send(sock: socket.socket, kind: bytes, payload: bytes = b"") -> bool:
    """Send one message without blocking; False if it could not go (full, or peer gone)."""
    try:
        sock.send(kind + payload)
    except (BlockingIOError, BrokenPipeError, ConnectionResetError, OSError):
        return False
    return True


def send_json(sock: socket.socket, kind: bytes, content: Mapping[str, object],
              wait_s: float = 5.0) -> bool:
    """Send one message that must not be dropped, waiting up to ``wait_s`` for room;
    False if the peer is gone or never made room."""
    data = kind + json.dumps(content).encode()
    deadline = time.monotonic() + wait_s
    while True:
        try:
            sock.send(data)
            return True
        except BlockingIOError:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            select.select([], [sock], [], left)
        except OSError:
            return False


def decode(payload: bytes) -> dict[str, object]:
    """The JSON object of a message; empty if it is not one."""
    try:
        content = json.loads(payload)
    except ValueError:
        return {}
    return content if isinstance(content, dict) else {}


def receive(sock: socket.socket) -> tuple[list[tuple[bytes, bytes]], bool]:
    """Every message waiting (kind, payload), and whether the peer has closed its end."""
    messages: list[tuple[bytes, bytes]] = []
    while True:
        try:
            data = sock.recv(_MAX_MESSAGE)
        except BlockingIOError:
            return messages, False
        except (ConnectionResetError, OSError):
            return messages, True
        if not data:
            return messages, True
        messages.append((data[:1], data[1:]))


@dataclass(frozen=True)
class LoadReport:
    """How loading went in one worker."""

    loaded: bool
    reason: str = ""
    detail: str = ""
    warnings: tuple[LoadWarning, ...] = ()

    @classmethod
    def of(cls, app: ServingApp) -> LoadReport:
        return cls(app.state == READY, app.failure[:_MAX_REASON],
                   app.failure_detail[-_MAX_DETAIL:], app.warnings)

    def encode(self) -> bytes:
        return json.dumps({"loaded": self.loaded, "reason": self.reason, "detail": self.detail,
                           "warnings": [w.to_json() for w in self.warnings]}).encode()

    @classmethod
    def decode(cls, payload: bytes) -> LoadReport:
        try:
            data = json.loads(payload)
            return cls(bool(data["loaded"]), str(data["reason"]), str(data["detail"]),
                       tuple(LoadWarning.from_json(w) for w in data["warnings"]))
        except (ValueError, KeyError, TypeError, AttributeError):
            return cls(False, f"unreadable load report {payload[:200]!r}")


@dataclass
class Gate:
    """The supervisor's side: when to listen, and what each worker is told."""

    sock: socket.socket
    backlog: int
    workers: int
    started: float
    #: What every worker did once it reported, for the log ("loaded the model").
    done: str = "loaded the model"
    open: bool = False
    broken: str | None = None
    waiting: set[int] = field(default_factory=set)
    serving: set[int] = field(default_factory=set)
    told_broken: set[int] = field(default_factory=set)
    _reasons: set[str] = field(default_factory=set)
    _warnings: set[LoadWarning] = field(default_factory=set)

    def report(self, slot: int, pid: int, report: LoadReport) -> None:
        """Worker ``slot`` finished loading."""
        for warning in report.warnings:
            if warning not in self._warnings:
                self._warnings.add(warning)
                logger.warning("%s%s", p.LOAD_WARNING_LOG, warning)
        self.waiting.add(slot)
        if not report.loaded:
            self.fail(slot, pid, report.reason, report.detail)

    def fail(self, slot: int, pid: int, reason: str, detail: str = "") -> None:
        """Worker ``slot`` could not load the model: the whole server breaks down."""
        if reason not in self._reasons:
            self._reasons.add(reason)
            logger.error("model not loaded (worker %d, pid %d): %s%s", slot, pid, reason,
                         f"\n{detail.rstrip()}" if detail else "")
        if self.broken is None:
            self.broken = reason
            logger.error("every /ping and /invocations now answers 503: the model did not load")

    def forget(self, slot: int) -> None:
        """Worker ``slot`` is gone; the one forked in its place gets its own verdict."""
        self.waiting.discard(slot)
        self.serving.discard(slot)
        self.told_broken.discard(slot)

    def verdicts(self) -> list[tuple[int, bytes]]:
        """Messages to send now, as (slot, message); opens the socket when it is time."""
        if self.broken is not None:
            self._listen()
            due = (self.waiting | self.serving) - self.told_broken
            self.told_broken |= due
            message = BROKEN + self.broken.encode()
            return [(slot, message) for slot in sorted(due)]
        if not self.open and len(self.waiting) < self.workers:
            return []
        if not self.open:
            self._listen()
            logger.info("all %d worker(s) %s %.0f ms after start; accepting connections",
                        self.workers, self.done, (time.monotonic() - self.started) * 1000)
        due = self.waiting - self.serving
        self.serving |= due
        return [(slot, GO) for slot in sorted(due)]

    def _listen(self) -> None:
        if not self.open:
            self.sock.listen(self.backlog)
            self.open = True


def load_and_wait(app: ServingApp, sock: socket.socket, supervisor: int,
                  later: list[tuple[bytes, bytes]] | None = None) -> bool:
    """In a worker: load the model, report, and wait for the verdict (sending heartbeats).

    Returns False if the supervisor went away meanwhile. Breaks ``app`` down if told to.
    Messages that came after the verdict are appended to ``later``.
    """
    loading = app.start_loading()
    while not loading.done():
        concurrent.futures.wait([loading], timeout=_BEAT_S)
        if not _beat(sock, supervisor):
            return False
    report = LoadReport.of(app)
    sock.settimeout(10)
    try:
        sock.send((LOADED if report.loaded else FAILED) + report.encode())
    except OSError:
        return False
    finally:
        sock.setblocking(False)
    while True:
        readable, _, _ = select.select([sock], [], [], _BEAT_S)
        if readable:
            messages, closed = receive(sock)
            for index, (kind, payload) in enumerate(messages):
                if kind in (GO, BROKEN):
                    if kind == BROKEN:
                        app.break_down(payload.decode(errors="replace"))
                    if later is not None:
                        later.extend(messages[index + 1:])
                    return True
            if closed:
                return False
        if not _beat(sock, supervisor):
            return False


def _beat(sock: socket.socket, supervisor: int) -> bool:
    try:
        sock.send(HEARTBEAT)
    except BlockingIOError:
        pass
    except OSError:
        return False
    return os.getppid() == supervisor
