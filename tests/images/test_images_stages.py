"""What a build leaves behind, with a stand-in engine: only sagepack's own images go."""

from __future__ import annotations

from typing import Any

from docker.errors import APIError, ImageNotFound

from sagepack.images.stages import cache_tag, tidy

SAGEPACK = {"sagepack.base.name": "sagepack/base:bookworm-python3.11"}


class _Image:
    def __init__(self, engine: _Engine, image_id: str, labels: dict[str, str],
                 parent: str = "") -> None:
        self.engine, self.id, self.labels, self.parent = engine, image_id, labels, parent
        self.attrs = {"Size": 1_000_000}

    @property
    def tags(self) -> list[str]:
        return [t for t, i in self.engine.tag_map.items() if i == self.id]

    def tag(self, repository: str, tag: str) -> None:
        self.engine.tag_map[f"{repository}:{tag}"] = self.id


class _Images:
    def __init__(self, engine: _Engine) -> None:
        self.engine = engine

    def get(self, ref: str) -> _Image:
        ref = self.engine.tag_map.get(ref, ref)
        for image in self.engine.store.values():
            if image.id == ref or image.id.removeprefix("sha256:").startswith(ref):
                return image
        raise ImageNotFound(ref)

    def list(self, filters: dict[str, Any]) -> list[_Image]:
        assert filters == {"dangling": True}
        parents = {i.parent for i in self.engine.store.values()}
        return [i for i in self.engine.store.values() if not i.tags and i.id not in parents]

    def remove(self, ref: str, noprune: bool = False) -> None:
        image = self.get(ref)
        if image.id in self.engine.in_use:
            raise APIError("conflict: image is being used by a container")
        self.engine.removed.append(image.id)
        del self.engine.store[image.id]


class _Engine:
    def __init__(self) -> None:
        self.store: dict[str, _Image] = {}
        self.tag_map: dict[str, str] = {}
        self.in_use: set[str] = set()
        self.removed: list[str] = []
        self.images = _Images(self)

    def add(self, image_id: str, labels: dict[str, str], *tags: str, parent: str = "") -> None:
        self.store[image_id] = _Image(self, image_id, labels, parent)
        for tag in tags:
            self.tag_map[tag] = image_id


def test_builder_is_named_and_superseded_images_go() -> None:
    engine = _Engine()
    engine.add("sha256:aaa1", SAGEPACK, cache_tag("m", "cpu"))  # the previous builder
    engine.add("sha256:bbb1", SAGEPACK)  # the previous image, its tag already moved
    engine.add("sha256:ccc1", SAGEPACK)  # this build's builder stage
    engine.add("sha256:ddd1", SAGEPACK, "repo/m:1-cpu")
    engine.add("sha256:eee1", {})  # somebody else's dangling image
    before = {"repo/m:1-cpu": "sha256:bbb1", cache_tag("m", "cpu"): "sha256:aaa1"}
    left = tidy(engine, model="m", variant="cpu", image_id="sha256:ddd1",
                stage_images=["ccc1"], before=before)
    assert [(item.image_id, item.what, item.action) for item in left] == [
        ("sha256:ccc1", "builder stage", "kept"),
        ("sha256:bbb1", "superseded image", "removed"),
        ("sha256:aaa1", "superseded builder stage", "removed")]
    assert engine.tag_map[cache_tag("m", "cpu")] == "sha256:ccc1"
    assert "sha256:eee1" in engine.store


def test_an_image_in_use_is_kept_and_said_so() -> None:
    engine = _Engine()
    engine.add("sha256:bbb1", SAGEPACK)
    engine.add("sha256:ddd1", SAGEPACK, "repo/m:1-cpu")
    engine.in_use.add("sha256:bbb1")
    left = tidy(engine, model="m", variant="cpu", image_id="sha256:ddd1", stage_images=[],
                before={"repo/m:1-cpu": "sha256:bbb1"})
    [item] = left
    assert item.action == "kept" and "used by a container" in item.detail


def test_a_previous_image_tagged_elsewhere_or_a_parent_is_left_alone() -> None:
    engine = _Engine()
    engine.add("sha256:bbb1", SAGEPACK, "mine/keep:1")  # the user tagged the old image
    engine.add("sha256:rrr1", SAGEPACK)  # the old runtime image, now the new image's parent
    engine.add("sha256:ddd1", SAGEPACK, "repo/m:1-cpu", parent="sha256:rrr1")
    before = {"repo/m:1-cpu": "sha256:bbb1", "repo/m:abc-cpu": "sha256:rrr1"}
    assert tidy(engine, model="m", variant="cpu", image_id="sha256:ddd1",
                stage_images=[], before=before) == []
    assert engine.removed == []


def test_without_the_cache_the_builder_goes_too() -> None:
    engine = _Engine()
    engine.add("sha256:ccc1", SAGEPACK, cache_tag("m", "cpu"))  # a cache hit
    engine.add("sha256:ddd1", SAGEPACK, "repo/m:1-cpu")
    left = tidy(engine, model="m", variant="cpu", image_id="sha256:ddd1",
                stage_images=["ccc1"], before={cache_tag("m", "cpu"): "sha256:ccc1"},
                keep_cache=False)
    assert [(item.what, item.action) for item in left] == [("builder stage", "removed")]
    assert engine.removed == ["sha256:ccc1"]
