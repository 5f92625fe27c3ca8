"""The process model: one supervisor, ``SAGEMAKER_MODEL_SERVER_WORKERS`` forked workers.

The supervisor binds the port, forks the workers (each inherits the socket and runs
uvicorn with uvloop and httptools on it), and then only watches:

* A worker loads the model once, on its inference thread, before it accepts any
  connection; the socket listens only once every worker has loaded (a connection is
  refused until then), and if one fails, every worker answers 503 with the reason, logged
  once by the supervisor. See :mod:`.readiness`.
* A worker whose timed-out handler calls hang past ``SAGEPACK_MAX_HUNG_THREADS`` exits
  with code 75 after finishing its other requests; a worker whose event loop sends no
  heartbeat for ``SAGEPACK_HEARTBEAT_TIMEOUT`` seconds (a handler holding the GIL
  forever) is killed. Either way, and after any crash, the supervisor forks a new one
  (with a back-off if it keeps dying young). The other workers keep serving meanwhile.
* SIGTERM (or SIGINT): the supervisor closes its copy of the socket and passes SIGTERM
  on; each worker stops accepting, finishes in-flight requests (up to
  ``SAGEPACK_GRACEFUL_TIMEOUT``, at most the model server timeout) and exits. Workers
  still alive a few seconds later are killed. The supervisor exits 0, well within the
  30 s SageMaker waits before SIGKILL. As PID 1 it also reaps orphaned processes.
* A worker whose supervisor died (killed with SIGKILL) notices within a second, through
  its heartbeat pipe, and stops the same graceful way.
* On a multi-model endpoint the supervisor also holds the list of loaded models and runs
  every load and unload on all workers at once (:mod:`.coordinator`); a worker forked in
  place of a dead one loads them all before it accepts.
"""

from __future__ import annotations

import contextlib
import math
import os
import select
import signal
import socket
import sys
import time
from dataclasses import dataclass
from types import FrameType

from sagepack import __version__
from sagepack.serving import devices, memory, readiness
from sagepack.serving.coordinator import Budget, Coordinator
from sagepack.serving.logs import logger, setup_logging
from sagepack.serving.settings import Settings
from sagepack.serving.worker import BACKLOG, EXIT_RECYCLE, run_worker

_KILL_MARGIN_S = 3.0
_BACKOFF_MAX_S = 30.0
_YOUNG_S = 5.0


@dataclass
class _Worker:
    slot: int
    pid: int
    channel: socket.socket | None
    started: float
    last_beat: float
    reported: bool = False


def bind(host: str, port: int) -> socket.socket:
    """The socket shared by every worker: bound, not yet listening (see :mod:`.readiness`)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def serve(settings: Settings) -> int:
    """Run the server until SIGTERM; returns the exit code."""
    setup_logging(settings.log_level)
    started = time.monotonic()
    sock = bind(settings.host, settings.port)
    mode = (f"batch (MaxPayloadInMB {settings.max_payload_mb})" if settings.batch
            else "real-time")
    if settings.multi_model:
        logger.info("sagepack %s serving a multi-model endpoint: each model's handler is "
                    "code/%s in its archive", __version__, settings.program)
    else:
        logger.info("sagepack %s serving: model dir %s, handler %s", __version__,
                    settings.model_dir, settings.handler_path)
    limit = settings.max_body_bytes
    logger.info("listening on %s:%d: %d worker(s) x %d inference thread(s), timeout %g s, "
                "%s, %s", settings.host, settings.port, settings.workers, settings.threads,
                settings.timeout_s, mode,
                "no body limit (streamed)" if limit is None else f"body limit {limit} bytes")
    log_placement(settings)
    supervisor = Supervisor(settings, sock, started)
    if supervisor.coordinator is not None:
        logger.info("multi-model endpoint: no model at start; models under %s, memory budget "
                    "%s (%s)", settings.models_dir or "any folder",
                    memory.mib(supervisor.coordinator.budget.bytes),
                    supervisor.coordinator.budget.source)
    return supervisor.run()


def log_placement(settings: Settings) -> None:
    """Say where the workers run, and warn if a framework was imported before the fork."""
    loaded = devices.frameworks_loaded()
    if settings.gpu and settings.gpus:
        logger.info("GPU placement: %d visible GPU(s) (%s); %d worker(s), gpu_id round-robin; "
                    "frameworks imported by the supervisor: %s", settings.gpus,
                    settings.gpu_source, settings.workers, ", ".join(loaded) or "none")
    elif settings.gpu:
        logger.warning("GPU placement: no visible GPU (%s): is the container run with the "
                       "NVIDIA runtime (--gpus all)? %d worker(s) with gpu_id None; frameworks "
                       "imported by the supervisor: %s", settings.gpu_source, settings.workers,
                       ", ".join(loaded) or "none")
    if loaded:
        logger.warning("%s imported before the workers fork: a CUDA context created in the "
                       "supervisor is broken in every worker", ", ".join(loaded))


class Supervisor:
    """Forks the workers, replaces those that die or wedge, and stops them on SIGTERM."""

    def __init__(self, settings: Settings, sock: socket.socket, started: float) -> None:
        self.settings = settings
        self.sock: socket.socket | None = sock
        self.started = started
        self.workers: dict[int, _Worker] = {}
        self.pending: dict[int, float] = {}  # slot -> time at which to fork it again
        self.backoff: dict[int, float] = {}
        self.stopping = False
        self.deadline = math.inf
        self.gate = readiness.Gate(sock, BACKLOG, settings.workers, started,
                                   "started" if settings.multi_model else "loaded the model")
        self._wake_r, self._wake_w = os.pipe()
        #: Multi-model endpoints: the models every worker serves (see :mod:`.coordinator`).
        self.coordinator: Coordinator | None = None
        if settings.multi_model:
            self.coordinator = Coordinator(
                settings.workers, Budget.of(settings), self._command, self._command,
                lambda: [os.getpid(), *(w.pid for w in self.workers.values())])

    def run(self) -> int:
        os.set_blocking(self._wake_w, False)
        os.set_blocking(self._wake_r, False)
        signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_stop_signal)
        signal.signal(signal.SIGCHLD, lambda _sig, _frame: None)
        for slot in range(self.settings.workers):
            self._spawn(slot)
        while self.workers or not self.stopping:
            channels = [w.channel.fileno() for w in self.workers.values() if w.channel]
            readable, _, _ = select.select([self._wake_r, *channels], [], [], 0.5)
            for fd in readable:
                self._read(fd)
            self._reap()
            if not self.stopping:
                self._tell_verdicts()
                if self.coordinator is not None:
                    self.coordinator.step(set(self.gate.serving),
                                          len(self.gate.serving) == self.settings.workers,
                                          self.gate.broken)
            now = time.monotonic()
            if self.stopping:
                if now >= self.deadline:
                    for worker in self.workers.values():
                        logger.warning("worker %d (pid %d) still running after the grace "
                                       "period: killing it", worker.slot, worker.pid)
                        _kill(worker.pid, signal.SIGKILL)
                    self.deadline = math.inf
                continue
            self._check_heartbeats(now)
            for slot, when in list(self.pending.items()):
                if now >= when and (self.coordinator is None or self.coordinator.active is None):
                    del self.pending[slot]
                    self._spawn(slot)
        self._reap()
        logger.info("server stopped")
        return 0

    # --- signals --------------------------------------------------------------------------

    def _on_stop_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self.stopping:
            for worker in self.workers.values():
                _kill(worker.pid, signal.SIGKILL)
            return
        self.stopping = True
        self.pending.clear()
        self.deadline = time.monotonic() + self.settings.shutdown_grace_s + _KILL_MARGIN_S
        logger.info("%s: finishing in-flight requests (up to %g s), then stopping",
                    signal.Signals(signum).name, self.settings.shutdown_grace_s)
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        for worker in self.workers.values():
            _kill(worker.pid, signal.SIGTERM)

    # --- workers --------------------------------------------------------------------------

    def _command(self, slot: int, content: object) -> bool:
        """Send a multi-model message to worker ``slot``: a command, or an answer."""
        worker = self.workers.get(slot)
        if worker is None or worker.channel is None or not isinstance(content, dict):
            return False
        kind = readiness.DONE if "id" in content else readiness.COMMAND
        return readiness.send_json(worker.channel, kind, content)

    def _spawn(self, slot: int) -> None:
        assert self.sock is not None
        models = self.coordinator.snapshot() if self.coordinator is not None else []
        ours, theirs = readiness.channel()
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                ours.close()
                for other in self.workers.values():
                    if other.channel is not None:
                        other.channel.close()
                signal.set_wakeup_fd(-1)
                os.close(self._wake_r)
                os.close(self._wake_w)
                code = run_worker(self.settings, self.sock, theirs, slot, models)
            finally:
                with contextlib.suppress(OSError, ValueError):
                    sys.stdout.flush()
                    sys.stderr.flush()
                os._exit(code)
        theirs.close()
        now = time.monotonic()
        self.workers[slot] = _Worker(slot, pid, ours, now, now)
        gpu_id = self.settings.gpu_id(slot)
        logger.info("worker %d started (pid %d)%s", slot, pid,
                    "" if gpu_id is None else f", gpu_id {gpu_id}")

    def _read(self, fd: int) -> None:
        if fd == self._wake_r:
            with contextlib.suppress(BlockingIOError):
                os.read(fd, 4096)
            return
        worker = next((w for w in self.workers.values()
                       if w.channel is not None and w.channel.fileno() == fd), None)
        if worker is None or worker.channel is None:
            return
        worker.last_beat = time.monotonic()
        messages, closed = readiness.receive(worker.channel)
        for kind, payload in messages:
            if kind in (readiness.LOADED, readiness.FAILED) and not worker.reported:
                worker.reported = True
                self.gate.report(worker.slot, worker.pid, readiness.LoadReport.decode(payload))
            elif kind == readiness.REQUEST and self.coordinator is not None:
                self.coordinator.request(worker.slot, readiness.decode(payload))
            elif kind == readiness.ANSWER and self.coordinator is not None:
                self.coordinator.answer(worker.slot, readiness.decode(payload))
        if closed:  # the worker closed its end: it is exiting; _reap will see it
            worker.channel.close()
            worker.channel = None

    def _tell_verdicts(self) -> None:
        for slot, message in self.gate.verdicts():
            worker = self.workers.get(slot)
            if worker is not None and worker.channel is not None:
                readiness.send(worker.channel, message[:1], message[1:])

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            worker = next((w for w in self.workers.values() if w.pid == pid), None)
            if worker is None:
                continue  # an orphan re-parented to us (we may be PID 1)
            del self.workers[worker.slot]
            self.gate.forget(worker.slot)
            if self.coordinator is not None:
                self.coordinator.worker_gone(worker.slot)
            if worker.channel is not None:
                worker.channel.close()
            if self.stopping:
                continue
            if not worker.reported:
                code = os.waitstatus_to_exitcode(status)
                self.gate.fail(worker.slot, worker.pid, "the worker died while loading the model "
                               f"({_death(code)})")
            self._schedule_respawn(worker, status)

    def _schedule_respawn(self, worker: _Worker, status: int) -> None:
        code = os.waitstatus_to_exitcode(status)
        lived = time.monotonic() - worker.started
        why = ("asked to be replaced (hung handler calls)" if code == EXIT_RECYCLE
               else _death(code))
        delay = 0.0
        if lived < _YOUNG_S and code != EXIT_RECYCLE:
            delay = min(self.backoff.get(worker.slot, 0.5) * 2, _BACKOFF_MAX_S)
            self.backoff[worker.slot] = delay
        else:
            self.backoff.pop(worker.slot, None)
        logger.warning("worker %d (pid %d) %s after %.1f s; starting a new one in %.1f s",
                       worker.slot, worker.pid, why, lived, delay)
        self.pending[worker.slot] = time.monotonic() + delay

    def _check_heartbeats(self, now: float) -> None:
        limit = self.settings.heartbeat_timeout_s
        for worker in self.workers.values():
            if now - worker.last_beat > limit:
                logger.error("worker %d (pid %d) sent no heartbeat for %.0f s (its event loop "
                             "is blocked): killing it", worker.slot, worker.pid, limit)
                _kill(worker.pid, signal.SIGKILL)
                worker.last_beat = math.inf  # killed once; _reap replaces it


def _death(code: int) -> str:
    return f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"


def _kill(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
