"""The patched local base and the SBOM label, on the engine (the session's one base build
and the example's CPU image)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from sagepack import labels as keys
from sagepack.images.base import base_updated, recorded_package_set, stale_base_warning
from sagepack.images.checks import run_in_image
from sagepack.images.stages import dangling_sagepack_images

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
DAY = 86400.0
QUERY = ["dpkg-query", "-W", "-f", "${Package} ${Version} ${Architecture}\\n"]


def test_the_base_records_the_package_set_the_security_suites_left(docker_client: Any,
                                                                   local_base: str) -> None:
    labels = keys.read_labels(docker_client, local_base)
    assert labels[keys.BASE_SUITES] == "bookworm bookworm-updates bookworm-security"
    recorded = recorded_package_set(docker_client, local_base)  # checks the sha256 label
    assert recorded is not None
    assert labels[keys.BASE_PACKAGE_COUNT] == str(len(recorded))
    assert int(labels[keys.BASE_UPGRADED]) >= 0

    status, listed = run_in_image(docker_client, local_base, QUERY)
    assert status == 0
    installed = sorted(line for line in listed.splitlines() if line.strip())
    assert installed == [p.line for p in recorded]
    assert {"python3", "python3-venv", "ca-certificates"} <= {p.name for p in recorded}

    status, sources = run_in_image(docker_client, local_base, [
        "sh", "-c", "cat /etc/apt/sources.list; echo files: $(find /var/lib/apt/lists "
                    "/var/cache/apt -type f | wc -l); test ! -e /usr/sbin/policy-rc.d "
                    "&& echo no-policy"])
    assert status == 0
    assert " bookworm-security main" in sources and " bookworm-updates main" in sources
    assert "files: 0\n" in sources  # apt's lists and downloaded packages are cleaned
    assert "no-policy" in sources

    # The age counts from when the suites were applied.
    attrs = docker_client.api.inspect_image(local_base)
    updated = base_updated(attrs)
    assert updated is not None
    assert stale_base_warning(local_base, attrs, 1, now=updated + DAY / 2) is None
    warning = stale_base_warning(local_base, attrs, 1, now=updated + 3 * DAY)
    assert warning is not None and "is 3 days old" in warning
    assert warning.endswith(f"invoke base --refresh --name {local_base}")


def test_the_image_carries_the_sha256_of_the_sbom_its_build_wrote(
        docker_client: Any, local_base: str, example_image: Any) -> None:
    tag = example_image("cpu")
    attrs = docker_client.api.inspect_image(tag)
    labels = attrs["Config"]["Labels"]
    dist = ROOT / "dist" / "iris"
    sbom = dist / "sbom-cpu.cdx.json"
    text = sbom.read_bytes()
    assert labels[keys.SBOM_SHA256] == hashlib.sha256(text).hexdigest()
    assert (dist / "sbom-cpu.cdx.json.sha256").read_text().split()[0] == \
        labels[keys.SBOM_SHA256]
    report = json.loads((dist / "build-cpu.json").read_text())
    assert report["image_id"] == attrs["Id"]
    assert report["sbom"]["sha256"] == labels[keys.SBOM_SHA256]
    assert report["labels"][keys.SBOM_SHA256] == labels[keys.SBOM_SHA256]

    # The SBOM names the image it was read from: the labelled image's parent, which adds
    # no layer, keeps no tag and is not left dangling.
    document = json.loads(text)
    props = {p["name"]: p["value"] for p in document["metadata"]["component"]["properties"]}
    parent = docker_client.api.inspect_image(attrs["Parent"])
    assert props["sagepack:image-id"] == parent["Id"] == report["sbom"]["image_id"]
    assert parent["RootFS"]["Layers"] == attrs["RootFS"]["Layers"]
    assert parent["RepoTags"] == []
    assert parent["Id"] not in dangling_sagepack_images(docker_client)
    assert keys.SBOM_SHA256 not in parent["Config"]["Labels"]

    # The image's Debian packages are the base's patched package set.
    recorded = recorded_package_set(docker_client, local_base)
    assert recorded is not None
    debs = sorted((c["name"], c["version"]) for c in document["components"]
                  if c.get("purl", "").startswith("pkg:deb/"))
    assert debs == sorted((p.name, p.version) for p in recorded)
    assert report["sbom"]["debian_packages"] == len(recorded)
