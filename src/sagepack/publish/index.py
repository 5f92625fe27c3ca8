"""One URI for both platforms: an OCI image index under the model's version tag.

A model with a CPU variant for each platform (``cpu`` on linux/amd64, ``graviton`` on
linux/arm64) is pushed as usual, one tag per variant (``<version>-cpu``,
``<version>-graviton``); then ``<repository>:<version>`` gets an OCI image index naming
both manifests by digest with their platforms, so one URI serves x86_64 and Graviton
instances alike. docker-py has no manifest-list API: the index is PUT through the
registry HTTP API and read back, and must name exactly the manifests just pushed, each of
the local image of its platform.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rich.console import Console

from sagepack.config import ModelConfig
from sagepack.errors import PublishError
from sagepack.images.tags import version_tag
from sagepack.platforms import Platform
from sagepack.publish.ecr import RegistryApi, RemoteManifest
from sagepack.publish.plan import ImageTarget

INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"


@dataclass(frozen=True)
class IndexMember:
    variant: str
    platform: Platform
    image_id: str  # the local image


@dataclass(frozen=True)
class IndexTarget:
    """The index to put under ``<repository>:<version>``."""

    model: str
    repository: str
    tag: str
    members: tuple[IndexMember, ...]

    def remote_ref(self, registry: str) -> str:
        return f"{registry}/{self.repository}:{self.tag}"


@dataclass(frozen=True)
class IndexStep:
    target: IndexTarget
    remote: RemoteManifest | None
    action: str  # "push", "skip", "replace" or "refuse"


@dataclass(frozen=True)
class IndexResult:
    model: str
    tag: str
    uri: str  # <registry>/<repository>:<version>
    digest: str
    platforms: Mapping[str, str]  # "linux/arm64" -> the member's manifest digest
    action: str  # "pushed", "skipped" or "replaced"

    @property
    def reference(self) -> str:
        return f"{self.uri.rpartition(':')[0]}@{self.digest}"

    def as_dict(self) -> dict[str, object]:
        return {"tag": self.tag, "uri": self.uri, "digest": self.digest,
                "reference": self.reference, "platforms": dict(self.platforms)}


def index_target(model: ModelConfig, variants: Sequence[str],
                 images: Sequence[ImageTarget], notes: list[str]) -> IndexTarget | None:
    """The index of ``model`` when the published ``variants`` hold one CPU variant per
    platform, and more than one platform; a note says why there is none when it is
    ambiguous."""
    by_platform: dict[Platform, list[str]] = {}
    for name in variants:
        variant = model.variants[name]
        if not variant.gpu:
            by_platform.setdefault(variant.platform, []).append(name)
    if len(by_platform) < 2:
        return None
    several = {p.docker: names for p, names in by_platform.items() if len(names) > 1}
    if several:
        which = "; ".join(f"{p}: {', '.join(n)}" for p, n in sorted(several.items()))
        notes.append(f"{model.name}: no image index under {model.version}: more than one CPU "
                     f"variant of a platform ({which}); publish one per platform "
                     "(--variant) to get one")
        return None
    members = []
    for platform, (name,) in sorted(by_platform.items(), key=lambda i: i[0].docker):
        target = next((i for i in images if i.model == model.name and i.variant == name
                       and i.tag == version_tag(model, name)), None)
        if target is None:
            return None  # its image is missing: the plan already says so
        members.append(IndexMember(name, platform, target.image_id))
    repository = next(i.repository for i in images if i.model == model.name)
    return IndexTarget(model.name, repository, model.version, tuple(members))


def index_step(api: RegistryApi, target: IndexTarget, *, force: bool,
               conflicts: list[str]) -> IndexStep:
    """What to do with the version tag: push, skip (it holds an index of the same local
    images), replace (``force``) or refuse (it holds something else)."""
    remote = api.manifest(target.repository, target.tag)
    if remote is None:
        return IndexStep(target, None, "push")
    if remote.is_index and _same_images(api, target, remote):
        return IndexStep(target, remote, "skip")
    if force:
        return IndexStep(target, remote, "replace")
    conflicts.append(f"{api.host}/{target.repository}:{target.tag} already holds "
                     f"{remote.media_type} {remote.digest}, not an index of the local "
                     f"{', '.join(m.variant for m in target.members)} images; re-run with "
                     "--force to replace the tag")
    return IndexStep(target, remote, "refuse")


def _same_images(api: RegistryApi, target: IndexTarget, remote: RemoteManifest) -> bool:
    wanted = {m.platform.docker: m.image_id for m in target.members}
    if sorted(p for _, p in remote.manifests) != sorted(wanted):
        return False
    for digest, platform in remote.manifests:
        member = api.manifest(target.repository, digest)
        if member is None or member.config_digest != wanted[platform]:
            return False
    return True


def index_body(members: Sequence[tuple[IndexMember, RemoteManifest]]) -> bytes:
    """The OCI image index naming each member's manifest with its platform."""
    document = {
        "schemaVersion": 2,
        "mediaType": INDEX_MEDIA_TYPE,
        "manifests": [{"mediaType": manifest.media_type, "digest": manifest.digest,
                       "size": manifest.size,
                       "platform": {"architecture": member.platform.debian_arch,
                                    "os": "linux"}}
                      for member, manifest in members],
    }
    return json.dumps(document, indent=2).encode("utf-8") + b"\n"


def push_index(api: RegistryApi, step: IndexStep, pushed: Mapping[str, str]) -> IndexResult:
    """PUT the index of the members' pushed manifests (``pushed``: variant -> manifest
    digest), then read it back: it must be what was sent."""
    target = step.target
    uri = f"{api.host}/{target.repository}:{target.tag}"
    members = []
    for member in target.members:
        digest = pushed.get(member.variant)
        manifest = api.manifest(target.repository, digest) if digest else None
        if manifest is None or digest is None:
            raise PublishError(f"{uri}: the {member.variant} image was not pushed in this "
                               "run, so no index can name it")
        if manifest.config_digest != member.image_id:
            raise PublishError(f"{uri}: {digest} ({member.variant}) is of image "
                               f"{manifest.config_digest}, not the local {member.image_id}")
        members.append((member, manifest))
    body = index_body(members)
    expected = "sha256:" + hashlib.sha256(body).hexdigest()
    sent = api.put_manifest(target.repository, target.tag, body, INDEX_MEDIA_TYPE)
    remote = api.manifest(target.repository, target.tag)
    if remote is None or sent != expected or remote.digest != expected:
        raise PublishError(f"{uri}: the registry holds {remote.digest if remote else 'nothing'}"
                           f" after the index {expected} was put (it answered {sent})")
    platforms = {m.platform.docker: manifest.digest for m, manifest in members}
    if dict((p, d) for d, p in remote.manifests) != platforms:
        raise PublishError(f"{uri}: the index read back lists {remote.manifests}, not "
                           f"{platforms}")
    return IndexResult(target.model, target.tag, uri, expected, platforms,
                       "replaced" if step.action == "replace" else "pushed")


def skipped(step: IndexStep, host: str) -> IndexResult:
    target, remote = step.target, step.remote
    assert remote is not None
    return IndexResult(target.model, target.tag, f"{host}/{target.repository}:{target.tag}",
                       remote.digest, {p: d for d, p in remote.manifests}, "skipped")


def publish_index(step: IndexStep, api: RegistryApi, console: Console,
                  pushed: Mapping[str, str]) -> IndexResult:
    """Carry out ``step`` (an immutable tag being replaced is already untagged), saying
    what was done; ``pushed``: variant -> the manifest digest this run pushed or found."""
    if step.action == "skip":
        result = skipped(step, api.host)
        console.print(f"skip   {result.uri}: already the index {result.digest}")
        return result
    if step.action == "replace":
        console.print(f"force  {step.target.remote_ref(api.host)}: replacing "
                      f"{step.remote.digest if step.remote else '?'}")
    result = push_index(api, step, pushed)
    console.print(f"pushed {result.uri} {result.digest}: an OCI image index of "
                  + ", ".join(f"{p} {d}" for p, d in sorted(result.platforms.items()))
                  + " (verified in the registry)")
    return result
