"""Secrets in the files of an image's own layers (the base image's layers are not read).

The image is streamed out of the engine (``docker save``) and each layer tar is read as it
passes, its sha256 (the layer's diff id) computed on the way; layers the base image has
are skipped. Every regular file is read in 1 MiB blocks (with an overlap, so nothing is
missed across a block boundary), so memory stays bounded whatever the image's size.

Rules: AWS access key ids, private keys, GitHub, Slack, Hugging Face, Google and Stripe
tokens by their shape, and files that hold credentials by name (``.aws/credentials``,
``.netrc``, ``.env``). A match fails the ``no-secret-files`` check naming the path, the
layer and the rule, unless ``tool.sagepack.secret_allow`` allows that path and rule.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import docker
from docker.errors import APIError, ImageNotFound

from sagepack.checks import CheckResult
from sagepack.config.supply import SupplyConfig
from sagepack.errors import ImageError
from sagepack.images.report import layers as layer_instructions

BLOCK = 1024 * 1024
OVERLAP = 4096
CONTENT_RULES: tuple[tuple[str, re.Pattern[bytes]], ...] = (
    ("aws-access-key", re.compile(rb"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")),
    # The marker followed by key material: libraries that parse PEM hold the bare marker.
    ("private-key", re.compile(rb"-----BEGIN [A-Z ]{0,20}PRIVATE KEY-----\r?\n"
                               rb"(?:[A-Za-z-]{1,40}: [^\r\n]{0,200}\r?\n){0,4}\s{0,2}"
                               rb"[A-Za-z0-9+/]{40}")),
    ("github-token", re.compile(rb"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})")),
    ("slack-token", re.compile(rb"\bxox[abprs]-[0-9]{6,}-[A-Za-z0-9-]{6,}")),
    ("huggingface-token", re.compile(rb"\bhf_[A-Za-z0-9]{34,}\b")),
    ("google-api-key", re.compile(rb"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("stripe-key", re.compile(rb"\b[sr]k_live_[0-9A-Za-z]{24,}\b")),
)
# Text every match of a rule contains. A pattern that starts with a boundary (``\b``, a
# lookbehind) or a class cannot use the regular expression engine's literal search, and
# scans at about 10 MB/s: a block is searched with the pattern only when it holds one of
# its anchors (a substring search, over 1 GB/s), which leaves the matches as they were.
ANCHORS: dict[str, tuple[bytes, ...]] = {
    "aws-access-key": (b"AKIA", b"ASIA"),
    "private-key": (b"PRIVATE KEY-----",),
    "github-token": (b"ghp_", b"gho_", b"ghu_", b"ghs_", b"ghr_", b"github_pat_"),
    "slack-token": (b"xoxa-", b"xoxb-", b"xoxp-", b"xoxr-", b"xoxs-"),
    "huggingface-token": (b"hf_",),
    "google-api-key": (b"AIza",),
    "stripe-key": (b"k_live_",),
}


def name_rule(path: str) -> str | None:
    """The rule a file's name alone breaks, if any."""
    base = posixpath.basename(path)
    if path.endswith(".aws/credentials"):
        return "aws-credentials-file"
    if base in (".netrc", "_netrc"):
        return "netrc-file"
    if base == ".env" or base.startswith(".env."):
        return "dotenv-file"
    return None


@dataclass(frozen=True)
class SecretFinding:
    path: str
    layer: str  # "layer 3 (COPY model-weights/ /opt/ml/model/)"
    rule: str

    def __str__(self) -> str:
        return f"/{self.path} in {self.layer}: {self.rule}"


def scan_stream(handle: IO[bytes]) -> Iterator[str]:
    """The rules a file's content breaks, read block by block."""
    seen: set[str] = set()
    tail = b""
    while block := handle.read(BLOCK):
        window = tail + block
        for rule, pattern in CONTENT_RULES:
            if rule in seen or not any(anchor in window for anchor in ANCHORS[rule]):
                continue
            if pattern.search(window):
                seen.add(rule)
                yield rule
        tail = window[-OVERLAP:]


class _Hashing:
    """A read-only stream that hashes what passes through it."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.sha = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.sha.update(data)
        return data

    def drain(self) -> str:
        while self.read(BLOCK):
            pass
        return "sha256:" + self.sha.hexdigest()


class _Chunks:
    """A file-like reader over the engine's stream of chunks."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._it = iter(chunks)
        self._buf = b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buf) < size:
            try:
                self._buf += next(self._it)
            except StopIteration:
                break
        if size < 0:
            out, self._buf = self._buf, b""
        else:
            out, self._buf = self._buf[:size], self._buf[size:]
        return out


def scan_layer(handle: IO[bytes]) -> tuple[str, list[tuple[str, str]]]:
    """(diff id, [(path, rule)]) of one layer tar, read once."""
    hashing = _Hashing(handle)
    found: list[tuple[str, str]] = []
    with tarfile.open(fileobj=hashing, mode="r|") as tar:  # type: ignore[call-overload]
        for member in tar:
            path = member.name.lstrip("./")
            if posixpath.basename(path).startswith(".wh."):
                continue
            if member.isfile() or member.issym():
                rule = name_rule(path)
                if rule:
                    found.append((path, rule))
            if member.isfile():
                content = tar.extractfile(member)
                if content is not None:
                    found.extend((path, rule) for rule in scan_stream(content))
    return hashing.drain(), found


def scan_image(client: docker.DockerClient, image: str,
               skip_layers: Iterable[str] = ()) -> list[tuple[str, str, str]]:
    """(diff id, path, rule) of each match in ``image``'s layers not in ``skip_layers``."""
    skip = set(skip_layers)
    out: list[tuple[str, str, str]] = []
    saved = client.api.get_image(image, chunk_size=BLOCK)
    with tarfile.open(fileobj=_Chunks(saved), mode="r|") as outer:  # type: ignore[call-overload]
        for member in outer:
            if not (member.isfile() and member.name.endswith("/layer.tar")):
                continue
            handle = outer.extractfile(member)
            if handle is None:
                continue
            diff_id, found = scan_layer(handle)
            if diff_id not in skip:
                out.extend((diff_id, path, rule) for path, rule in found)
    return out


def _layer_label(client: docker.DockerClient, attrs: dict[str, Any], diff_id: str) -> str:
    layers = list((attrs.get("RootFS") or {}).get("Layers") or [])
    index = layers.index(diff_id) if diff_id in layers else -1
    instructions = [entry["instruction"] for entry in layer_instructions(client, attrs["Id"])]
    what = instructions[index] if 0 <= index < len(instructions) and \
        len(instructions) == len(layers) else diff_id[:19]
    return f"layer {index + 1} ({what})"


def find_secret_files(client: docker.DockerClient, image: str, base_image: str | None,
                      supply: SupplyConfig) -> tuple[list[SecretFinding], list[str]]:
    """(findings, allowed) in the files ``image``'s own layers add."""
    attrs = client.api.inspect_image(image)
    base_layers: list[str] = []
    if base_image:
        base = client.api.inspect_image(base_image)
        base_layers = list((base.get("RootFS") or {}).get("Layers") or [])
    findings, allowed = [], []
    for diff_id, path, rule in scan_image(client, image, base_layers):
        finding = SecretFinding(path, _layer_label(client, attrs, diff_id), rule)
        allow = supply.allowed(path, rule)
        if allow is not None:
            allowed.append(f"{finding} (allowed: {allow.reason})")
        else:
            findings.append(finding)
    return findings, allowed


def check_secret_files(client: docker.DockerClient, image: str, base_image: str | None,
                       supply: SupplyConfig) -> CheckResult:
    """The ``no-secret-files`` check of a built image."""
    try:
        findings, allowed = find_secret_files(client, image, base_image, supply)
    except (APIError, ImageNotFound, tarfile.TarError) as exc:
        raise ImageError(f"scanning the files of {image} for secrets failed: {exc}") from exc
    if findings:
        return CheckResult.of("no-secret-files", False, "; ".join(str(f) for f in findings)
                           + " (allow a false positive in tool.sagepack.secret_allow)")
    note = f"; allowed: {'; '.join(allowed)}" if allowed else ""
    return CheckResult.of("no-secret-files", True,
                       f"no secret in the files of the image's own layers{note}")
