"""Request bodies: read within the limit, and drain what is over it so the client sees its 413.

A server that answers 413 and closes while the client is still sending makes the kernel
reset the connection: many clients (Python's ``urllib`` among them) then report a broken
pipe or a reset instead of the answer. As nginx does with its lingering close, the body of a
request over the limit is read and thrown away before the 413 goes out, bounded in bytes
(:data:`DRAIN_MAX_BYTES` past the limit) and in time (:data:`DRAIN_IDLE_S` without data,
:data:`DRAIN_TOTAL_S` in all). A body declared larger than the limit plus that bound is not
drained at all, nor is one the client holds back behind ``Expect: 100-continue``: such
clients read the 413 before they send.

``limit`` None means no fixed limit (batch jobs with ``MaxPayloadInMB`` 0 stream the data).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from sagepack.errors import InferenceError

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]

#: Bytes past the limit read and discarded before answering 413.
DRAIN_MAX_BYTES = 64 * 1024 * 1024
#: Seconds without data after which draining stops.
DRAIN_IDLE_S = 5.0
#: Seconds draining may take in all.
DRAIN_TOTAL_S = 30.0


class Disconnected(Exception):
    """The client went away before its body arrived."""


async def read_body(headers: Mapping[str, str], receive: Receive, limit: int | None) -> bytes:
    """The whole body; InferenceError 413 (after draining) when it is over ``limit``."""
    declared = headers.get("content-length", "")
    size = int(declared) if declared.isdigit() else None
    if limit is not None and size is not None and size > limit:
        if size - limit <= DRAIN_MAX_BYTES and not _expects_continue(headers):
            await drain(receive, size)
        raise too_large(size, limit)
    chunks: list[bytes] = []
    received = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Disconnected
        chunk = message.get("body", b"")
        more = bool(message.get("more_body", False))
        received += len(chunk)
        if limit is not None and received > limit:
            if more:
                await drain(receive, DRAIN_MAX_BYTES)
            raise too_large(received, limit, streamed=True)
        chunks.append(chunk)
        if not more:
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def drain(receive: Receive, budget: int) -> int:
    """Read and discard the rest of the body: at most about ``budget`` bytes, within the
    time bounds. Returns the bytes discarded."""
    discarded = 0
    deadline = time.monotonic() + DRAIN_TOTAL_S
    while discarded < budget:
        wait = min(DRAIN_IDLE_S, deadline - time.monotonic())
        if wait <= 0:
            break
        try:
            message = await asyncio.wait_for(receive(), wait)
        except TimeoutError:
            break
        if message["type"] == "http.disconnect":
            break
        discarded += len(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return discarded


def too_large(size: int, limit: int, streamed: bool = False) -> InferenceError:
    """The 413 for a body of ``size`` bytes (at least, if ``streamed``) over ``limit``."""
    at_least = "at least " if streamed else ""
    return InferenceError(413, f"request body of {at_least}{size} bytes exceeds the limit of "
                               f"{limit} bytes")


def _expects_continue(headers: Mapping[str, str]) -> bool:
    return headers.get("expect", "").strip().lower() == "100-continue"
