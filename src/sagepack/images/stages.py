"""What a build leaves behind besides its image, and tidying it up.

The classic builder keeps the last image of each earlier stage (the builder, which holds the
wheelhouse and the installed environment: 368 MB for the example's CPU variant, 4.35 GB for
CUDA) as an untagged, "dangling" image: it is the cache that makes the next build of the
variant take seconds. Each build therefore:

- keeps its builder stage under a name, ``sagepack-cache/<model>:<variant>-builder``, so it
  is never an anonymous ``<none>`` image (or, with ``keep_cache=False``, removes it);
- removes what it superseded: the builder stage the cache tag named before, and the image
  its tags named before, once nothing else tags them and no container uses them.

Only images this build reported in its stream or moved a sagepack tag away from are ever
touched, and only when they carry sagepack's labels; what is removed or kept is listed in
the build report.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from docker.errors import APIError, ImageNotFound

from sagepack.labels import SAGEPACK_PREFIXES

CACHE_REPOSITORY = "sagepack-cache"


@dataclass(frozen=True)
class Leftover:
    """One image a build left behind, and what became of it."""

    image_id: str
    size: int
    what: str  # "builder stage", "superseded builder stage", "superseded image"
    action: str  # "removed" or "kept"
    detail: str = ""  # the cache tag, or why it was kept

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        size = f"{self.size / 1e6:.0f} MB"
        return (f"{self.action} {self.what} {self.image_id.removeprefix('sha256:')[:12]} "
                f"({size}){': ' + self.detail if self.detail else ''}")


def cache_tag(model: str, variant: str) -> str:
    return f"{CACHE_REPOSITORY}/{model}:{variant}-builder"


def image_ids(client: Any, tags: Iterable[str]) -> dict[str, str]:
    """The image id each of ``tags`` names now (tags naming nothing are left out)."""
    found: dict[str, str] = {}
    for tag in tags:
        try:
            found[tag] = str(client.images.get(tag).id)
        except ImageNotFound:
            continue
    return found


def is_sagepack_image(labels: Mapping[str, str] | None) -> bool:
    return any(key.startswith(SAGEPACK_PREFIXES) for key in (labels or {}))


def dangling_sagepack_images(client: Any) -> set[str]:
    """Ids of the untagged, childless images that carry a sagepack label."""
    return {str(image.id) for image in client.images.list(filters={"dangling": True})
            if is_sagepack_image(image.labels)}


def _remove(client: Any, image_id: str, what: str,
            own_tags: Iterable[str] = ()) -> Leftover | None:
    """Remove ``image_id`` unless a tag other than ``own_tags`` still names it."""
    try:
        image = client.images.get(image_id)
    except ImageNotFound:
        return None
    size = int(image.attrs.get("Size") or 0)
    if set(image.tags) - set(own_tags):
        return None  # still somebody's tagged image: not left behind
    if not is_sagepack_image(image.labels):
        return Leftover(image.id, size, what, "kept", "it carries no sagepack label")
    try:
        client.images.remove(image.id, noprune=False)
    except APIError as exc:  # in use by a container, or the parent of another image
        return Leftover(image.id, size, what, "kept", str(exc.explanation or exc))
    return Leftover(image.id, size, what, "removed")


def _resolve(client: Any, ids: Iterable[str]) -> list[str]:
    found: list[str] = []
    for short in ids:
        try:
            found.append(str(client.images.get(short).id))
        except ImageNotFound:
            continue
    return found


def tidy(client: Any, *, model: str, variant: str, image_id: str,
         stage_images: Iterable[str], before: Mapping[str, str],
         keep_cache: bool = True) -> list[Leftover]:
    """Name or remove this build's builder stage, and remove what it superseded.

    ``before`` maps the build's tags and the cache tag to the ids they named before the
    build (:func:`image_ids`); ``stage_images`` are the earlier stages' images the build
    stream reported (a stage that is the parent of the image, like ``runtime`` under
    ``baked``, is not left behind and is not touched).
    """
    tag = cache_tag(model, variant)
    repository, _, name = tag.rpartition(":")
    dangling = dangling_sagepack_images(client)
    builder = next((s for s in _resolve(client, stage_images)
                    if s in dangling or s == before.get(tag)), None)
    out: list[Leftover] = []
    if builder is not None and keep_cache:
        image = client.images.get(builder)
        image.tag(repository, name)
        out.append(Leftover(builder, int(image.attrs.get("Size") or 0), "builder stage",
                            "kept", f"as {tag}, the cache of the next build"))
    elif builder is not None:
        removed = _remove(client, builder, "builder stage", own_tags=(tag,))
        if removed is not None:
            out.append(removed)
    dangling = dangling_sagepack_images(client)  # now that the tags have moved
    for old_tag, old_id in before.items():
        if old_id in (image_id, builder):
            continue
        superseded_builder = old_tag == tag
        if not superseded_builder and old_id not in dangling:
            continue  # still tagged, or the parent of the new image (runtime under baked)
        left = _remove(client, old_id,
                       "superseded builder stage" if superseded_builder else "superseded image",
                       own_tags=(tag,) if superseded_builder else ())
        if left is not None and all(item.image_id != left.image_id for item in out):
            out.append(left)
    return out
