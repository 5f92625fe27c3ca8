"""What a publish will do, worked out from configuration and local files only.

Making a plan touches nothing remote: it reads the configuration, asks the local Docker
engine for the images' ids and hashes the archives. ``--dry-run`` prints it and stops.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sagepack import labels as keys
from sagepack.archive import ARCHIVE_NAME
from sagepack.config import UNCOMPRESSED, ModelConfig, ProjectConfig, Settings
from sagepack.errors import ArchiveError, PublishError
from sagepack.images.sbom import sbom_name
from sagepack.images.tags import version_tag
from sagepack.publish.checksums import FileDigest, UploadSettings, digest_file

if TYPE_CHECKING:
    from sagepack.publish.index import IndexTarget

MANIFEST_NAME = "manifest.json"
REPORT_NAME = "publish.json"
ECR_HOST = re.compile(r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com"
                      r"(?:\.cn)?$")
SHA_TAG = "^[0-9a-f]{{7,40}}-{variant}$"
DATA_FOLDER = "model"  # uncompressed model data: <prefix>/<model>/<version>/model/<file>
MAX_KEY_BYTES = 1024


@dataclass(frozen=True)
class ImageTarget:
    """One local tag to push: ``<repository>:<tag>`` becomes ``<registry>/<repository>:<tag>``."""

    model: str
    variant: str
    repository: str
    tag: str
    image_id: str
    platform: str = "linux/amd64"  # the variant's

    @property
    def local_ref(self) -> str:
        return f"{self.repository}:{self.tag}"

    def remote_ref(self, registry: str) -> str:
        return f"{registry}/{self.repository}:{self.tag}"


@dataclass(frozen=True)
class ArchiveTarget:
    """One ``model.tar.gz`` and where it goes in S3."""

    model: str
    version: str
    path: Path
    digest: FileDigest
    bucket: str
    key: str

    @property
    def s3_uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class FilesTarget:
    """Uncompressed model data: each listed file and its key under one S3 prefix."""

    model: str
    version: str
    bucket: str
    prefix: str  # ends with "/": SageMaker loads every object below it
    files: tuple[ArchiveTarget, ...]
    digest: str  # sha256 of the listing (names, sizes, sha256)
    manifest: Path

    @property
    def s3_uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    @property
    def size(self) -> int:
        return sum(f.digest.size for f in self.files)


@dataclass(frozen=True)
class PackageTarget:
    """One SageMaker model package: a variant's image with its model's archive."""

    model: ModelConfig
    variant: str
    name: str
    group: str | None
    validation_prefix: str  # S3 key prefix for the validation transform's input/output


@dataclass(frozen=True)
class PublishPlan:
    """Everything a publish will do, before it does any of it."""

    region: str
    account_id: str | None
    registry: str | None
    bucket: str
    kms_key_id: str | None
    tag_mutability: str
    images: tuple[ImageTarget, ...]
    archives: tuple[ArchiveTarget, ...]
    packages: tuple[PackageTarget, ...]
    dist: dict[str, Path]
    sboms: tuple[ArchiveTarget, ...] = ()  # each variant's SBOM, beside the archive
    file_sets: tuple[FilesTarget, ...] = ()  # uncompressed model data, instead of archives
    notes: tuple[str, ...] = ()  # what the plan leaves out, said before publishing
    indexes: tuple[IndexTarget, ...] = ()  # per model: one tag for both platforms

    @property
    def repositories(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(i.repository for i in self.images))

    def registry_label(self) -> str:
        if self.registry:
            return self.registry
        account = self.account_id or "<account>"
        return f"{account}.dkr.ecr.{self.region}.amazonaws.com"


def archive_key(project: ProjectConfig, model: ModelConfig) -> str:
    """``<prefix>/<model>/<version>/model.tar.gz``."""
    parts = [project.s3_prefix, model.name, model.version, ARCHIVE_NAME]
    return "/".join(p.strip("/") for p in parts if p.strip("/"))


def data_prefix(project: ProjectConfig, model: ModelConfig) -> str:
    """``<prefix>/<model>/<version>/model/``: the trailing slash keeps SageMaker from also
    loading ``model.tar.gz`` or the SBOMs beside it."""
    return f"{archive_key(project, model).rpartition('/')[0]}/{DATA_FOLDER}/"


def default_registry(project: ProjectConfig, account_id: str | None) -> str | None:
    """The registry host: the configured override, else the account's ECR host."""
    if project.registry:
        return project.registry
    if account_id:
        return f"{account_id}.dkr.ecr.{project.region}.amazonaws.com"
    return None


def package_name(model: ModelConfig, variant: str) -> str:
    """A model package name SageMaker accepts: letters, digits and hyphens."""
    raw = f"{model.name}-{model.version}-{variant}"
    return re.sub(r"[^A-Za-z0-9-]+", "-", raw).strip("-")[:63]


def _archive_digest(model: ModelConfig, dist: Path, upload: UploadSettings,
                    problems: list[str]) -> tuple[Path, FileDigest] | None:
    archive = dist / ARCHIVE_NAME
    manifest = dist / MANIFEST_NAME
    if not archive.is_file():
        problems.append(f"{archive}: archive of {model.name} not found "
                        f"(run: invoke package --model {model.name})")
        return None
    recorded: dict[str, Any] = {}
    try:
        recorded = json.loads(manifest.read_text()).get("archive", {})
    except FileNotFoundError:
        problems.append(f"{manifest}: manifest of {model.name} not found "
                        f"(run: invoke package --model {model.name})")
        return None
    except (OSError, ValueError, AttributeError) as exc:
        problems.append(f"{manifest}: unreadable manifest: {exc}")
        return None
    digest = digest_file(archive, upload)
    if recorded.get("sha256") != digest.sha256 or recorded.get("size") != digest.size:
        problems.append(f"{archive}: sha256 {digest.sha256} ({digest.size} bytes) does not "
                        f"match {manifest} (archive.sha256 {recorded.get('sha256')}, "
                        f"size {recorded.get('size')}); re-run: invoke package "
                        f"--model {model.name}")
        return None
    return archive, digest


def files_target(settings: Settings, model: ModelConfig, upload: UploadSettings,
                  problems: list[str]) -> FilesTarget | None:
    """The files ``invoke package`` listed, each hashed again: one that changed since is
    refused, as an archive that does not match its manifest is."""
    from sagepack.model_data import read_files

    try:
        listing = read_files(settings, model)
    except ArchiveError as exc:
        problems.append(str(exc))
        return None
    project = settings.project
    prefix = data_prefix(project, model)

    def digest(path: Path) -> FileDigest | None:
        return digest_file(path, upload) if path.is_file() else None

    with ThreadPoolExecutor(max(1, upload.concurrency)) as pool:
        digests = list(pool.map(digest, [f.path for f in listing.files]))
    targets = []
    again = f"re-run: invoke package --model {model.name}"
    for file, found in zip(listing.files, digests, strict=True):
        key = prefix + file.name
        if found is None:
            problems.append(f"{file.path}: listed in {listing.manifest} but missing; {again}")
        elif (found.sha256, found.size) != (file.sha256, file.size):
            problems.append(f"{file.path}: sha256 {found.sha256} ({found.size} bytes) does not "
                            f"match {listing.manifest} (sha256 {file.sha256}, {file.size} "
                            f"bytes); {again}")
        elif len(key.encode()) > MAX_KEY_BYTES:
            problems.append(f"{file.path}: its S3 key would be longer than {MAX_KEY_BYTES} "
                            f"bytes ({key[:60]}...)")
        else:
            targets.append(ArchiveTarget(model=model.name, version=model.version,
                                         path=file.path, digest=found,
                                         bucket=project.s3_bucket, key=key))
    return FilesTarget(model=model.name, version=model.version, bucket=project.s3_bucket,
                       prefix=prefix, files=tuple(targets), digest=listing.digest,
                       manifest=listing.manifest)


def _image_targets(docker: Any, project: ProjectConfig, model: ModelConfig, variant: str,
                   problems: list[str]) -> list[ImageTarget]:
    from docker.errors import ImageNotFound

    repository = project.repository_for(model.name)
    main_tag = version_tag(model, variant)
    try:
        image = docker.images.get(f"{repository}:{main_tag}")
    except ImageNotFound:
        problems.append(f"image {repository}:{main_tag} not found in the local Docker engine "
                        f"(run: invoke build --model {model.name} --variant {variant})")
        return []
    tags = [main_tag]
    sha_tag = re.compile(SHA_TAG.format(variant=re.escape(variant)))
    for ref in sorted(image.tags):
        repo, _, tag = ref.rpartition(":")
        if repo == repository and sha_tag.match(tag) and tag not in tags:
            tags.append(tag)
    platform = model.variants[variant].platform.docker
    return [ImageTarget(model=model.name, variant=variant, repository=repository, tag=t,
                        image_id=str(image.id), platform=platform) for t in tags]


def _sbom_target(model: ModelConfig, variant: str, dist: Path, key: str, bucket: str,
                 image: tuple[str, dict[str, str]], upload: UploadSettings,
                 problems: list[str], notes: list[str]) -> ArchiveTarget | None:
    """The variant's SBOM, when the build wrote it for this very image (``image``: its id
    and labels): the image's ``sagepack.sbom.sha256`` label names the SBOM's sha256 (an
    image built before that label: the SBOM names the image's id)."""
    image_id, labels = image
    path = dist / sbom_name(variant)
    rebuild = f"re-run: invoke build --model {model.name} --variant {variant}"
    if not path.is_file():
        notes.append(f"{path}: no SBOM (run: invoke build --model {model.name} "
                     f"--variant {variant}); published without one")
        return None
    labelled = labels.get(keys.SBOM_SHA256)
    if labelled is not None:
        digest = digest_file(path, upload)
        if digest.sha256 != labelled:
            problems.append(f"{path} has sha256 {digest.sha256}, but the local image "
                            f"{image_id} records its SBOM as {labelled} "
                            f"({keys.SBOM_SHA256}); {rebuild}")
            return None
        return ArchiveTarget(model=model.name, version=model.version, path=path,
                             digest=digest, bucket=bucket,
                             key=f"{key.rpartition('/')[0]}/{path.name}")
    try:
        document = json.loads(path.read_text())
        props = document["metadata"]["component"].get("properties", [])
        recorded = next((p["value"] for p in props if p.get("name") == "sagepack:image-id"),
                        None)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        problems.append(f"{path}: unreadable SBOM: {exc}")
        return None
    if recorded != image_id:
        problems.append(f"{path} describes image {recorded}, not the local {image_id}; "
                        f"{rebuild}")
        return None
    return ArchiveTarget(model=model.name, version=model.version, path=path,
                         digest=digest_file(path, upload), bucket=bucket,
                         key=f"{key.rpartition('/')[0]}/{path.name}")


def make_plan(settings: Settings, models: Sequence[ModelConfig],
              variants: Sequence[str] | None, docker: Any, upload: UploadSettings,
              ) -> PublishPlan:
    """Work out what to publish; every missing input is reported at once."""
    from sagepack.publish.index import index_target

    project = settings.project
    problems: list[str] = []
    if not project.s3_bucket:
        problems.append(f"{project.config_file}: tool.sagepack.s3_bucket is not set "
                        "(or SAGEPACK_S3_BUCKET)")
    images: list[ImageTarget] = []
    archives: list[ArchiveTarget] = []
    packages: list[PackageTarget] = []
    sboms: list[ArchiveTarget] = []
    file_sets: list[FilesTarget] = []
    indexes: list[IndexTarget] = []
    notes: list[str] = []
    dist: dict[str, Path] = {}
    for model in models:
        chosen = list(variants) if variants else sorted(model.variants)
        for v in chosen:
            if v not in model.variants:
                known = ", ".join(sorted(model.variants)) or "none"
                problems.append(f"{model.config_file}: variants.{v}: no such variant "
                                f"(configured: {known})")
        chosen = [v for v in chosen if v in model.variants]
        if not chosen:
            continue
        dist[model.name] = project.dist_for(model.name)
        key = archive_key(project, model)
        for v in chosen:
            targets = _image_targets(docker, project, model, v, problems)
            images.extend(targets)
            sbom = _sbom_target(model, v, dist[model.name], key, project.s3_bucket,
                                (targets[0].image_id,
                                 keys.read_labels(docker, targets[0].image_id)),
                                upload, problems, notes) if targets else None
            if sbom is not None:
                sboms.append(sbom)
        index = index_target(model, chosen, images, notes)
        indexes.extend([index] if index is not None else [])
        if model.model_data == UNCOMPRESSED:
            files = files_target(settings, model, upload, problems)
            file_sets.extend([files] if files is not None else [])
            found = None
        else:
            found = _archive_digest(model, dist[model.name], upload, problems)
        if found is not None:
            archives.append(ArchiveTarget(model=model.name, version=model.version,
                                          path=found[0], digest=found[1],
                                          bucket=project.s3_bucket, key=key))
        if project.create_model_package:
            prefix = key.rpartition("/")[0]
            for v in chosen:
                packages.append(PackageTarget(
                    model=model, variant=v, name=package_name(model, v),
                    group=model.model_package_group,
                    validation_prefix=f"{prefix}/validation/{v}"))
    if problems:
        raise PublishError("cannot publish:\n  " + "\n  ".join(problems))
    return PublishPlan(region=project.region, account_id=project.account_id,
                       registry=default_registry(project, project.account_id),
                       bucket=project.s3_bucket, kms_key_id=project.kms_key_id,
                       tag_mutability=project.tag_mutability, images=tuple(images),
                       archives=tuple(archives), packages=tuple(packages), dist=dist,
                       sboms=tuple(sboms), notes=tuple(notes), file_sets=tuple(file_sets),
                       indexes=tuple(indexes))
