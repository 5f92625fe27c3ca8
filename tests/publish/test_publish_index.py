"""A model with an amd64 and an arm64 variant: per-platform tags, one OCI image index under
the version tag (pushed to a real registry and read back), Graviton instance types in the
arm64 variant's model package."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from publish_helpers import ACCOUNT, Images, Project, make_bucket, rootfs_tar
from rich.console import Console

from sagepack.errors import PublishError
from sagepack.images.loader import load_rootfs
from sagepack.platforms import ARM64
from sagepack.publish import publish
from sagepack.publish.index import INDEX_MEDIA_TYPE
from sagepack.publish.localstack import LocalAws

pytestmark = [pytest.mark.services, pytest.mark.docker]

GRAVITON = """
[variants.graviton]
platform = "linux/arm64"
requirements_in = "requirements/cpu.in"
requirements = "requirements/graviton.txt"
realtime_instance_types = ["ml.c7g.large", "ml.m7g.large"]
"""


def arm64_image(images: Images, tmp_path: Path, refs: list[str], content: bytes) -> str:
    """A small linux/arm64 image, imported as the arm64 base is."""
    tar = tmp_path / "arm64-rootfs.tar"
    tar.write_bytes(rootfs_tar({"app/model.txt": content}))
    load_rootfs(images.client, tar, refs[0], ARM64, env=[], cmd=["true"], labels={},
                created="2026-01-01T00:00:00Z", comment="test")
    image = images.client.images.get(refs[0])
    for ref in refs[1:]:
        repo, _, other = ref.rpartition(":")
        image.tag(repo, other)
    images.track(str(image.id))
    return str(image.id)


def registry_manifest(services: LocalAws, repository: str, reference: str,
                      accept: str) -> requests.Response:
    user, password = next(iter(services.registry.users.items()))
    return requests.get(f"http://{services.registry.host}/v2/{repository}/manifests/{reference}",
                        auth=(user, password), headers={"Accept": accept}, timeout=30)


def both(images: Images, project: Project, tmp_path: Path, content: bytes = b"v1"
         ) -> tuple[str, str]:
    repo = project.repository()
    amd = images.make([f"{repo}:1.0.0-cpu"], {"app/model.txt": content})
    arm = arm64_image(images, tmp_path, [f"{repo}:1.0.0-graviton"], content)
    return amd, arm


def test_both_platforms_are_published_under_one_index(
        aws_env: dict[str, str], services: LocalAws, project: Project, images: Images,
        console: Console, tmp_path: Path) -> None:
    make_bucket(project.bucket, "us-east-1")
    project.write(extra_tool="create_model_package = true\n", extra_model=GRAVITON)
    amd, arm = both(images, project, tmp_path)
    assert images.client.images.get(arm).attrs["Architecture"] == "arm64"
    project.pack()
    settings = project.settings()

    first = publish(settings, settings.select("demo"), None, dry_run=False, force=False,
                    console=console)
    out = console.export_text(clear=True)
    repo = project.repository()
    assert [(r.tag, r.platform, r.action) for r in first.images] == [
        ("1.0.0-cpu", "linux/amd64", "pushed"), ("1.0.0-graviton", "linux/arm64", "pushed")]
    by_variant = {r.variant: r.digest for r in first.images}
    [index] = first.indexes
    assert index.action == "pushed" and index.uri == f"{project.registry}/{repo}:1.0.0"
    assert dict(index.platforms) == {"linux/amd64": by_variant["cpu"],
                                     "linux/arm64": by_variant["graviton"]}
    assert "index of cpu, graviton" in out and "linux/amd64 + linux/arm64" in out

    # The registry holds the index under the version tag, naming both manifests.
    resp = registry_manifest(services, repo, "1.0.0", INDEX_MEDIA_TYPE)
    assert resp.status_code == 200 and resp.headers["Content-Type"] == INDEX_MEDIA_TYPE
    assert resp.headers["Docker-Content-Digest"] == index.digest
    body = resp.json()
    assert body["mediaType"] == INDEX_MEDIA_TYPE and body["schemaVersion"] == 2
    listed = {(m["platform"]["os"], m["platform"]["architecture"]): m for m in body["manifests"]}
    assert set(listed) == {("linux", "amd64"), ("linux", "arm64")}
    for (_, arch), entry in listed.items():
        child = registry_manifest(services, repo, entry["digest"], entry["mediaType"])
        assert child.status_code == 200 and len(child.content) == entry["size"]
        assert child.json()["config"]["digest"] == (amd if arch == "amd64" else arm)

    # The arm64 variant's model package lists Graviton instances and no transform ones.
    sm = boto3.client("sagemaker")
    graviton = sm.describe_model_package(ModelPackageName="demo-1-0-0-graviton")
    spec = graviton["InferenceSpecification"]
    assert spec["Containers"][0]["Image"] == \
        f"{project.registry}/{repo}@{by_variant['graviton']}"
    assert spec["SupportedRealtimeInferenceInstanceTypes"] == ["ml.c7g.large", "ml.m7g.large"]
    assert not spec.get("SupportedTransformInstanceTypes")
    cpu = sm.describe_model_package(ModelPackageName="demo-1-0-0-cpu")["InferenceSpecification"]
    assert cpu["SupportedRealtimeInferenceInstanceTypes"] == ["ml.m5.large"]
    assert cpu["SupportedTransformInstanceTypes"] == ["ml.m5.large"]

    record = json.loads((settings.project.dist_for("demo") / "publish.json").read_text())
    assert record["index"]["digest"] == index.digest
    assert record["index"]["reference"] == f"{project.registry}/{repo}@{index.digest}"
    assert {i["variant"]: i["platform"] for i in record["images"]} == {
        "cpu": "linux/amd64", "graviton": "linux/arm64"}
    assert record["account_id"] == ACCOUNT

    # A second publish finds everything, the index included, and sends nothing.
    second = publish(settings, settings.select("demo"), None, dry_run=False, force=False,
                     console=console)
    assert [r.action for r in second.images] == ["skipped", "skipped"]
    assert [(r.action, r.digest) for r in second.indexes] == [("skipped", index.digest)]
    assert not second.changed


def test_a_version_tag_holding_something_else_is_refused_then_forced(
        aws_env: dict[str, str], services: LocalAws, project: Project, images: Images,
        console: Console, tmp_path: Path) -> None:
    make_bucket(project.bucket, "us-east-1")
    project.write(extra_model=GRAVITON)
    repo = project.repository()
    project.pack()
    # The version tag already holds a plain image (an earlier single-platform release).
    boto3.client("ecr").create_repository(repositoryName=repo,
                                          imageTagMutability="IMMUTABLE")
    old = images.client.images.get(images.make([f"{repo}:1.0.0"], {"app/old.txt": b"old"}))
    user, password = next(iter(services.registry.users.items()))
    old.tag(f"{project.registry}/{repo}", "1.0.0")
    chunks = list(images.client.api.push(f"{project.registry}/{repo}", tag="1.0.0",
                                         stream=True, decode=True,
                                         auth_config={"username": user, "password": password}))
    images.client.images.remove(f"{project.registry}/{repo}:1.0.0", noprune=True)
    assert not [c for c in chunks if "error" in c], chunks
    settings = project.settings()
    both(images, project, tmp_path)
    with pytest.raises(PublishError, match=r":1\.0\.0 already holds .* not an index of the "
                                           r"local cpu, graviton images; re-run with --force"):
        publish(settings, settings.select("demo"), None, dry_run=False, force=False,
                console=console)
    forced = publish(settings, settings.select("demo"), None, dry_run=False, force=True,
                 console=console)
    assert [r.action for r in forced.indexes] == ["replaced"]
    resp = registry_manifest(services, repo, "1.0.0", INDEX_MEDIA_TYPE)
    assert resp.headers["Docker-Content-Digest"] == forced.indexes[0].digest


def test_no_index_when_a_platform_has_two_cpu_variants(
        aws_env: dict[str, str], services: LocalAws, project: Project, images: Images,
        console: Console, tmp_path: Path) -> None:
    make_bucket(project.bucket, "us-east-1")
    project.write(extra_model=GRAVITON + """
[variants.cpu2]
requirements_in = "requirements/cpu.in"
requirements = "requirements/cpu2.txt"
""")
    repo = project.repository()
    both(images, project, tmp_path)
    images.make([f"{repo}:1.0.0-cpu2"], {"app/model.txt": b"two"})
    project.pack()
    settings = project.settings()
    report: Any = publish(settings, settings.select("demo"), None, dry_run=True, force=False,
                          console=console)
    assert report.plan.indexes == ()
    assert "demo: no image index under 1.0.0: more than one CPU variant of a platform " \
        "(linux/amd64: cpu, cpu2)" in console.export_text()
