"""Uncompressed model data on the local side: configuration, the listing ``invoke package``
writes, and the folder ``invoke test`` mounts (no AWS, no Docker)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
from publish_helpers import Project

from sagepack.archive import ARCHIVE_NAME, package_models
from sagepack.containers.model_dir import model_directory
from sagepack.errors import ArchiveError, ConfigError
from sagepack.model_data import read_files, staged

UNCOMPRESSED = 'model_data = "uncompressed"\n'


@pytest.fixture
def local(tmp_path: Path) -> Project:
    project = Project(root=tmp_path / "project", repository_prefix="sptest", bucket="b",
                      registry="127.0.0.1:1")
    project.root.mkdir()
    project.write(extra_model=UNCOMPRESSED)
    nested = project.model_root / "weights" / "shards"
    nested.mkdir(parents=True)
    (nested / "part-0.bin").write_bytes(os.urandom(300_000))
    (nested / "part-1.bin").write_bytes(b"")
    (project.model_root / "weights" / "empty-folder").mkdir()
    return project


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def package(project: Project) -> dict[str, object]:
    settings = project.settings()
    package_models(settings, settings.select("demo"))
    manifest = settings.project.dist_for("demo") / "manifest.json"
    return dict(json.loads(manifest.read_text()))


def test_package_lists_every_file_with_its_sha256_and_writes_no_archive(
        local: Project) -> None:
    manifest = package(local)
    root = local.model_root
    expected = {p.relative_to(root).as_posix(): p for p in root.rglob("*") if p.is_file()
                and p.relative_to(root).parts[0] not in ("requirements", "sagepack.toml")}
    members = {m["name"]: m for m in manifest["members"]}  # type: ignore[attr-defined]
    assert set(members) == set(expected)  # no folders: S3 has none
    for name, path in expected.items():
        assert members[name]["sha256"] == sha256(path)
        assert members[name]["size"] == path.stat().st_size
    assert manifest["model_data"] == "uncompressed"
    files = manifest["files"]
    assert files["count"] == len(expected)  # type: ignore[index]
    assert files["size"] == sum(p.stat().st_size for p in expected.values())  # type: ignore[index]
    assert not (local.settings().project.dist_for("demo") / ARCHIVE_NAME).exists()


def test_the_mounted_folder_holds_exactly_the_listed_files(local: Project) -> None:
    private = local.model_root / "weights" / "shards" / "part-0.bin"
    private.chmod(0o600)  # copied (a link would keep it unreadable in the container)
    package(local)
    settings = local.settings()
    model = settings.models["demo"]
    with model_directory(settings, model) as folder:
        assert folder is not None
        found = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
        assert found == {"code/inference.py", "weights.bin", "weights/shards/part-0.bin",
                         "weights/shards/part-1.bin"}
        assert not (folder / "weights" / "empty-folder").exists()  # as SageMaker lays it out
        for name in found:
            assert sha256(folder / name) == sha256(model.root / name)
            assert (folder / name).stat().st_mode & 0o444 == 0o444
        assert (folder / "weights/shards/part-0.bin").stat().st_ino != private.stat().st_ino
    assert not folder.exists()
    assert private.stat().st_mode & 0o777 == 0o600  # the model folder is left as it was


def test_a_file_changed_after_packaging_is_refused_by_name(local: Project) -> None:
    package(local)
    changed = local.model_root / "weights" / "shards" / "part-0.bin"
    changed.write_bytes(os.urandom(300_000))  # same size, other bytes
    settings = local.settings()
    data = read_files(settings, settings.models["demo"])
    with pytest.raises(ArchiveError, match=r"part-0\.bin changed since invoke package"), \
            staged(data, settings.project.dist_for("demo")):
        pass
    assert [p.name for p in settings.project.dist_for("demo").iterdir()] == ["manifest.json"]


def test_a_manifest_of_an_archive_or_another_version_is_refused(local: Project) -> None:
    settings = local.settings()
    with pytest.raises(ArchiveError, match=r"not found .*invoke package --model demo"):
        read_files(settings, settings.models["demo"])
    local.write()  # compressed again, packaged as an archive
    local.pack()
    local.write(extra_model=UNCOMPRESSED)
    with pytest.raises(ArchiveError, match=r"describes a model\.tar\.gz archive"):
        read_files(local.settings(), local.settings().models["demo"])
    package(local)
    local.write(version="2.0.0", extra_model=UNCOMPRESSED)
    with pytest.raises(ArchiveError, match=r"is of version .1\.0\.0., not .2\.0\.0."):
        read_files(local.settings(), local.settings().models["demo"])


def test_an_edited_listing_is_refused(local: Project) -> None:
    manifest = package(local)
    members = manifest["members"]
    members[0]["sha256"] = "0" * 64  # type: ignore[index]
    path = local.settings().project.dist_for("demo") / "manifest.json"
    path.write_text(json.dumps(manifest))
    with pytest.raises(ArchiveError, match="does not match its own sha256"):
        read_files(local.settings(), local.settings().models["demo"])


def test_a_symlink_is_refused_since_s3_holds_none(local: Project) -> None:
    (local.model_root / "latest.bin").symlink_to("weights.bin")
    with pytest.raises(ArchiveError, match=r"latest.bin is a symlink, and S3 holds no"):
        package(local)


@pytest.mark.parametrize(("extra", "message"), [
    ('artifact_mode = "baked"\n', "'uncompressed' needs artifact_mode = 'dynamic'"),
    ('multi_model = true\ntest_models = ["a", "b"]\n', "a multi-model endpoint loads each"),
    ('model_data = "zip"\n', "expected one of compressed, uncompressed, got 'zip'"),
])
def test_what_cannot_load_uncompressed_data_is_a_configuration_error(
        tmp_path: Path, extra: str, message: str) -> None:
    project = Project(root=tmp_path / "p", repository_prefix="sptest", bucket="b",
                      registry="127.0.0.1:1")
    project.root.mkdir()
    data = "" if "model_data" in extra else UNCOMPRESSED
    project.write(extra_model=data + extra)
    with pytest.raises(ConfigError) as caught:
        project.settings()
    assert "model_data" in str(caught.value) and message in str(caught.value)
    assert "sagepack.toml" in str(caught.value)


def test_a_validated_model_package_of_uncompressed_data_is_refused(tmp_path: Path) -> None:
    project = Project(root=tmp_path / "p", repository_prefix="sptest", bucket="b",
                      registry="127.0.0.1:1")
    project.root.mkdir()
    (project.root / "artifacts" / "demo" / "samples").mkdir(parents=True)
    validation = ('[validation]\ninput = "samples"\nexpected = "samples"\n'
                  'content_type = "text/csv"\naccept = "text/csv"\n')
    project.write(extra_model=UNCOMPRESSED + validation)
    assert project.settings().models["demo"].validation is not None  # no package: fine
    project.write(extra_model=UNCOMPRESSED + validation,
                  extra_tool="create_model_package = true\n")
    with pytest.raises(ConfigError, match=r"model_data: the model package's \[validation\] "
                                          r"runs a batch transform"):
        project.settings()


def test_a_multi_model_image_is_not_tested_with_uncompressed_data(local: Project) -> None:
    from sagepack.smoke.models_dir import test_archives

    mme = local.root / "artifacts" / "mme"
    (mme / "requirements").mkdir(parents=True)
    (mme / "requirements" / "cpu.in").write_text("numpy\n")
    (mme / "sagepack.toml").write_text(
        'name = "mme"\nversion = "1.0.0"\nmulti_model = true\n'
        'test_models = ["demo", "other"]\ncontent_types = ["text/csv"]\n'
        'response_types = ["text/csv"]\n[variants.cpu]\n'
        'requirements_in = "requirements/cpu.in"\nrequirements = "requirements/cpu.txt"\n')
    other = local.root / "artifacts" / "other"
    shutil.copytree(local.model_root, other)
    toml = (other / "sagepack.toml").read_text()
    (other / "sagepack.toml").write_text(toml.replace('name = "demo"', 'name = "other"')
                                         .replace(UNCOMPRESSED, ""))
    settings = local.settings()
    with pytest.raises(ConfigError, match="'demo' has model_data = 'uncompressed'"):
        test_archives(settings, settings.models["mme"])
