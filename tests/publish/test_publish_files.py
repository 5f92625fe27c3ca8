"""Publishing uncompressed model data against moto's real S3 (and, for the whole publish,
the registry and SageMaker): one verified object per listed file under the prefix,
uploaded concurrently, skipped when already there, refused when the prefix holds
something else, and named by the model package as ``ModelDataSource``."""

from __future__ import annotations

import json
import os
from typing import Any

import boto3
import pytest
from publish_faults import CuttingProxy
from publish_helpers import ACCOUNT, Images, Project, make_bucket
from rich.console import Console

from sagepack.archive import package_models
from sagepack.errors import PublishError
from sagepack.publish import UploadSettings, publish
from sagepack.publish.checksums import same_checksum
from sagepack.publish.localstack import LocalAws
from sagepack.publish.plan import FilesTarget, files_target
from sagepack.publish.s3_files import files_steps, publish_files

pytestmark = pytest.mark.services

SMALL_PARTS = UploadSettings(multipart_threshold=5 * 1024 * 1024, part_size=5 * 1024 * 1024,
                             concurrency=4)
PREFIX = "models/demo/1.0.0/model/"
UNCOMPRESSED = 'model_data = "uncompressed"\n'


def packaged(project: Project, *, big: int = 0, extra_model: str = "",
             extra_tool: str = "") -> FilesTarget:
    """The demo model with uncompressed data (shards, and one ``big`` file), packaged, and
    its publish target."""
    project.write(extra_model=UNCOMPRESSED + extra_model, extra_tool=extra_tool)
    shards = project.model_root / "shards"
    shards.mkdir(exist_ok=True)
    for i in range(4):
        (shards / f"{i}.bin").write_bytes(f"shard {i}\n".encode() * 1000)
    if big:
        (project.model_root / "big.bin").write_bytes(os.urandom(big))
    settings = project.settings()
    package_models(settings, settings.select("demo"))
    problems: list[str] = []
    target = files_target(settings, settings.models["demo"], SMALL_PARTS, problems)
    assert problems == [] and target is not None
    return target


def run(target: FilesTarget, console: Console, *, force: bool = False) -> Any:
    s3 = boto3.client("s3", region_name="us-east-1")
    conflicts: list[str] = []
    [step] = files_steps(s3, [target], force=force, settings=SMALL_PARTS, conflicts=conflicts)
    if conflicts:
        raise PublishError("; ".join(conflicts))
    return publish_files(s3, step, kms_key_id=None, settings=SMALL_PARTS, console=console)


def stored(bucket: str) -> dict[str, dict[str, Any]]:
    s3 = boto3.client("s3", region_name="us-east-1")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=PREFIX)
            .get("Contents", [])]
    return {k: s3.head_object(Bucket=bucket, Key=k, ChecksumMode="ENABLED") for k in keys}


def test_each_file_is_uploaded_verified_then_skipped(
        aws_env: dict[str, str], project: Project, console: Console) -> None:
    make_bucket(project.bucket, "us-east-1")
    target = packaged(project, big=11 * 1024 * 1024)  # three 5 MiB parts
    assert target.s3_uri == f"s3://{project.bucket}/{PREFIX}"

    first = run(target, console)
    assert (first.action, first.uploaded, first.skipped) == ("uploaded", 7, 0)
    objects = stored(project.bucket)
    s3 = boto3.client("s3", region_name="us-east-1")
    root = project.model_root
    local = {f"{PREFIX}{p.relative_to(root).as_posix()}": p for p in root.rglob("*")
             if p.is_file() and p.name != "sagepack.toml" and "requirements" not in p.parts}
    assert set(objects) == set(local)  # exactly the listed files: what SageMaker loads
    for key, path in local.items():
        body = s3.get_object(Bucket=project.bucket, Key=key)["Body"].read()
        assert body == path.read_bytes()
        file = next(f for f in target.files if f.key == key)
        assert objects[key]["Metadata"]["sha256"] == file.digest.sha256
        assert same_checksum(file.digest.s3_checksum, objects[key].get("ChecksumSHA256"))
        assert objects[key]["ServerSideEncryption"] == "AES256"
    big = next(f for f in target.files if f.key.endswith("big.bin"))
    assert big.digest.s3_checksum.endswith("-3")  # a multipart upload's composite checksum

    second = run(target, console)
    assert (second.action, second.uploaded, second.skipped) == ("skipped", 0, 7)
    again = stored(project.bucket)
    assert {k: (v["ETag"], v["LastModified"]) for k, v in again.items()} == \
        {k: (v["ETag"], v["LastModified"]) for k, v in objects.items()}


def test_files_are_uploaded_concurrently(aws_env: dict[str, str], services: LocalAws,
                                         project: Project, console: Console,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    make_bucket(project.bucket, "us-east-1")
    target = packaged(project)
    proxy = CuttingProxy(services.moto.url).start()
    try:
        proxy.put_delay_s = 0.3
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", proxy.url)
        assert run(target, console).uploaded == 6
    finally:
        proxy.stop()
    assert proxy.max_in_flight >= 2


def test_an_interrupted_upload_leaves_no_partial_object_and_the_next_run_completes(
        aws_env: dict[str, str], services: LocalAws, project: Project, console: Console,
        monkeypatch: pytest.MonkeyPatch) -> None:
    make_bucket(project.bucket, "us-east-1")
    target = packaged(project, big=11 * 1024 * 1024)
    proxy = CuttingProxy(services.moto.url, cut_after=256 * 1024, from_part=2).start()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", proxy.url)
        proxy.failing = True
        with pytest.raises(PublishError, match=r"(?s)1 of 7 uploads failed.*big\.bin"):
            run(target, console)
        assert proxy.cuts >= 1
        assert f"{PREFIX}big.bin" not in stored(project.bucket)  # never half-visible
        assert len(stored(project.bucket)) == 6
        proxy.failing = False
        done = run(target, console)
    finally:
        proxy.stop()
        monkeypatch.delenv("AWS_ENDPOINT_URL_S3")  # straight to moto again
    assert (done.uploaded, done.skipped) == (1, 6)
    s3 = boto3.client("s3", region_name="us-east-1")
    assert s3.get_object(Bucket=project.bucket, Key=f"{PREFIX}big.bin")["Body"].read() == \
        (project.model_root / "big.bin").read_bytes()
    assert s3.list_multipart_uploads(Bucket=project.bucket).get("Uploads", []) == []


def test_other_bytes_or_unlisted_objects_under_the_prefix_are_refused_then_forced(
        aws_env: dict[str, str], project: Project, console: Console) -> None:
    make_bucket(project.bucket, "us-east-1")
    run(packaged(project), console)
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.put_object(Bucket=project.bucket, Key=f"{PREFIX}stale/old.bin", Body=b"old weights")
    (project.model_root / "weights.bin").write_bytes(b"weights v2")  # same version
    settings = project.settings()
    package_models(settings, settings.select("demo"))
    problems: list[str] = []
    target = files_target(settings, settings.models["demo"], SMALL_PARTS, problems)
    assert target is not None

    with pytest.raises(PublishError) as refused:
        run(target, console)
    message = str(refused.value)
    assert "other bytes for 1 of the 6 files" in message and "weights.bin" in message
    assert "1 object(s) not listed" in message and "stale/old.bin" in message
    assert "which SageMaker would load into /opt/ml/model" in message
    assert s3.get_object(Bucket=project.bucket, Key=f"{PREFIX}weights.bin")["Body"].read() \
        == b"weights v1"

    forced = run(target, console, force=True)
    assert (forced.action, forced.uploaded, forced.deleted) == ("replaced", 1, 1)
    assert f"{PREFIX}stale/old.bin" not in stored(project.bucket)
    assert s3.get_object(Bucket=project.bucket, Key=f"{PREFIX}weights.bin")["Body"].read() \
        == b"weights v2"


def test_a_file_changed_since_packaging_is_refused_in_the_plan(
        aws_env: dict[str, str], project: Project) -> None:
    packaged(project)
    (project.model_root / "shards" / "0.bin").write_bytes(b"changed")
    problems: list[str] = []
    settings = project.settings()
    assert files_target(settings, settings.models["demo"], SMALL_PARTS, problems) is not None
    [problem] = problems
    assert "shards/0.bin" in problem and "re-run: invoke package --model demo" in problem


@pytest.mark.docker
def test_publish_records_the_prefix_and_the_model_package_loads_it_uncompressed(
        aws_env: dict[str, str], project: Project, images: Images, console: Console) -> None:
    make_bucket(project.bucket, "us-east-1")
    packaged(project, extra_tool="create_model_package = true\n")
    repo = project.repository()
    images.make([f"{repo}:1.0.0-cpu"], {"app/model.txt": b"v1"})
    settings = project.settings()
    dry = publish(settings, settings.select("demo"), ["cpu"], console=console, dry_run=True)
    out = console.export_text(clear=True)
    assert "(6 files, uncompressed)" in out and f"s3://{project.bucket}/{PREFIX}" in out
    assert dry.file_sets == [] and stored(project.bucket) == {}
    first = publish(settings, settings.select("demo"), ["cpu"], console=console)
    [files] = first.file_sets
    assert (files.s3_uri, files.files, files.action) == \
        (f"s3://{project.bucket}/{PREFIX}", 6, "uploaded")
    assert first.archives == []
    record = json.loads((settings.project.dist_for("demo") / "publish.json").read_text())
    assert record["archive"] is None
    assert record["model_data"] == {"type": "uncompressed", "s3_uri": files.s3_uri,
                                    "sha256": files.sha256, "size": files.size, "files": 6}
    sm = boto3.client("sagemaker", region_name="us-east-1")
    container = sm.describe_model_package(ModelPackageName="demo-1-0-0-cpu")[
        "InferenceSpecification"]["Containers"][0]
    assert container["Image"] == first.images[0].reference
    assert container["ModelDataSource"] == {"S3DataSource": {
        "S3Uri": files.s3_uri, "S3DataType": "S3Prefix", "CompressionType": "None"}}
    assert "ModelDataUrl" not in container
    assert record["account_id"] == ACCOUNT

    second = publish(settings, settings.select("demo"), ["cpu"], console=console)
    assert [f.action for f in second.file_sets] == ["skipped"]
    assert [p.action for p in second.packages] == ["skipped"]
    assert not second.changed
