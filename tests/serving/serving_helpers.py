"""Helpers of the serving tests: model directories with small handlers, an in-process client."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Mapping
from pathlib import Path

import httpx

from sagepack.serving.app import ServingApp

DOUBLER = """
import numpy as np

class Doubler:
    def predict(self, data):
        return np.asarray(data, dtype=float) * 2

def model_fn(model_dir):
    return Doubler()
"""


def write_model(root: Path, source: str, name: str = "inference.py",
                files: Mapping[str, str] | None = None) -> Path:
    """A model directory with ``code/<name>`` holding ``source`` (dedented)."""
    code = root / "code"
    code.mkdir(parents=True, exist_ok=True)
    (code / name).write_text(textwrap.dedent(source))
    for relative, text in (files or {}).items():
        (root / relative).write_text(text)
    return root


def request(app: ServingApp, method: str, path: str, body: bytes | str = b"",
            headers: Mapping[str, str] | None = None, timeout: float = 10.0) -> httpx.Response:
    """One request through the ASGI app, in process; fails the test if it hangs."""
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://model") as client:
            return await asyncio.wait_for(
                client.request(method, path, content=body, headers=dict(headers or {})), timeout)
    return asyncio.run(go())


def invoke(app: ServingApp, body: bytes | str, content_type: str | None = "application/json",
           accept: str | None = None, **headers: str) -> httpx.Response:
    sent = {key.replace("_", "-"): value for key, value in headers.items()}
    if content_type is not None:
        sent["content-type"] = content_type
    if accept is not None:
        sent["accept"] = accept
    return request(app, "POST", "/invocations", body, sent)


