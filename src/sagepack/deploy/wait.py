"""Following a SageMaker resource (an endpoint, a transform job) until it settles.

The resource is described every ``interval_s`` seconds; each change of status is printed
with the time since the start (under a spinner on a terminal). A resource that does not
settle within ``timeout_s`` is an error naming its last status; a failed one is returned
with its description, for the caller to report its ``FailureReason``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from rich.console import Console

from sagepack.errors import DeployError


@dataclass(frozen=True)
class Settled:
    status: str
    description: dict[str, Any]
    seconds: float
    statuses: tuple[str, ...]  # every status seen, in order


def follow(describe: Callable[[], dict[str, Any]], *, what: str, status_key: str,
           done: Collection[str], failed: Collection[str], timeout_s: float,
           interval_s: float, console: Console,
           clock: Callable[[], float] = time.monotonic,
           sleep: Callable[[float], None] = time.sleep) -> Settled:
    """Describe until the status is in ``done`` or ``failed``; raise after ``timeout_s``."""
    start = clock()
    seen: list[str] = []
    with console.status(f"{what}: waiting", spinner="dots") as spinner:
        while True:
            description = describe()
            status = str(description.get(status_key, "?"))
            elapsed = clock() - start
            if not seen or seen[-1] != status:
                seen.append(status)
                console.print(f"{what}: {status} after {elapsed:.0f} s")
            if status in done or status in failed:
                return Settled(status, description, elapsed, tuple(seen))
            if elapsed >= timeout_s:
                raise DeployError(f"{what} is still {status} after {elapsed:.0f} s (limit "
                                  f"{timeout_s:.0f} s); it goes on in SageMaker: follow it "
                                  "there, or raise the limit")
            spinner.update(f"{what}: {status} for {elapsed:.0f} s")
            sleep(min(interval_s, max(timeout_s - elapsed, 0.0)) or interval_s)
