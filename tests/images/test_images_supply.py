"""SBOMs and the secret scan of files, on tiny images built FROM the local base."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sagepack.config import DEFAULT_BASE_IMAGE as DEFAULT_BASE
from sagepack.config.supply import AllowedSecret, SupplyConfig
from sagepack.images.checks import run_in_image
from sagepack.images.debian import parse_dpkg_status
from sagepack.images.sbom import write_sbom
from sagepack.images.secrets import check_secret_files, scan_layer

KEY = "AKIAIOSFODNN7EXAMPLE"
SHA = "ab" * 32


def build(client: Any, dockerfile: str, files: dict[str, bytes], labels: dict[str, str]) -> str:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in {"Dockerfile": dockerfile.encode(), **files}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    image, _ = client.images.build(fileobj=buf, custom_context=True, network_mode="none",
                                   labels=labels, rm=True, forcerm=True)
    return str(image.id)


@pytest.fixture
def built(docker_client: Any) -> Iterator[list[str]]:
    ids: list[str] = []
    yield ids
    for image_id in reversed(ids):
        docker_client.images.remove(image_id, force=True)


def model_image(client: Any, built: list[str], files: dict[str, bytes]) -> str:
    image = build(client, f"FROM {DEFAULT_BASE}\nCOPY model/ /opt/ml/model/\n",
                  {f"model/{k}": v for k, v in files.items()}, {})
    built.append(image)
    return image


def test_a_layer_tar_is_scanned_by_content_and_by_name() -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in {"app/key.pem": b"-----BEGIN RSA PRIVATE KEY-----\n" + b"A" * 64,
                           "app/parser.so": b"\0-----BEGIN PRIVATE KEY-----\0",  # bare marker
                           "root/.aws/credentials": b"[default]\n", "app/.env": b"X=1\n",
                           "app/far.bin": b"\0" * (1024 * 1024 - 5) + KEY.encode(),
                           "app/.wh.gone": b""}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    diff_id, found = scan_layer(buf)
    assert diff_id.startswith("sha256:")
    assert sorted(found) == [("app/.env", "dotenv-file"), ("app/far.bin", "aws-access-key"),
                             ("app/key.pem", "private-key"),
                             ("root/.aws/credentials", "aws-credentials-file")]


def test_dpkg_status_lists_installed_packages_only() -> None:
    text = ("Package: a\nStatus: install ok installed\nVersion: 1\nArchitecture: amd64\n"
            "Description: x\n more\n\nPackage: b\nStatus: deinstall ok config-files\n"
            "Version: 2\n\nPackage: c\nStatus: install ok installed\nVersion: 3\n"
            "Architecture: all\nSource: csrc (3)\n")
    assert [(p.name, p.version, p.architecture, p.source) for p in parse_dpkg_status(text)] \
        == [("a", "1", "amd64", ""), ("c", "3", "all", "csrc")]


@pytest.mark.docker
def test_a_planted_key_in_the_model_fails_naming_the_file(docker_client: Any, local_base: str,
                                                          built: list[str]) -> None:
    planted = model_image(docker_client, built, {"config.json": f'{{"k": "{KEY}"}}'.encode(),
                                                 "weights.bin": b"\1" * 1000})
    result = check_secret_files(docker_client, planted, DEFAULT_BASE, SupplyConfig())
    assert not result.passed
    assert "/opt/ml/model/config.json in layer 2 (COPY dir in /opt/ml/model/): " \
        "aws-access-key" in result.detail
    assert "weights.bin" not in result.detail

    allowed = SupplyConfig(secret_allow=(AllowedSecret("opt/ml/model/config.json",
                                                       "AWS's documented example key",
                                                       "aws-access-key"),))
    result = check_secret_files(docker_client, planted, DEFAULT_BASE, allowed)
    assert result.passed and "AWS's documented example key" in result.detail

    clean = model_image(docker_client, built, {"config.json": b'{"k": "none"}',
                                               "weights.bin": b"\1" * 1000})
    assert check_secret_files(docker_client, clean, DEFAULT_BASE, SupplyConfig()).passed


@pytest.mark.docker
def test_the_sbom_lists_every_package_and_is_valid_cyclonedx(docker_client: Any,
                                                            local_base: str,
                                                            built: list[str],
                                                            tmp_path: Path) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator
    site = "/opt/venv/lib/python3.11/site-packages/Demo_Pkg-1.0.dist-info"
    dockerfile = (f"FROM {DEFAULT_BASE}\nRUN python3 -m venv --without-pip /opt/venv "
                  f"&& mkdir -p {site} && printf 'Metadata-Version: 2.1\\nName: Demo-Pkg\\n"
                  f"Version: 1.0\\n' > {site}/METADATA\n")
    image = build(docker_client, dockerfile, {}, {
        "sagepack.model": "demo", "sagepack.model.version": "2.0", "sagepack.variant": "cpu",
        "sagepack.version": "0.1.0", "sagepack.archive.sha256": SHA,
        "sagepack.cuda.runtime": "12.9.79", "sagepack.cuda.min-driver": "525.60.13"})
    built.append(image)
    lock = tmp_path / "cpu.txt"
    lock.write_text(f"demo-pkg==1.0 \\\n    --hash=sha256:{'cd' * 32}\n")
    out = tmp_path / "dist" / "sbom-cpu.cdx.json"
    report = tmp_path / "dist" / "build-cpu.json"
    report.parent.mkdir()
    report.write_text("{}")
    sha = write_sbom(docker_client, image, lock, out, report_path=report)

    text = out.read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    assert hashlib.sha256(text.encode()).hexdigest() == sha
    assert (out.parent / "sbom-cpu.cdx.json.sha256").read_text().split()[0] == sha
    assert json.loads(report.read_text())["sbom"]["sha256"] == sha
    doc = json.loads(text)
    comps = {c.get("purl") or c["name"]: c for c in doc["components"]}
    status, listed = run_in_image(docker_client, image, [
        "dpkg-query", "-W", "-f", "${Package} ${Version} ${Architecture}\\n"])
    assert status == 0
    debs = [line.split() for line in listed.splitlines() if line.strip()]
    assert len([p for p in comps if p.startswith("pkg:deb/")]) == len(debs) > 50
    names = {c["name"]: c for c in doc["components"]}
    for name, version, _ in debs:
        assert names[name]["version"] == version
    demo = names["Demo-Pkg"]
    assert demo["purl"] == "pkg:pypi/demo-pkg@1.0"
    assert demo["hashes"] == [{"alg": "SHA-256", "content": "cd" * 32}]
    assert names["sagepack"]["version"] == "0.1.0"
    assert names["model.tar.gz"]["hashes"] == [{"alg": "SHA-256", "content": SHA}]
    props = {p["name"]: p["value"] for p in doc["metadata"]["component"]["properties"]}
    assert props["sagepack:image-id"] == image
    assert props["sagepack:cuda.runtime"] == "12.9.79"
    assert props["sagepack:cuda.min-driver"] == "525.60.13"
    # The same image gives the same document.
    assert write_sbom(docker_client, image, lock, out) == sha
