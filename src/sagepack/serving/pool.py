"""The inference thread pool: handler code runs here, never on the event loop.

Python cannot stop a thread, so a handler call that outlives the request timeout keeps its
thread. The pool then *abandons* that thread (it exits when the call finally returns) and
starts a fresh one, so the worker keeps its full capacity and answers the next requests.
Abandoned threads still running are counted; when they reach ``max_hung`` the pool reports
itself wedged and the worker is replaced by the supervisor (see :mod:`.server`). Threads are
daemons: a hung call never blocks the process from exiting.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any

_QUEUED, _RUNNING, _DONE, _DROPPED = range(4)


class _Job:
    __slots__ = ("args", "deliver", "fn", "state", "thread")

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...],
                 deliver: Callable[[Any, BaseException | None], None]) -> None:
        self.fn = fn
        self.args = args
        self.deliver = deliver
        self.state = _QUEUED
        self.thread: _Worker | None = None


def _deliver(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class _Worker(threading.Thread):
    def __init__(self, pool: InferencePool, number: int) -> None:
        super().__init__(name=f"inference-{number}", daemon=True)
        self.pool = pool
        self.abandoned = False

    def run(self) -> None:
        pool = self.pool
        while True:
            job = pool._jobs.get()
            if job is None:
                return
            with pool._lock:
                if job.state != _QUEUED:
                    continue
                job.state = _RUNNING
                job.thread = self
            result: Any = None
            error: BaseException | None = None
            try:
                result = job.fn(*job.args)
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting request
                error = exc
            job.args = ()  # an idle thread must not keep the last request's body alive
            with pool._lock:
                job.state = _DONE
                if self.abandoned:
                    pool._hung -= 1
            job.deliver(result, error)
            del job, result, error
            if self.abandoned:
                return


class InferencePool:
    """``threads`` daemon threads running handler calls for one event loop."""

    def __init__(self, threads: int = 1, max_hung: int = 2) -> None:
        self.threads = threads
        self.max_hung = max_hung
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._hung = 0
        self._started = 0
        self._live: list[_Worker] = []
        for _ in range(threads):
            self._spawn()

    @property
    def hung(self) -> int:
        """Abandoned handler calls still running."""
        return self._hung

    @property
    def wedged(self) -> bool:
        """True when so many calls hang that the worker should be replaced."""
        return self._hung >= self.max_hung

    def _spawn(self) -> None:
        self._started += 1
        worker = _Worker(self, self._started)
        self._live.append(worker)
        worker.start()

    def submit(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """Run ``fn(*args)`` in the pool; the returned future belongs to the running loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()

        def deliver(result: Any, error: BaseException | None) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed while the call ran
                loop.call_soon_threadsafe(_deliver, future, result, error)

        job = _Job(fn, args, deliver)
        future.add_done_callback(lambda _f: self._on_done(job, future))
        self._jobs.put(job)
        return future

    def submit_blocking(self, fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future[Any]:
        """Run ``fn(*args)`` in the pool from any thread (used to load the model on the
        thread that will predict with it)."""
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def deliver(result: Any, error: BaseException | None) -> None:
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)

        self._jobs.put(_Job(fn, args, deliver))
        return future

    async def run(self, timeout_s: float, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` in the pool; TimeoutError after ``timeout_s`` (the call is abandoned)."""
        future = self.submit(fn, *args)
        loop = asyncio.get_running_loop()
        timer = loop.call_later(timeout_s, _expire, future)
        try:
            return await future
        finally:
            timer.cancel()

    def _on_done(self, job: _Job, future: asyncio.Future[Any]) -> None:
        """Called on the loop when a job's future completes, is cancelled or times out."""
        if not future.cancelled() and not isinstance(future.exception(), CallTimeout):
            return
        with self._lock:
            if job.state == _QUEUED:
                job.state = _DROPPED
            elif job.state == _RUNNING and job.thread is not None and not job.thread.abandoned:
                job.thread.abandoned = True
                self._hung += 1
                self._live.remove(job.thread)
                self._spawn()

    def shutdown(self) -> None:
        """Let idle threads exit (running calls finish; threads are daemons)."""
        for _ in self._live:
            self._jobs.put(None)
        self._live.clear()


class CallTimeout(TimeoutError):
    """The handler call outlived the request timeout."""


def _expire(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_exception(CallTimeout())
