"""What one streamed answer of the benchmark's handler says: checked, then timed.

An answer counts only if it is a complete chunked 200 in more than one chunk whose joined
body is exactly the lines the handler yields (:func:`sagepack.bench.apps.ticker.line`), in
order, each stamped no later than it arrived. Anything else is a problem that makes the
run invalid. Times are in nanoseconds of CLOCK_MONOTONIC, the handler's and the client's.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

from sagepack.bench.apps import ticker
from sagepack.bench.stream_client import Reply


@dataclass(frozen=True)
class Timed:
    """One checked answer: when it was sent, when its first byte arrived, and each chunk's
    yield stamp and arrival."""

    sent_ns: int
    first_byte_ns: int
    stamps_ns: tuple[int, ...]
    arrivals_ns: tuple[int, ...]
    http_chunks: int

    @property
    def ttfb_ms(self) -> float:
        """Request sent to the first body byte."""
        return (self.first_byte_ns - self.sent_ns) / 1e6

    @property
    def first_yield_ms(self) -> float:
        """Request sent to the handler's first yield."""
        return (self.stamps_ns[0] - self.sent_ns) / 1e6

    @property
    def ttfb_overhead_ms(self) -> float:
        """The handler's first yield to the first body byte: the server's part."""
        return (self.first_byte_ns - self.stamps_ns[0]) / 1e6

    def chunk_overheads_ms(self) -> list[float]:
        """Yield to arrival of every chunk after the first."""
        return [(a - t) / 1e6 for t, a in zip(self.stamps_ns[1:], self.arrivals_ns[1:],
                                              strict=True)]

    def gap_jitter_ms(self) -> list[float]:
        """How far each gap between arrivals strays from the gap between the yields."""
        return [abs((self.arrivals_ns[k] - self.arrivals_ns[k - 1])
                    - (self.stamps_ns[k] - self.stamps_ns[k - 1])) / 1e6
                for k in range(1, len(self.stamps_ns))]

    def chunks_per_s(self) -> float:
        """Chunks per second of the whole answer, request sent to the last chunk."""
        return len(self.arrivals_ns) * 1e9 / max(1, self.arrivals_ns[-1] - self.sent_ns)


def check(reply: Reply, chunks: int, size: int) -> Timed | str:
    """The timed answer, or the problem that disqualifies it."""
    if reply.problem is not None:
        return reply.problem
    if not reply.chunked or "content-length" in reply.headers:
        return "the answer is not chunked"
    if not reply.complete:
        return "the stream ended without its terminating chunk"
    if reply.chunks < 2:
        return f"the answer came in {reply.chunks} chunk, not a stream"
    media = reply.headers.get("content-type", "").split(";")[0].strip()
    if media != ticker.RESPONSE_TYPE:
        return f"content type {media!r}, not {ticker.RESPONSE_TYPE}"
    if len(reply.lines) != chunks:
        return f"{len(reply.lines)} lines, not the {chunks} the handler yields"
    stamps: list[int] = []
    for index, (text, arrived) in enumerate(reply.lines):
        try:
            item = json.loads(text)
            stamp = int(item["t"])
        except (ValueError, KeyError, TypeError):
            return f"line {index} is not a stamped chunk: {text[:80]!r}"
        if item.get("i") != index or text != ticker.line(index, stamp, size):
            return f"line {index} is not the handler's chunk {index}: {text[:80]!r}"
        if stamp > arrived:
            return (f"chunk {index} arrived {(stamp - arrived) / 1e6:.3f} ms before it was "
                    "yielded: the client and the handler do not share a clock")
        if stamps and stamp < stamps[-1]:
            return f"chunk {index} is stamped before chunk {index - 1}"
        stamps.append(stamp)
    if bytes(reply.body) != b"".join(text for text, _ in reply.lines):
        return "the body holds more than the handler's lines"
    assert reply.first_byte_ns is not None  # there were chunks
    return Timed(reply.sent_ns, reply.first_byte_ns, tuple(stamps),
                 tuple(arrived for _, arrived in reply.lines), reply.chunks)


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q`` percentile (0-100) of ``values`` (not empty)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))]


def latency_figures(answers: Sequence[Timed]) -> dict[str, float]:
    """Time to first byte and per-chunk overhead over ``answers`` (ms, 3 decimals)."""
    ttfb = [a.ttfb_ms for a in answers]
    overhead = [a.ttfb_overhead_ms for a in answers]
    first_yield = [a.first_yield_ms for a in answers]
    chunk = [v for a in answers for v in a.chunk_overheads_ms()]
    jitter = [v for a in answers for v in a.gap_jitter_ms()]
    figures = {
        "ttfb_p50_ms": percentile(ttfb, 50), "ttfb_p99_ms": percentile(ttfb, 99),
        "first_yield_p50_ms": percentile(first_yield, 50),
        "first_yield_p99_ms": percentile(first_yield, 99),
        "ttfb_overhead_p50_ms": percentile(overhead, 50),
        "ttfb_overhead_p99_ms": percentile(overhead, 99),
        "ttfb_overhead_max_ms": max(overhead),
        "chunk_overhead_p50_ms": percentile(chunk, 50) if chunk else math.nan,
        "chunk_overhead_p99_ms": percentile(chunk, 99) if chunk else math.nan,
        "gap_jitter_p99_ms": percentile(jitter, 99) if jitter else math.nan,
    }
    return {key: round(value, 3) for key, value in figures.items()}


def rate_figures(answers: Sequence[Timed]) -> dict[str, float]:
    """Chunk rates over ``answers`` (the median and the slowest answer's)."""
    rates = [a.chunks_per_s() for a in answers]
    streams = [(a.arrivals_ns[-1] - a.sent_ns) / 1e6 for a in answers]
    return {"chunks_per_s": round(percentile(rates, 50)),
            "chunks_per_s_min": round(min(rates)),
            "stream_p50_ms": round(percentile(streams, 50), 2)}
