"""``invoke test --record``: the answers the image gave become the samples' expected
responses.

The suite (:mod:`.suite.test_samples`) saves each answer it is asked to record, once it
came back 2xx with the Accept type, into the run's folder under the sample's index. Here,
on the host, each is written next to its request (``samples/request.csv`` asked for JSON
-> ``samples/response.json``) through a temporary name, and ``sagepack.toml`` gets the
sample's ``expected`` key, edited with tomlkit so that its comments and layout stay as the
user wrote them. A sample that already has an expected response is recorded again only
with ``force``; the next ``invoke test`` compares against what was recorded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import tomlkit
from tomlkit.exceptions import TOMLKitError

from sagepack.config import ModelConfig, Sample
from sagepack.errors import ConfigError, ConfigProblem
from sagepack.files import atomic_write

#: File name extensions of recorded answers by media type (else ``.out``).
EXTENSIONS = {"application/json": ".json", "text/csv": ".csv", "application/jsonlines": ".jsonl",
              "application/x-jsonlines": ".jsonl", "application/json-lines": ".jsonl",
              "application/x-npy": ".npy", "text/plain": ".txt"}
PREVIEW_LINES = 5
PREVIEW_CHARS = 400


@dataclass(frozen=True)
class Recording:
    """What ``--record`` asks: record the samples without an expected response, or every
    sample with ``force``."""

    force: bool = False

    def wants(self, sample: Sample) -> bool:
        return self.force or sample.expected is None


@dataclass(frozen=True)
class Recorded:
    """One answer written as a sample's expected response."""

    sample: str
    path: Path
    answer: bytes
    replaced: bool

    def describe(self) -> str:
        """A line naming the file, then the start of the answer, for review."""
        text = self.answer[:PREVIEW_CHARS].decode("utf-8", errors="replace")
        lines = text.splitlines()[:PREVIEW_LINES]
        more = " ..." if len(self.answer) > PREVIEW_CHARS or \
            len(text.splitlines()) > PREVIEW_LINES else ""
        verb = "re-recorded" if self.replaced else "recorded"
        head = f"{verb} {self.sample}: {self.path} ({len(self.answer)} bytes)"
        return "\n".join([head, *(f"    {line}" for line in lines)]) + more


def _extension(accept: str) -> str:
    return EXTENSIONS.get(accept.split(";")[0].strip().lower(), ".out")


def expected_name(model: ModelConfig, sample: Sample, taken: set[str]) -> str:
    """Where ``sample``'s expected response goes, relative to the model folder (POSIX):
    beside its request, ``request`` in the name becoming ``response``, never on a file
    that exists or another sample's."""
    body = PurePosixPath(sample.body.relative_to(model.root).as_posix())
    stem = body.stem.replace("request", "response") if "request" in body.stem \
        else f"{body.stem}.response"
    ext = _extension(sample.accept)
    for candidate in (f"{stem}{ext}", f"{stem}-{sample.name}{ext}",
                      f"{stem}-{sample.name}-{sample.index}{ext}"):
        rel = str(body.parent / candidate)
        if rel not in taken and not (model.root / rel).exists():
            return rel
    raise ConfigError([ConfigProblem(model.config_file, f"samples[{sample.index}].expected",
                                     f"no free name for the recorded answer beside {body}")])


def answer_file(folder: Path, sample: Sample) -> Path:
    """Where the suite leaves the answer of ``sample`` for the host to record."""
    return folder / f"sample-{sample.index}.answer"


def save_recordings(model: ModelConfig, answers: Path, recording: Recording
                    ) -> list[Recorded]:
    """Write the answers the suite left in ``answers`` as expected responses and point the
    samples of ``sagepack.toml`` at them; samples it left no answer for are skipped."""
    taken = {s.expected.relative_to(model.root).as_posix() for s in model.samples
             if s.expected is not None}
    done: list[tuple[Sample, str, bytes]] = []
    for sample in model.samples:
        source = answer_file(answers, sample)
        if not recording.wants(sample) or not source.is_file():
            continue
        if sample.expected is not None:
            rel = sample.expected.relative_to(model.root).as_posix()
        else:
            rel = expected_name(model, sample, taken)
            taken.add(rel)
        answer = source.read_bytes()
        atomic_write(model.root / rel, answer)
        done.append((sample, rel, answer))
    _point_samples(model, ((s.index, rel) for s, rel, _ in done if s.expected is None))
    return [Recorded(s.name, model.root / rel, answer, s.expected is not None)
            for s, rel, answer in done]


def _point_samples(model: ModelConfig, entries: Iterable[tuple[int, str]]) -> None:
    """Set ``expected`` of ``samples[index]`` in ``sagepack.toml``, keeping its formatting."""
    changes = list(entries)
    if not changes:
        return
    file = model.config_file
    try:
        document = tomlkit.parse(file.read_text(encoding="utf-8"))
        samples = document["samples"]
        for index, rel in changes:
            samples[index]["expected"] = rel  # type: ignore[index]
    except (TOMLKitError, KeyError, IndexError, TypeError) as exc:
        raise ConfigError([ConfigProblem(file, "samples", f"cannot record the expected "
                                                          f"responses here: {exc}")]) from exc
    atomic_write(file, tomlkit.dumps(document))
