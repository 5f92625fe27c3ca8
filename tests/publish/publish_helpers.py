"""Helpers of the publishing tests: small images from rootfs tars, throw-away projects."""

from __future__ import annotations

import io
import tarfile
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from sagepack import config
from sagepack.archive import pack
from sagepack.config import Settings

ACCOUNT = "123456789012"  # moto's default account

def rootfs_tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@dataclass
class Images:
    """Makes small images from rootfs tars; removes every one of them afterwards."""

    client: Any
    ids: list[str] = field(default_factory=list)

    def make(self, refs: list[str], files: dict[str, bytes],
             labels: dict[str, str] | None = None) -> str:
        repository, _, tag = refs[0].rpartition(":")
        self.client.api.import_image_from_data(
            rootfs_tar(files), repository=repository, tag=tag,
            changes=[f'LABEL {k}="{v}"' for k, v in (labels or {}).items()] or None)
        image = self.client.images.get(refs[0])
        for ref in refs[1:]:
            repo, _, t = ref.rpartition(":")
            image.tag(repo, t)
        self.ids.append(image.id)
        return str(image.id)

    def track(self, image_id: str) -> None:
        self.ids.append(image_id)

    def cleanup(self) -> None:
        import docker

        for image_id in reversed(self.ids):
            try:
                self.client.images.remove(image_id, force=True)
            except docker.errors.ImageNotFound:
                continue


@dataclass
class Project:
    """A throw-away project with one model ``demo`` and its packed archive."""

    root: Path
    repository_prefix: str
    bucket: str
    registry: str
    region: str = "us-east-1"

    @property
    def model_root(self) -> Path:
        return self.root / "artifacts" / "demo"

    def repository(self, model: str = "demo") -> str:
        return f"{self.repository_prefix}/{model}"

    def write(self, *, version: str = "1.0.0", payload: bytes = b"weights v1",
              extra_tool: str = "", extra_model: str = "") -> None:
        (self.root / "pyproject.toml").write_text(textwrap.dedent(f"""\
            [project]
            name = "demo-project"
            version = "0.0.0"

            [tool.sagepack]
            region = "{self.region}"
            ecr_repository = "{self.repository_prefix}/{{model}}"
            s3_bucket = "{self.bucket}"
            s3_prefix = "models"
            registry = "{self.registry}"
            tag_mutability = "IMMUTABLE"
            """) + extra_tool)
        root = self.model_root
        (root / "code").mkdir(parents=True, exist_ok=True)
        (root / "requirements").mkdir(exist_ok=True)
        (root / "code" / "inference.py").write_text("def model_fn(model_dir):\n"
                                                   "    return None\n")
        (root / "requirements" / "cpu.in").write_text("numpy\n")
        (root / "weights.bin").write_bytes(payload)
        (root / "sagepack.toml").write_text(textwrap.dedent(f"""\
            name = "demo"
            version = "{version}"
            content_types = ["text/csv"]
            response_types = ["text/csv"]
            realtime_instance_types = ["ml.m5.large"]
            transform_instance_types = ["ml.m5.large"]
            {extra_model}
            [variants.cpu]
            requirements_in = "requirements/cpu.in"
            requirements = "requirements/cpu.txt"
            """))

    def settings(self, **overrides: Any) -> Settings:
        return config.load(self.root, env={}, **overrides)

    def pack(self) -> Path:
        settings = self.settings()
        model = settings.models["demo"]
        result = pack(model, settings.project.dist_for("demo"), progress=False)
        return result.archive


def make_bucket(name: str, region: str) -> None:
    s3 = boto3.client("s3", region_name=region)
    if region == "us-east-1":
        s3.create_bucket(Bucket=name)
    else:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
