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

A large body (asynchronous endpoints send up to 1 GB) is not held twice: when its
Content-Length is known (:data:`PREALLOCATE_BYTES` or more), the ``bytes`` object handed to
the handler is allocated at that size up front and each piece is copied into it as it
arrives (CPython's documented ``PyBytes_FromStringAndSize(NULL, n)``, filled before anyone
else sees it), so the peak is about the body's size instead of twice it (pieces plus their
join). A chunked body without Content-Length is still joined at the end.
"""

from __future__ import annotations

import asyncio
import ctypes
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
#: Bodies declared at least this large are read into their final bytes object directly.
PREALLOCATE_BYTES = 1024 * 1024

_new_bytes = ctypes.pythonapi.PyBytes_FromStringAndSize
_new_bytes.restype = ctypes.py_object
_new_bytes.argtypes = (ctypes.c_char_p, ctypes.c_ssize_t)
_bytes_buffer = ctypes.pythonapi.PyBytes_AsString
_bytes_buffer.restype = ctypes.c_void_p
_bytes_buffer.argtypes = (ctypes.py_object,)


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
    if size is not None and size >= PREALLOCATE_BYTES:
        return await _read_into(receive, size)
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


async def _read_into(receive: Receive, size: int) -> bytes:
    """A body of ``size`` declared bytes, copied piece by piece into one new bytes object."""
    body: bytes = _new_bytes(None, size)
    address = _bytes_buffer(body)
    filled = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Disconnected
        chunk: bytes = message.get("body", b"")
        if filled + len(chunk) > size:  # the HTTP parser frames by Content-Length: never
            raise InferenceError(400, f"request body longer than its Content-Length {size}")
        ctypes.memmove(address + filled, chunk, len(chunk))
        filled += len(chunk)
        if not message.get("more_body", False):
            return body if filled == size else body[:filled]


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
