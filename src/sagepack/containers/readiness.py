"""Waiting for a serving container: poll ``GET /ping`` until 200, with a deadline.

SageMaker gives a container 4 minutes to answer /ping with 200, and each /ping 2 s. The
poll stops early when the container exits, so a crash is reported at once, not after the
deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import requests

from sagepack.containers.contract import PING_TIMEOUT_S
from sagepack.serving.parameters import PING


@dataclass(frozen=True)
class PingResult:
    ok: bool
    detail: str  # "HTTP 200", "HTTP 503: loading", "connection refused"...
    seconds: float


class NotReady(Exception):
    """The deadline passed; ``last`` is the last /ping result."""

    def __init__(self, waited: float, last: PingResult | None) -> None:
        self.waited = waited
        self.last = last
        super().__init__(f"not ready after {waited:.0f} s")


def ping(session: requests.Session, url: str, timeout_s: float = PING_TIMEOUT_S) -> PingResult:
    """One ``GET {url}/ping``."""
    started = time.perf_counter()
    try:
        response = session.get(f"{url}{PING}", timeout=timeout_s)
    except requests.Timeout:
        return PingResult(False, f"no answer within {timeout_s:g} s",
                          time.perf_counter() - started)
    except requests.RequestException as exc:
        return PingResult(False, f"{type(exc).__name__}: {exc}", time.perf_counter() - started)
    seconds = time.perf_counter() - started
    detail = f"HTTP {response.status_code}"
    if response.status_code != 200 and response.text:
        detail += f": {response.text.strip()[:200]}"
    return PingResult(response.status_code == 200, detail, seconds)


def wait_until_ready(ping_once: Callable[[], PingResult], check_alive: Callable[[], None], *,
                     deadline_s: float, interval_s: float = 0.25,
                     clock: Callable[[], float] = time.monotonic,
                     sleep: Callable[[float], None] = time.sleep) -> float:
    """Seconds until ``ping_once`` succeeded.

    ``check_alive`` raises when the container is gone (its error propagates); after
    ``deadline_s`` :class:`NotReady` is raised with the last result.
    """
    started = clock()
    last: PingResult | None = None
    while True:
        check_alive()
        last = ping_once()
        if last.ok:
            return clock() - started
        waited = clock() - started
        if waited >= deadline_s:
            check_alive()
            raise NotReady(waited, last)
        sleep(min(interval_s, max(0.0, deadline_s - waited)))
