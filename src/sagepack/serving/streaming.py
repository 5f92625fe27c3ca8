"""Streaming responses: send each chunk a handler yields as it comes (HTTP/1.1 chunked).

SageMaker's ``InvokeEndpointWithResponseStream`` reads ``/invocations`` as a chunked body
and relays each chunk to the client. A handler streams by returning an iterator (see
:class:`~sagepack.serving.handler.Stream`); this module sends it:

* The first chunk is produced before the response starts, so a handler that fails at once
  still gets its JSON error with the right status. Then the headers go out without
  Content-Length (uvicorn frames the body as chunked), and each chunk is written as soon as
  it is produced; empty chunks are skipped (an empty chunk would end the body).
* Sync iterators advance on the inference thread (:mod:`.pool`), one chunk per call, so the
  event loop keeps answering ``/ping``; async iterators advance on the loop (they must not
  block it).
* The model server timeout applies to each chunk: the first within what is left of the
  invocation's, every later one within the whole timeout after the one before. A stream
  can thus run longer than the timeout, as long as it keeps producing.
* A handler that fails mid-stream (or yields something other than bytes/str, or stalls past
  the timeout) gets its stream cut: the error is logged with the inference id, the bytes
  and chunks sent and the traceback, and the connection is dropped without the terminating
  chunk (the client sees a broken stream, SageMaker a ``ModelStreamError``), by raising
  :class:`StreamAborted` out of the app. The worker goes on serving.
* As Starlette's ``StreamingResponse`` does, the stream is raced against the client's
  disconnect: a client that leaves stops it. The chunk being produced is finished (a thread
  cannot be interrupted; an async chunk is cancelled), then the generator is closed, so its
  ``finally`` blocks run, on the inference thread for a sync generator.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any

from sagepack.errors import InferenceError
from sagepack.serving import parameters as p
from sagepack.serving.body import Disconnected
from sagepack.serving.handler import Stream, handler_failure
from sagepack.serving.logs import logger
from sagepack.serving.pool import CallTimeout, InferencePool

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_END = object()
_GONE = object()


class StreamAborted(Exception):
    """Raised out of the ASGI app after a stream broke (already logged): uvicorn then drops
    the connection without the terminating chunk."""


class _QuietAborts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], StreamAborted))


def quiet_aborts() -> None:
    """Keep uvicorn from logging a second traceback for a stream cut on purpose."""
    logging.getLogger("uvicorn.error").addFilter(_QuietAborts())


@dataclass(frozen=True)
class Outcome:
    """How a stream ended: status (200 complete, 499 client left, 500/504 cut), bytes and
    chunks sent, and whether the connection must be dropped (:class:`StreamAborted`)."""

    status: int
    size: int
    chunks: int
    aborted: bool


def to_bytes(chunk: object, stage: str) -> bytes:
    """A chunk as bytes; TypeError for anything but bytes or str."""
    if isinstance(chunk, bytes):
        return chunk
    if isinstance(chunk, str):
        return chunk.encode("utf-8")
    if isinstance(chunk, bytearray | memoryview):
        return bytes(chunk)
    raise TypeError(f"{stage} yielded {type(chunk).__name__}; a stream yields bytes or str")


def _next_sync(source: Iterator[Any], stage: str) -> object:
    """The next non-empty chunk, or _END (runs on the inference thread)."""
    for chunk in source:
        data = to_bytes(chunk, stage)
        if data:
            return data
    return _END


async def _next_async(source: AsyncIterator[Any], stage: str) -> object:
    async for chunk in source:
        data = to_bytes(chunk, stage)
        if data:
            return data
    return _END


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class _Puller:
    """Advances one stream, chunk by chunk, within the timeout."""

    def __init__(self, stream: Stream, pool: InferencePool, timeout_s: float) -> None:
        self.stream = stream
        self.pool = pool
        self.timeout_s = timeout_s
        self.stuck = False  # a chunk outlived the timeout: its thread still runs the generator

    async def pull(self, timeout_s: float) -> object:
        stream = self.stream
        try:
            if isinstance(stream.source, AsyncIterator):
                try:
                    return await asyncio.wait_for(_next_async(stream.source, stream.stage),
                                                  timeout_s)
                except TimeoutError:
                    raise CallTimeout from None
            assert isinstance(stream.source, Iterator)
            return await self.pool.run(timeout_s, _next_sync, stream.source, stream.stage)
        except CallTimeout:
            self.stuck = not stream.is_async
            raise
        except InferenceError:
            raise
        except Exception as exc:  # handler code: the one boundary, as in handler.Function
            raise handler_failure(stream.stage, exc) from exc

    async def race(self, watcher: asyncio.Future[None], timeout_s: float) -> object:
        """The next chunk, _END, or _GONE if the client left first."""
        if watcher.done():
            return _GONE
        task: asyncio.Future[Any] = asyncio.ensure_future(self.pull(timeout_s))
        racing: set[asyncio.Future[Any]] = {task, watcher}
        await asyncio.wait(racing, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            return task.result()
        if self.stream.is_async:
            task.cancel()
        # A sync chunk runs on to its end (within the timeout): wait for it before closing.
        await asyncio.gather(task, return_exceptions=True)
        return _GONE

    async def close(self) -> None:
        """Close the generator so its ``finally`` runs (not while a thread still runs it)."""
        source = self.stream.source
        closer = getattr(source, "aclose" if self.stream.is_async else "close", None)
        if closer is None or self.stuck:
            return
        try:
            if self.stream.is_async:
                await asyncio.wait_for(closer(), self.timeout_s)
            else:
                await self.pool.run(self.timeout_s, closer)
        except (Exception, CallTimeout):  # noqa: BLE001 - logged; the stream is over anyway
            logger.warning("closing the stream of %s raised", self.stream.stage, exc_info=True)


async def respond(stream: Stream, send: Send, receive: Receive, pool: InferencePool, *,
                  timeout_s: float, first_timeout_s: float, headers: list[tuple[bytes, bytes]],
                  label: str, on_stuck: Callable[[], None]) -> Outcome:
    """Send ``stream`` as the response (see the module's docstring).

    Before the response starts, a failure raises as a handler call's would
    (InferenceError, CallTimeout, or Disconnected when the client left), after closing the
    stream. Afterwards, the :class:`Outcome` says how it ended.
    """
    puller = _Puller(stream, pool, timeout_s)
    watcher = asyncio.ensure_future(_until_disconnect(receive))
    sent = chunks = 0
    try:
        try:
            chunk = await puller.race(watcher, first_timeout_s)
        except BaseException:
            await puller.close()
            raise
        if chunk is _GONE:
            await puller.close()
            raise Disconnected
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        while chunk is not _END:
            assert isinstance(chunk, bytes)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            sent += len(chunk)
            chunks += 1
            chunk = await puller.race(watcher, timeout_s)
            if chunk is _GONE:
                await puller.close()
                logger.info("request %s: the client left the stream after %d bytes in %d "
                            "chunks; %s's generator was closed", label, sent, chunks,
                            stream.stage)
                return Outcome(499, sent, chunks, aborted=False)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return Outcome(200, sent, chunks, aborted=False)
    except CallTimeout:
        if not chunks:
            raise
        logger.error("request %s: stream cut after %d bytes in %d chunks: %s produced no chunk "
                     "within %s=%g s; its thread is abandoned (%d hung, limit %d)", label, sent,
                     chunks, stream.stage, p.MODEL_SERVER_TIMEOUT, timeout_s, pool.hung,
                     pool.max_hung)
        on_stuck()
        return Outcome(504, sent, chunks, aborted=True)
    except InferenceError as exc:
        if not chunks:
            raise
        logger.error("request %s: stream cut after %d bytes in %d chunks: %s", label, sent,
                     chunks, exc.message, exc_info=exc.__cause__ or exc)
        await puller.close()
        return Outcome(500, sent, chunks, aborted=True)
    finally:
        watcher.cancel()
