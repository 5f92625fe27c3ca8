"""Publishing against real local services: moto's server (ECR API, S3, STS, SageMaker) and
a distribution registry the images are really pushed to."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from publish_faults import CuttingProxy
from publish_helpers import ACCOUNT, Images, Project, make_bucket
from rich.console import Console

from sagepack.errors import PublishError
from sagepack.publish import UploadSettings, publish
from sagepack.publish.localstack import LocalAws

pytestmark = [pytest.mark.services, pytest.mark.docker]

SMALL_PARTS = UploadSettings(multipart_threshold=5 * 1024 * 1024, part_size=5 * 1024 * 1024,
                             concurrency=2)


def registry_get(services: LocalAws, path: str) -> requests.Response:
    user, password = next(iter(services.registry.users.items()))
    return requests.get(f"http://{services.registry.host}{path}", auth=(user, password),
                        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
                        timeout=30)


def remote_image_id(services: LocalAws, repository: str, tag: str) -> str | None:
    resp = registry_get(services, f"/v2/{repository}/manifests/{tag}")
    if resp.status_code == 404:
        return None
    resp.raise_for_status()
    return str(resp.json()["config"]["digest"])


def catalog(services: LocalAws) -> list[str]:
    resp = registry_get(services, "/v2/_catalog")
    resp.raise_for_status()
    return list(resp.json().get("repositories") or [])


def demo_image(images: Images, project: Project, content: bytes = b"v1",
               extra: dict[str, bytes] | None = None) -> str:
    repo = project.repository()
    return images.make([f"{repo}:1.0.0-cpu", f"{repo}:abc1234-cpu"],
                       {"app/model.txt": content, **(extra or {})})


def run(project: Project, console: Console, **kwargs: Any) -> Any:
    settings = project.settings()
    return publish(settings, settings.select("demo"), ["cpu"], console=console,
                   **{"dry_run": False, "force": False, **kwargs})


def actions(report: Any) -> list[tuple[str, str]]:
    return ([(r.uri.rpartition("/")[2], r.action) for r in report.images]
            + [("archive", r.action) for r in report.archives])


def text(console: Console) -> str:
    return console.export_text(clear=True)


def test_full_publish_then_republish_skips_everything(aws_env: dict[str, str],
                                                      services: LocalAws, project: Project,
                                                      images: Images, console: Console) -> None:
    make_bucket(project.bucket, "us-east-1")
    image_id = demo_image(images, project)
    archive = project.pack()
    sha = json.loads((archive.parent / "manifest.json").read_text())["archive"]["sha256"]

    first = run(project, console)
    out = text(console)
    assert "Publish plan" in out and image_id in out and sha in out
    repo = project.repository()
    assert actions(first) == [("demo:1.0.0-cpu", "pushed"), ("demo:abc1234-cpu", "pushed"),
                              ("archive", "uploaded")]
    # The registry really holds both tags, of the local image.
    assert remote_image_id(services, repo, "1.0.0-cpu") == image_id
    assert remote_image_id(services, repo, "abc1234-cpu") == image_id
    # The repository was created as configured.
    ecr = boto3.client("ecr")
    described = ecr.describe_repositories(repositoryNames=[repo])["repositories"][0]
    assert described["imageScanningConfiguration"] == {"scanOnPush": True}
    assert described["imageTagMutability"] == "IMMUTABLE"
    # The archive is in S3, encrypted, with its sha256.
    s3 = boto3.client("s3")
    key = "models/demo/1.0.0/model.tar.gz"
    head = s3.head_object(Bucket=project.bucket, Key=key, ChecksumMode="ENABLED")
    assert head["ContentLength"] == archive.stat().st_size
    assert head["Metadata"]["sha256"] == sha
    assert head["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket=project.bucket, Key=key)["Body"].read() == archive.read_bytes()
    # publish.json records what a deployment needs.
    record = json.loads((archive.parent / "publish.json").read_text())
    assert record["archive"]["s3_uri"] == f"s3://{project.bucket}/{key}"
    assert record["archive"]["sha256"] == sha
    assert record["account_id"] == ACCOUNT
    digest = first.images[0].digest
    assert {i["reference"] for i in record["images"]} == \
        {f"{project.registry}/{repo}@{digest}"}

    second = run(project, console)
    assert actions(second) == [("demo:1.0.0-cpu", "skipped"), ("demo:abc1234-cpu", "skipped"),
                               ("archive", "skipped")]
    assert not second.changed
    again = s3.head_object(Bucket=project.bucket, Key=key)
    assert (again["LastModified"], again["ETag"]) == (head["LastModified"], head["ETag"])
    assert json.loads((archive.parent / "publish.json").read_text()) == record


def test_dry_run_prints_the_plan_and_touches_nothing(aws_env: dict[str, str],
                                                     services: LocalAws, project: Project,
                                                     images: Images, console: Console) -> None:
    make_bucket(project.bucket, "us-east-1")
    image_id = demo_image(images, project)
    project.pack()
    report = run(project, console, dry_run=True)
    out = text(console)
    assert report.dry_run and not report.images and not report.archives
    assert image_id in out
    assert f"s3://{project.bucket}/models/demo/1.0.0/model.tar.gz" in out
    assert f"{project.registry}/{project.repository()}:1.0.0-cpu" in out
    assert catalog(services) == []
    assert boto3.client("ecr").describe_repositories()["repositories"] == []
    assert boto3.client("s3").list_objects_v2(Bucket=project.bucket)["KeyCount"] == 0


def test_changed_image_under_an_existing_tag_is_refused_then_forced(
        aws_env: dict[str, str], services: LocalAws, project: Project, images: Images,
        console: Console) -> None:
    make_bucket(project.bucket, "us-east-1")
    old_id = demo_image(images, project, b"v1")
    project.pack()
    first = run(project, console)
    old_digest = first.images[0].digest

    new_id = demo_image(images, project, b"v2, retrained")
    assert new_id != old_id
    with pytest.raises(PublishError) as refused:
        run(project, console)
    message = str(refused.value)
    assert old_digest in message and new_id in message and "--force" in message
    assert remote_image_id(services, project.repository(), "1.0.0-cpu") == old_id

    forced = run(project, console, force=True)
    assert actions(forced) == [("demo:1.0.0-cpu", "replaced"), ("demo:abc1234-cpu", "replaced"),
                               ("archive", "skipped")]
    assert remote_image_id(services, project.repository(), "1.0.0-cpu") == new_id
    assert forced.images[0].digest != old_digest


def test_changed_archive_under_an_existing_key_is_refused_then_forced(
        aws_env: dict[str, str], services: LocalAws, project: Project, images: Images,
        console: Console) -> None:
    make_bucket(project.bucket, "us-east-1")
    demo_image(images, project)
    project.pack()
    first = run(project, console)
    project.write(payload=b"weights v2")
    archive = project.pack()
    with pytest.raises(PublishError) as refused:
        run(project, console)
    message = str(refused.value)
    assert first.archives[0].sha256 in message and first.archives[0].s3_uri in message
    forced = run(project, console, force=True)
    assert forced.archives[0].action == "replaced"
    key = "models/demo/1.0.0/model.tar.gz"
    body = boto3.client("s3").get_object(Bucket=project.bucket, Key=key)["Body"].read()
    assert body == archive.read_bytes()


def test_wrong_region_is_refused_before_any_upload(aws_env: dict[str, str],
                                                   services: LocalAws, project: Project,
                                                   images: Images, console: Console) -> None:
    make_bucket(project.bucket, "eu-west-1")
    demo_image(images, project)
    project.pack()
    with pytest.raises(PublishError) as refused:
        run(project, console)
    assert f"S3 bucket {project.bucket} is in region eu-west-1, not us-east-1" in \
        str(refused.value)
    assert catalog(services) == []
    assert boto3.client("ecr").describe_repositories()["repositories"] == []
    s3 = boto3.client("s3", region_name="eu-west-1")
    assert s3.list_objects_v2(Bucket=project.bucket)["KeyCount"] == 0


def test_wrong_account_is_refused(aws_env: dict[str, str], services: LocalAws,
                                  project: Project, images: Images, console: Console) -> None:
    make_bucket(project.bucket, "us-east-1")
    demo_image(images, project)
    project.pack()
    settings = project.settings(account_id="999999999999")
    with pytest.raises(PublishError, match=f"account {ACCOUNT}.*account 999999999999"):
        publish(settings, settings.select("demo"), ["cpu"], dry_run=False, force=False,
                console=console)
    assert catalog(services) == []


@pytest.mark.slow
def test_s3_failing_mid_upload_leaves_nothing_and_the_next_run_completes(
        aws_env: dict[str, str], services: LocalAws, project: Project, images: Images,
        console: Console, monkeypatch: pytest.MonkeyPatch) -> None:
    make_bucket(project.bucket, "us-east-1")
    demo_image(images, project)
    project.write(payload=os.urandom(12 * 1024 * 1024))  # three 5 MiB parts
    archive = project.pack()
    proxy = CuttingProxy(services.moto.url, cut_after=256 * 1024, from_part=2).start()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", proxy.url)
        proxy.failing = True
        settings = project.settings()
        with pytest.raises(PublishError) as failed:
            publish(settings, settings.select("demo"), ["cpu"], dry_run=False, force=False,
                    console=console, upload=SMALL_PARTS)
        assert proxy.cuts >= 1
        key = "models/demo/1.0.0/model.tar.gz"
        assert f"s3://{project.bucket}/{key}" in str(failed.value)
        s3 = boto3.client("s3")  # straight to moto
        assert s3.list_objects_v2(Bucket=project.bucket)["KeyCount"] == 0

        proxy.failing = False
        done = publish(settings, settings.select("demo"), ["cpu"], dry_run=False, force=False,
                       console=console, upload=SMALL_PARTS)
        assert actions(done)[-1] == ("archive", "uploaded")
        assert {a for _, a in actions(done)[:-1]} == {"skipped"}  # pushed by the first run
        body = s3.get_object(Bucket=project.bucket, Key=key)["Body"].read()
        assert body == archive.read_bytes()
        assert s3.list_multipart_uploads(Bucket=project.bucket).get("Uploads", []) == []
    finally:
        proxy.stop()


def _kill_when_uploading(services: LocalAws, repository: str, stop: threading.Event) -> None:
    uploads = services.registry.storage / "docker/registry/v2/repositories" / repository / \
        "_uploads"
    deadline = time.monotonic() + 120
    while not stop.is_set() and time.monotonic() < deadline:
        for data in uploads.glob("*/data") if uploads.is_dir() else []:
            try:
                if data.stat().st_size > 512 * 1024:
                    services.registry.kill()
                    return
            except FileNotFoundError:
                continue
        time.sleep(0.01)


@pytest.mark.slow
def test_registry_stopped_mid_push_then_the_next_run_completes(
        aws_env: dict[str, str], services: LocalAws, project: Project, images: Images,
        console: Console) -> None:
    make_bucket(project.bucket, "us-east-1")
    image_id = demo_image(images, project, extra={"app/big.bin": os.urandom(48 * 1024 * 1024)})
    project.pack()
    stop = threading.Event()
    killer = threading.Thread(target=_kill_when_uploading,
                              args=(services, project.repository(), stop), daemon=True)
    killer.start()
    try:
        with pytest.raises(PublishError) as failed:
            run(project, console)
    finally:
        stop.set()
        killer.join(10)
    message = str(failed.value)
    assert f"pushing {project.registry}/{project.repository()}:1.0.0-cpu failed" in message

    services.registry.start()  # same port, same storage
    done = run(project, console)
    assert [a for _, a in actions(done)] == ["pushed", "pushed", "uploaded"]
    assert remote_image_id(services, project.repository(), "1.0.0-cpu") == image_id


def test_model_package_is_created_by_digest_then_skipped(
        aws_env: dict[str, str], services: LocalAws, project: Project, images: Images,
        console: Console, tmp_path: Path) -> None:
    make_bucket(project.bucket, "us-east-1")
    (project.model_root / "samples" / "input").mkdir(parents=True)
    (project.model_root / "samples" / "expected").mkdir(parents=True)
    (project.model_root / "samples" / "input" / "batch.csv").write_text("1,2\n3,4\n")
    project.write(extra_tool="create_model_package = true\n", extra_model="""
[validation]
input = "samples/input"
expected = "samples/expected"
content_type = "text/csv"
accept = "text/csv"
""")
    demo_image(images, project)
    project.pack()
    role = f"arn:aws:iam::{ACCOUNT}:role/sagemaker-validation"
    settings = project.settings()
    first = publish(settings, settings.select("demo"), ["cpu"], dry_run=False, force=False,
                    console=console, validation_role_arn=role)
    assert [(p.name, p.action) for p in first.packages] == [("demo-1-0-0-cpu", "created")]
    sm = boto3.client("sagemaker")
    described = sm.describe_model_package(ModelPackageName="demo-1-0-0-cpu")
    spec = described["InferenceSpecification"]
    assert spec["Containers"][0]["Image"] == first.images[0].reference
    assert spec["Containers"][0]["ModelDataUrl"] == first.archives[0].s3_uri
    assert spec["SupportedContentTypes"] == ["text/csv"]
    assert spec["SupportedRealtimeInferenceInstanceTypes"] == ["ml.m5.large"]
    profile = described["ValidationSpecification"]["ValidationProfiles"][0]
    transform = profile["TransformJobDefinition"]
    uri = transform["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(
        Bucket=bucket, Prefix=prefix)["Contents"]]
    assert keys == [f"{prefix}batch.csv"]
    record = json.loads((settings.project.dist_for("demo") / "publish.json").read_text())
    assert record["model_packages"][0]["arn"] == first.packages[0].arn

    second = publish(settings, settings.select("demo"), ["cpu"], dry_run=False, force=False,
                     console=console, validation_role_arn=role)
    assert [p.action for p in second.packages] == ["skipped"]
    assert second.packages[0].arn == first.packages[0].arn


def test_local_aws_helper_prints_working_variables_and_stops_cleanly(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "sagepack.publish.localstack",
                             "--bucket", "helper-bucket"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        env: dict[str, str] = {}
        for line in proc.stdout:
            if line.startswith("#"):
                break
            key, _, value = line.removeprefix("export ").strip().partition("=")
            env[key] = value
        assert set(env) >= {"AWS_ENDPOINT_URL", "SAGEPACK_REGISTRY", "AWS_ACCESS_KEY_ID"}
        s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                          aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["helper-bucket"]
        assert requests.get(f"http://{env['SAGEPACK_REGISTRY']}/v2/", timeout=5).status_code == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://{env['SAGEPACK_REGISTRY']}/v2/", timeout=5)


def test_missing_credentials_are_a_clear_error(aws_env: dict[str, str], services: LocalAws,
                                               project: Project, images: Images,
                                               console: Console,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    make_bucket(project.bucket, "us-east-1")
    demo_image(images, project)
    project.pack()
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(PublishError, match="no usable AWS credentials"):
        run(project, console)
    assert catalog(services) == []
