"""The streaming benchmark's handler: a generator that stamps every chunk with the moment it
yields it.

The benchmark copies this file into a model folder as ``code/inference.py``, and sagepack
and the Starlette baseline both serve it, so each runs the same generator. Request
(``application/json``): ``{"chunks": N, "interval_us": U, "size": S}``. Answer
(``application/jsonlines``): N chunks, one JSON line each,
``{"i": <index>, "t": <ns>, "p": "<padding>"}``, where ``t`` is ``time.monotonic_ns()`` read
just before the chunk is yielded (CLOCK_MONOTONIC, one clock for every process on a Linux
host, so a client on the same host can subtract it from when the chunk arrived) and the
padding makes each line S bytes. Chunk ``i`` is yielded ``i * U`` microseconds after the
first (at once when U is 0). Standard library only: it runs under any server.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

CONTENT_TYPE = "application/json"
RESPONSE_TYPE = "application/jsonlines"
MAX_CHUNKS = 1_000_000
MIN_SIZE = 64  # room for the index and the stamp, padding included
MAX_SIZE = 65_536
MAX_INTERVAL_US = 1_000_000


def request(chunks: int, interval_us: int = 0, size: int = MIN_SIZE) -> bytes:
    """The body asking for ``chunks`` chunks of ``size`` bytes, ``interval_us`` apart."""
    return json.dumps({"chunks": chunks, "interval_us": interval_us, "size": size}).encode()


def line(index: int, stamp_ns: int, size: int) -> bytes:
    """Chunk ``index`` stamped ``stamp_ns``, padded to ``size`` bytes (newline included)."""
    head = f'{{"i": {index}, "t": {stamp_ns}, "p": "'
    return (head + "x" * max(0, size - len(head) - 3) + '"}\n').encode()


def model_fn(model_dir: str) -> dict[str, Any]:
    return {}


def input_fn(body: bytes | str, content_type: str) -> tuple[int, int, int]:
    try:
        spec = json.loads(body)
        chunks, interval_us = int(spec["chunks"]), int(spec.get("interval_us", 0))
        size = int(spec.get("size", MIN_SIZE))
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"the request must be {{\"chunks\": N, \"interval_us\": U, "
                         f"\"size\": S}}: {exc}") from None
    if not (1 <= chunks <= MAX_CHUNKS and 0 <= interval_us <= MAX_INTERVAL_US
            and MIN_SIZE <= size <= MAX_SIZE):
        raise ValueError(f"chunks 1-{MAX_CHUNKS}, interval_us 0-{MAX_INTERVAL_US}, size "
                         f"{MIN_SIZE}-{MAX_SIZE}; got {chunks}, {interval_us}, {size}")
    return chunks, interval_us, size


def ticks(chunks: int, interval_us: int, size: int) -> Iterator[bytes]:
    """The generator the benchmark times (see the module's docstring)."""
    start = time.monotonic_ns()
    for index in range(chunks):
        if interval_us and index:
            wait_ns = start + index * interval_us * 1000 - time.monotonic_ns()
            if wait_ns > 0:
                time.sleep(wait_ns / 1e9)
        yield line(index, time.monotonic_ns(), size)


def predict_fn(data: tuple[int, int, int], model: dict[str, Any]) -> Iterator[bytes]:
    return ticks(*data)


def output_fn(prediction: Iterator[bytes], accept: str) -> tuple[Iterator[bytes], str]:
    return prediction, RESPONSE_TYPE
