"""ASGI types and the two ways the server answers: a body, or a JSON error.

Every error is ``{"status": ..., "error": ..., "message": ...}`` (plus ``"traceback"`` when
``SAGEPACK_DEBUG`` is true), whichever route gives it.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from http import HTTPStatus
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON_HEADER = (b"content-type", b"application/json")


def header_value(value: str) -> bytes:
    return value.encode("latin-1", errors="replace")


async def send_body(send: Send, status: int, body: bytes,
                    headers: list[tuple[bytes, bytes]]) -> int:
    """Send a whole response; returns the body's size."""
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
    return len(body)


async def send_json(send: Send, status: int, content: object) -> tuple[int, int]:
    """Send ``content`` as JSON; returns (status, size)."""
    return status, await send_body(send, status, json.dumps(content).encode(), [JSON_HEADER])


async def send_error(send: Send, status: int, message: str, *, allow: bytes | None = None,
                     trace: str | None = None) -> tuple[int, int]:
    """Send the JSON error body; returns (status, size)."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    content: dict[str, object] = {"status": status, "error": phrase, "message": message}
    if trace is not None:
        content["traceback"] = trace
    headers = [JSON_HEADER]
    if allow is not None:
        headers.append((b"allow", allow))
    return status, await send_body(send, status, json.dumps(content).encode(), headers)
