"""The parts of publishing that need no service: checksums, push streams, region checks,
names and the publish record."""

from __future__ import annotations

import base64
import hashlib
import io
import os
from pathlib import Path

import boto3
import pytest
from rich.console import Console

from sagepack.errors import PublishError
from sagepack.publish.aws import make_clients, region_problems
from sagepack.publish.checksums import MIB, UploadSettings, digest_file, same_checksum
from sagepack.publish.ecr import RegistryAuth, read_push_stream
from sagepack.publish.plan import PublishPlan
from sagepack.publish.progress import PushProgress
from sagepack.publish.report import _merge

ACCOUNT = "123456789012"


def test_multipart_checksum_is_the_sha256_of_the_part_digests(tmp_path: Path) -> None:
    data = os.urandom(11 * MIB)
    path = tmp_path / "model.tar.gz"
    path.write_bytes(data)
    settings = UploadSettings(multipart_threshold=5 * MIB, part_size=5 * MIB)
    digest = digest_file(path, settings)
    parts = [hashlib.sha256(data[i:i + 5 * MIB]).digest() for i in range(0, len(data), 5 * MIB)]
    expected = base64.b64encode(hashlib.sha256(b"".join(parts)).digest()).decode()
    assert digest.s3_checksum == f"{expected}-3"
    assert digest.sha256 == hashlib.sha256(data).hexdigest()
    assert digest.size == len(data)


def test_single_put_checksum_is_the_whole_file_sha256(tmp_path: Path) -> None:
    path = tmp_path / "small.tar.gz"
    path.write_bytes(b"tiny archive")
    digest = digest_file(path, UploadSettings())
    assert digest.s3_checksum == base64.b64encode(hashlib.sha256(b"tiny archive").digest()).decode()
    assert same_checksum(digest.s3_checksum, digest.sha256_b64)


def test_part_size_grows_to_stay_under_ten_thousand_parts() -> None:
    settings = UploadSettings(part_size=8 * MIB)
    assert settings.part_size_for(1024 * MIB) == 8 * MIB
    huge = 200 * 1024 * MIB  # 200 GiB in 8 MiB parts would be 25,600 parts
    assert -(-huge // settings.part_size_for(huge)) <= 10_000


def test_a_push_stream_error_chunk_fails_the_push() -> None:
    chunks = [{"status": "The push refers to repository [r/x]"},
              {"status": "Pushing", "id": "abc", "progressDetail": {"current": 1, "total": 2}},
              {"errorDetail": {"message": "denied: not authorized"},
               "error": "denied: not authorized"}]
    console = Console(file=io.StringIO())
    with pytest.raises(PublishError, match="pushing r/x:1 failed: denied: not authorized"):
        read_push_stream(chunks, "r/x:1", PushProgress(console, "r/x:1"))


def test_a_push_stream_gives_the_pushed_digest_and_needs_one() -> None:
    console = Console(record=True, width=200)
    done = [{"status": "Pushed", "id": "abc", "progressDetail": {}},
            {"progressDetail": {}, "aux": {"Tag": "1", "Digest": "sha256:" + "a" * 64,
                                           "Size": 5}}]
    assert read_push_stream(done, "r/x:1", PushProgress(console, "r/x:1")) == \
        "sha256:" + "a" * 64
    with pytest.raises(PublishError, match="without the registry reporting a digest"):
        read_push_stream(done[:1], "r/x:1", PushProgress(console, "r/x:1"))


def _plan(region: str = "us-east-1", kms: str | None = None) -> PublishPlan:
    return PublishPlan(region=region, account_id=None, registry=None, bucket="b",
                       kms_key_id=kms, tag_mutability="IMMUTABLE", images=(), archives=(),
                       packages=(), dist={})


def test_every_region_mismatch_is_named() -> None:
    session = boto3.Session(aws_access_key_id="x", aws_secret_access_key="y",
                            region_name="us-east-1")
    clients = make_clients("us-east-1", session)
    auth = RegistryAuth("AWS", "pw", f"https://{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com")
    problems = region_problems(
        _plan(kms=f"arn:aws:kms:eu-central-1:{ACCOUNT}:key/k"), clients, account=ACCOUNT,
        registry=f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com", auth=auth,
        bucket_region="us-west-2")
    text = "\n".join(problems)
    assert "S3 bucket b is in region us-west-2, not us-east-1" in text
    assert f"registry {ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com is in region eu-west-1" in text
    assert "KMS key" in text and "eu-central-1" in text
    assert len(problems) == 4


def test_matching_regions_and_a_local_registry_pass() -> None:
    session = boto3.Session(aws_access_key_id="x", aws_secret_access_key="y")
    clients = make_clients("us-east-1", session)
    auth = RegistryAuth("AWS", "pw", f"https://{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com")
    assert region_problems(_plan(), clients, account=ACCOUNT, registry="127.0.0.1:5000",
                           auth=auth, bucket_region="us-east-1") == []


def test_registry_password_is_never_in_its_repr() -> None:
    auth = RegistryAuth("AWS", "s3cr3t-token", "https://x")
    assert "s3cr3t-token" not in repr(auth)


def test_a_later_publish_of_one_variant_keeps_the_others() -> None:
    old = {"model": "m", "version": "1", "region": "r", "registry": "h",
           "images": [{"variant": "cpu", "tag": "1-cpu"}, {"variant": "cuda", "tag": "1-cuda"}],
           "model_packages": [{"variant": "cuda", "arn": "a"}], "archive": {"sha256": "x"}}
    new = {"model": "m", "version": "1", "region": "r", "registry": "h",
           "images": [{"variant": "cpu", "tag": "1-cpu", "digest": "d2"}],
           "model_packages": [], "archive": {"sha256": "x"}}
    merged = _merge(old, new)
    assert merged["images"] == [{"variant": "cuda", "tag": "1-cuda"},
                                {"variant": "cpu", "tag": "1-cpu", "digest": "d2"}]
    assert merged["model_packages"] == [{"variant": "cuda", "arn": "a"}]
    other_version = dict(new, version="2")
    assert _merge(old, other_version) == other_version


def test_a_later_publish_keeps_the_other_variants_sboms() -> None:
    head = {"model": "m", "version": "1", "region": "r", "registry": "h"}
    old = {**head, "images": [{"variant": "cuda"}], "model_packages": [],
           "sboms": [{"variant": "cuda", "sha256": "c"}, {"variant": "cpu", "sha256": "old"}]}
    new = {**head, "images": [{"variant": "cpu"}], "model_packages": [], "archive": None,
           "sboms": [{"variant": "cpu", "sha256": "new"}]}
    assert _merge(old, new)["sboms"] == [{"variant": "cuda", "sha256": "c"},
                                         {"variant": "cpu", "sha256": "new"}]


def test_an_index_names_each_manifest_with_its_platform_and_is_deterministic() -> None:
    import json

    from sagepack.platforms import AMD64, ARM64
    from sagepack.publish.ecr import RemoteManifest
    from sagepack.publish.index import INDEX_MEDIA_TYPE, IndexMember, index_body

    v2 = "application/vnd.docker.distribution.manifest.v2+json"
    members = [(IndexMember("cpu", AMD64, "sha256:aa"), RemoteManifest("sha256:11", "sha256:aa",
                                                                         v2, size=429)),
               (IndexMember("graviton", ARM64, "sha256:bb"),
                RemoteManifest("sha256:22", "sha256:bb", v2, size=430))]
    body = index_body(members)
    assert body == index_body(members)
    document = json.loads(body)
    assert document == {"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": [
        {"mediaType": v2, "digest": "sha256:11", "size": 429,
         "platform": {"architecture": "amd64", "os": "linux"}},
        {"mediaType": v2, "digest": "sha256:22", "size": 430,
         "platform": {"architecture": "arm64", "os": "linux"}}]}


def test_the_arm64_variants_package_lists_graviton_types_and_no_validation(
        tmp_path: Path) -> None:
    from sagepack import config
    from sagepack.publish.model_package import package_request, validated
    from sagepack.publish.plan import PackageTarget

    root = Path(__file__).resolve().parents[2]
    iris = config.load(root, env={}).models["iris"]
    requests = {}
    for variant in ("cpu", "graviton"):
        target = PackageTarget(model=iris, variant=variant, name=f"iris-1-0-0-{variant}",
                               group=None, validation_prefix=f"models/iris/1.0.0/v/{variant}")
        requests[variant] = (validated(target), package_request(
            target, image=f"registry/sagepack/iris@sha256:{variant}",
            model_data_url="s3://b/models/iris/1.0.0/model.tar.gz",
            validation_input="s3://b/in/", bucket="b", role_arn="arn:aws:iam::1:role/r"))
    cpu_validated, cpu = requests["cpu"]
    arm_validated, arm = requests["graviton"]
    assert cpu_validated and "ValidationSpecification" in cpu
    assert cpu["InferenceSpecification"]["SupportedRealtimeInferenceInstanceTypes"] == [
        "ml.m5.large", "ml.c5.large"]
    assert cpu["InferenceSpecification"]["SupportedTransformInstanceTypes"] == ["ml.m5.large"]
    assert not arm_validated and "ValidationSpecification" not in arm
    assert arm["InferenceSpecification"]["SupportedRealtimeInferenceInstanceTypes"] == [
        "ml.c7g.large", "ml.m7g.large", "ml.c6g.large"]
    assert "SupportedTransformInstanceTypes" not in arm["InferenceSpecification"]
