"""A CycloneDX 1.6 SBOM of a built image: ``dist/<model>/sbom-<variant>.cdx.json``.

It lists what the image holds, read from the image itself:

- every installed Debian package (``/var/lib/dpkg/status``, read with the Docker SDK's
  archive API from a container that is created, never started), as ``pkg:deb`` purls;
- every Python distribution of ``/opt/venv`` (listed by the image's own interpreter), as
  ``pkg:pypi`` purls with the sha256 hashes the variant's lock allows for it;
- sagepack's serving runtime (``sagepack.version`` label);
- in baked images, the model archive the weights came from (``sagepack.archive.sha256``).

The document is reproducible for an image: its serial number derives from the image id
and its timestamp is the image's creation time. Its sha256 is returned, recorded in the
build report and written beside it (``sbom-<variant>.cdx.json.sha256``).
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import tarfile
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError, NotFound
from packaging.utils import canonicalize_name

from sagepack.errors import ImageError
from sagepack.files import atomic_write, write_json
from sagepack.images.checks import run_in_image
from sagepack.images.debian import DPKG_STATUS as STATUS_PATH
from sagepack.images.debian import DebPackage, parse_dpkg_status
from sagepack.images.lock import read_lock

DPKG_STATUS = "/" + STATUS_PATH
VENV_PYTHON = "/opt/venv/bin/python"
DEBIAN_DISTRO = "debian-12"
_LIST_SCRIPT = r"""
import importlib.metadata as m, json, sysconfig
site = sysconfig.get_paths()["purelib"]
print(json.dumps(sorted({(d.metadata["Name"], d.version) for d in m.distributions(path=[site])})))
"""


def read_file(client: docker.DockerClient, image: str, path: str) -> bytes:
    """One file of ``image``, read without running it."""
    container = client.containers.create(image, command=["true"], entrypoint=[],
                                         network_disabled=True, network_mode="none",
                                         labels={"sagepack.check": "true"})
    try:
        stream, _ = container.get_archive(path)
        data = b"".join(stream)
    except NotFound as exc:
        raise ImageError(f"{image} has no {path}") from exc
    finally:
        container.remove(force=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        member = tar.next()
        handle = tar.extractfile(member) if member is not None else None
        if handle is None:
            raise ImageError(f"{image}: {path} is not a regular file")
        return handle.read()


def python_distributions(client: docker.DockerClient, image: str) -> list[tuple[str, str]]:
    """(name, version) of each distribution in the image's ``/opt/venv``."""
    status, output = run_in_image(client, image, [VENV_PYTHON, "-c", _LIST_SCRIPT])
    lines = [line for line in output.splitlines() if line.startswith("[")]
    if status != 0 or not lines:
        raise ImageError(f"{image}: cannot list the Python distributions of /opt/venv "
                         f"(exit {status}): {output.strip()[-300:]}")
    return [(str(n), str(v)) for n, v in json.loads(lines[-1])]


def _components(debs: list[DebPackage], dists: list[tuple[str, str]],
                hashes: Mapping[str, frozenset[str]], labels: Mapping[str, str]) -> Iterator[Any]:
    from cyclonedx.model import HashAlgorithm, HashType, Property
    from cyclonedx.model.component import Component, ComponentType
    from packageurl import PackageURL

    for deb in debs:
        purl = PackageURL("deb", "debian", deb.name, deb.version,
                          qualifiers={"arch": deb.architecture, "distro": DEBIAN_DISTRO})
        props = [Property(name="sagepack:source", value="dpkg")]
        if deb.source:
            props.append(Property(name="debian:source", value=deb.source))
        yield Component(name=deb.name, version=deb.version, type=ComponentType.LIBRARY,
                        purl=purl, bom_ref=purl.to_string(), properties=props)
    for name, version in dists:
        purl = PackageURL("pypi", None, canonicalize_name(name), version)
        sha = sorted(hashes.get(canonicalize_name(name), frozenset()))
        yield Component(name=name, version=version, type=ComponentType.LIBRARY, purl=purl,
                        bom_ref=purl.to_string(),
                        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=h) for h in sha],
                        properties=[Property(name="sagepack:source", value="/opt/venv")])
    runtime = labels.get("sagepack.version", "")
    purl = PackageURL("pypi", None, "sagepack", runtime or None)
    yield Component(name="sagepack", version=runtime, type=ComponentType.FRAMEWORK, purl=purl,
                    bom_ref="sagepack-runtime", description="sagepack serving runtime",
                    properties=[Property(name="sagepack:source", value="/opt/sagepack")])
    archive = labels.get("sagepack.archive.sha256")
    if archive:
        yield Component(name="model.tar.gz", type=ComponentType.DATA, bom_ref="model-archive",
                        version=labels.get("sagepack.model.version", ""),
                        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=archive)],
                        description=f"model archive of {labels.get('sagepack.model', '?')}")


def sbom_name(variant: str) -> str:
    """The file name of a variant's SBOM under ``dist/<model>/``."""
    return f"sbom-{variant}.cdx.json"


@dataclass(frozen=True)
class Sbom:
    """An SBOM written to ``path``: its sha256 and what it counts."""

    path: Path
    sha256: str
    debian_packages: int
    python_distributions: int

    def as_report(self) -> dict[str, Any]:
        """The build report's ``sbom`` entry."""
        return {**asdict(self), "path": self.path.name}


def write_sbom(client: docker.DockerClient, image: str, lock: Path, out_path: Path, *,
               report_path: Path | None = None) -> str:
    """Write the SBOM of ``image`` (its lock ``lock``) to ``out_path``; return its sha256.

    With ``report_path`` (the build report), the SBOM's path and sha256 are added to it.
    """
    sbom = make_sbom(client, image, lock, out_path)
    if report_path is not None:
        report = json.loads(report_path.read_text())
        report["sbom"] = sbom.as_report()
        write_json(report_path, report)
    return sbom.sha256


def make_sbom(client: docker.DockerClient, image: str, lock: Path, out_path: Path) -> Sbom:
    """Write the SBOM of ``image`` (its lock ``lock``) and its ``.sha256`` beside it."""
    from cyclonedx.model import Property
    from cyclonedx.model.bom import Bom, BomMetaData
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output.json import JsonV1Dot6

    try:
        attrs = client.api.inspect_image(image)
        debs = parse_dpkg_status(read_file(client, image, DPKG_STATUS).decode("utf-8",
                                                                              "replace"))
        dists = python_distributions(client, image)
    except APIError as exc:
        raise ImageError(f"writing the SBOM of {image}: the engine failed: {exc}") from exc
    image_id = str(attrs["Id"])
    labels = (attrs.get("Config") or {}).get("Labels") or {}
    hashes: dict[str, frozenset[str]] = {r.key: r.hashes for r in read_lock(lock)}
    created = str(attrs.get("Created", ""))[:19] or "1970-01-01T00:00:00"
    subject = Component(
        name=labels.get("sagepack.model", image), version=labels.get("sagepack.model.version"),
        type=ComponentType.CONTAINER, bom_ref="image",
        properties=[Property(name="sagepack:image-id", value=image_id),
                    Property(name="sagepack:variant", value=labels.get("sagepack.variant", "")),
                    Property(name="sagepack:lock.sha256",
                             value=labels.get("sagepack.lock.sha256", "")),
                    # A GPU image's CUDA runtime, minimum driver and target hosts.
                    *(Property(name=key.replace("sagepack.", "sagepack:", 1), value=value)
                      for key, value in sorted(labels.items())
                      if key.startswith("sagepack.cuda."))])
    components = list(_components(debs, dists, hashes, labels))
    bom = Bom(serial_number=uuid.uuid5(uuid.NAMESPACE_URL, f"sagepack:{image_id}"),
              metadata=BomMetaData(component=subject, timestamp=datetime.datetime.fromisoformat(
                  created).replace(tzinfo=datetime.UTC)),
              components=components)
    bom.register_dependency(subject, components)
    document = JsonV1Dot6(bom).output_as_string(indent=2) + "\n"
    sha256 = hashlib.sha256(document.encode()).hexdigest()
    atomic_write(out_path, document)
    atomic_write(out_path.with_name(out_path.name + ".sha256"), f"{sha256}  {out_path.name}\n")
    return Sbom(path=out_path, sha256=sha256, debian_packages=len(debs),
                python_distributions=len(dists))
