"""Running one build on the engine and following its stream of JSON chunks.

The build always runs with ``network_mode="none"`` (no ``RUN`` step reaches the network),
an explicit platform, the classic builder and no pull. An error chunk stops the build with
:class:`BuildFailed` naming the failing step and carrying the last lines of its log; a
stream that ends without an image id is a failure too.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import docker
from docker.errors import APIError

from sagepack.errors import BuildFailed
from sagepack.platforms import DEFAULT, Platform

NETWORK_MODE = "none"
TAIL_LINES = 25

_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
_BUILT = re.compile(r"^Successfully built ([0-9a-f]{12,64})$")
_RESULT = re.compile(r"^---> ([0-9a-f]{12,64})$")


@dataclass
class Step:
    number: int
    total: int
    instruction: str
    cached: bool = False
    seconds: float = 0.0
    lines: list[str] = field(default_factory=list)
    result_id: str = ""

    @property
    def word(self) -> str:
        """The instruction's keyword, upper case (``FROM``, ``RUN``, ...)."""
        return self.instruction.split(" ", 1)[0].upper()


@dataclass(frozen=True)
class EngineResult:
    image_id: str
    steps: tuple[Step, ...]
    seconds: float

    @property
    def cache_hits(self) -> int:
        return sum(1 for s in self.steps if s.cached)

    @property
    def cacheable_steps(self) -> int:
        """Steps that can report a cache hit: every step of a stage but its ``FROM``. An
        ``ARG`` before the first ``FROM`` makes no image, one inside a stage does."""
        return sum(1 for s in self._in_stages() if s.word != "FROM")

    def _in_stages(self) -> Iterator[Step]:
        staged = False
        for step in self.steps:
            staged = staged or step.word == "FROM"
            if staged:
                yield step

    @property
    def stage_images(self) -> tuple[str, ...]:
        """Untagged images the earlier stages (the builder) left behind: build cache."""
        out: list[str] = []
        staged = list(self._in_stages())
        for before, step in itertools.pairwise(staged):
            if step.word == "FROM" and before.result_id and before.word != "FROM":
                out.append(before.result_id)
        return tuple(out)


class Display(Protocol):
    """What the build shows while it runs (see :mod:`sagepack.images.display`)."""

    def begin(self, title: str) -> None: ...
    def step(self, step: Step) -> None: ...
    def step_done(self, step: Step) -> None: ...
    def line(self, text: str) -> None: ...
    def end(self) -> None: ...


class SilentDisplay:
    def begin(self, title: str) -> None:
        return None

    def step(self, step: Step) -> None:
        return None

    def step_done(self, step: Step) -> None:
        return None

    def line(self, text: str) -> None:
        return None

    def end(self) -> None:
        return None


def _lines(chunks: Iterable[Mapping[str, Any]]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for chunk in chunks:
        if "error" in chunk or "errorDetail" in chunk:
            yield "error", chunk
        elif "stream" in chunk:
            for line in str(chunk["stream"]).splitlines():
                if line.strip():
                    yield "line", {"text": line.rstrip()}
        elif "aux" in chunk:
            yield "aux", chunk
        elif "status" in chunk:
            yield "line", {"text": str(chunk["status"])}


def follow(chunks: Iterable[Mapping[str, Any]], tag: str,
           display: Display | None = None) -> EngineResult:
    """Consume a decoded build stream; return the image id and the steps."""
    show = display or SilentDisplay()
    started = time.monotonic()
    steps: list[Step] = []
    current: Step | None = None
    step_started = started
    image_id = ""
    preamble: list[str] = []
    for kind, data in _lines(chunks):
        if kind == "error":
            detail = data.get("errorDetail") or {}
            message = str(data.get("error") or detail.get("message") or "unknown error")
            where = f"step {current.number}/{current.total} ({current.instruction})" \
                if current else "before the first step"
            tail = (current.lines if current else preamble)[-TAIL_LINES:]
            show.end()
            shown = "".join(f"\n    {line}" for line in tail)
            raise BuildFailed(f"building {tag} failed at {where}: {message.strip()}"
                              + (f"\n  last lines of its log:{shown}" if shown else ""), tag,
                              step=current.instruction if current else None,
                              log_tail=[*tail, message.strip()])
        if kind == "aux":
            aux = data.get("aux") or {}
            if isinstance(aux, dict) and aux.get("ID"):
                image_id = str(aux["ID"])
            continue
        text = str(data["text"])
        match = _STEP.match(text)
        if match:
            now = time.monotonic()
            if current is not None:
                current.seconds = now - step_started
                show.step_done(current)
            current = Step(int(match.group(1)), int(match.group(2)), match.group(3))
            steps.append(current)
            step_started = now
            show.step(current)
            continue
        if current is None:
            preamble.append(text)
        else:
            current.lines.append(text)
            if text.strip() == "---> Using cache":
                current.cached = True
            result = _RESULT.match(text.strip())
            if result:
                current.result_id = result.group(1)
        built = _BUILT.match(text.strip())
        if built and not image_id:
            image_id = built.group(1)
        show.line(text)
    if current is not None:
        current.seconds = time.monotonic() - step_started
        show.step_done(current)
    show.end()
    if not image_id:
        tail = (current.lines if current else preamble)[-TAIL_LINES:]
        raise BuildFailed(f"building {tag}: the engine's stream ended without an image id",
                          tag, step=current.instruction if current else None, log_tail=tail)
    return EngineResult(image_id=image_id, steps=tuple(steps),
                        seconds=time.monotonic() - started)


def run_build(client: docker.DockerClient, context_tar: Path, *, tag: str,
              target: str | None = None, buildargs: Mapping[str, str] | None = None,
              labels: Mapping[str, str] | None = None, no_cache: bool = False,
              display: Display | None = None, platform: Platform = DEFAULT) -> EngineResult:
    """Build the context tar on the engine for ``platform``, network disabled; tag the
    result ``tag``."""
    show = display or SilentDisplay()
    show.begin(tag)
    try:
        with context_tar.open("rb") as fh:
            chunks = client.api.build(
                fileobj=fh, custom_context=True, encoding=None, tag=tag, target=target,
                buildargs=dict(buildargs or {}), labels=dict(labels or {}), nocache=no_cache,
                rm=True, forcerm=True, pull=False, decode=True, network_mode=NETWORK_MODE,
                platform=platform.docker,
            )
            return follow(chunks, tag, show)
    except APIError as exc:
        show.end()
        raise BuildFailed(f"building {tag}: the engine refused the build: {exc}", tag) from exc
