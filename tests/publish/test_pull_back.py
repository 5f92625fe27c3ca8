"""The example image, published, pulled back by digest and run, answers as it should."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from ecr_mirror import EcrMirror
from publish_helpers import make_bucket
from rich.console import Console

from sagepack import config
from sagepack.archive import pack
from sagepack.containers.contract import container_env
from sagepack.containers.model_dir import model_directory
from sagepack.publish import publish
from sagepack.publish.localstack import LocalAws

pytestmark = [pytest.mark.services, pytest.mark.docker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "sagepack-pull-back"


def _verify_blobs(services: LocalAws, repository: str, digest: str) -> int:
    """Every blob the pushed manifest names is in the registry with that sha256."""
    user, password = next(iter(services.registry.users.items()))
    base = f"http://{services.registry.host}/v2/{repository}"
    session = requests.Session()
    session.auth = (user, password)
    manifest = session.get(f"{base}/manifests/{digest}", timeout=30, headers={
        "Accept": "application/vnd.docker.distribution.manifest.v2+json"})
    manifest.raise_for_status()
    assert "sha256:" + hashlib.sha256(manifest.content).hexdigest() == digest
    body = manifest.json()
    blobs = [body["config"], *body["layers"]]
    for blob in blobs:
        got = hashlib.sha256()
        with session.get(f"{base}/blobs/{blob['digest']}", stream=True, timeout=120) as resp:
            resp.raise_for_status()
            for chunk in resp.iter_content(1024 * 1024):
                got.update(chunk)
        assert "sha256:" + got.hexdigest() == blob["digest"]
    return len(blobs)


def _wait_ping(url: str, container: Any, deadline_s: float = 120) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        container.reload()
        if container.status == "exited":
            pytest.fail(f"the pulled image exited: {container.logs(tail=40).decode()}")
        try:
            if requests.get(f"{url}/ping", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    pytest.fail(f"/ping never answered 200 within {deadline_s:.0f}s")


def _same_answer(content_type: str, got: bytes, expected: bytes) -> None:
    if content_type == "application/json":
        assert json.loads(got) == json.loads(expected)
    elif content_type == "application/jsonlines":
        assert [json.loads(x) for x in got.splitlines() if x.strip()] == \
            [json.loads(x) for x in expected.splitlines() if x.strip()]
    else:
        assert got.decode().strip().splitlines() == expected.decode().strip().splitlines()


@pytest.fixture
def created(docker_client: Any) -> Iterator[list[str]]:
    """References and image ids this test created; removed at the end."""
    refs: list[str] = []
    yield refs
    import docker

    for ref in reversed(refs):
        try:
            docker_client.images.remove(ref, force=True)
        except docker.errors.ImageNotFound:
            continue


def test_published_image_pulled_back_gives_the_same_answers(
        aws_env: dict[str, str], services: LocalAws, mirror: EcrMirror, docker_client: Any,
        created: list[str], tmp_path: Path, example_image: Callable[[str], str]) -> None:
    example_image("cpu")
    settings = config.load(ROOT, env={}, registry=mirror.host, s3_bucket=BUCKET,
                           s3_prefix="pull-back", dist_dir=str(tmp_path / "dist"),
                           region="us-east-1", account_id=None)
    model = settings.models["iris"]
    pack(model, settings.project.dist_for("iris"), progress=False)
    make_bucket(BUCKET, "us-east-1")

    report = publish(settings, [model], ["cpu"], dry_run=False, force=False,
                     console=Console(quiet=True))
    created.extend(r.uri for r in report.images)
    image = report.images[0]
    repository = settings.project.repository_for("iris")
    assert _verify_blobs(services, repository, image.digest) >= 2

    # Pull by digest, with the registry credentials, and run what was pulled.
    user, password = next(iter(services.registry.users.items()))
    pulled = docker_client.images.pull(image.reference,
                                       auth_config={"username": user, "password": password})
    created.append(image.reference)
    assert pulled.id == image.image_id

    archive = tmp_path / "from-s3.tar.gz"
    bucket, _, key = report.archives[0].s3_uri.removeprefix("s3://").partition("/")
    boto3.client("s3").download_file(bucket, key, str(archive))
    assert hashlib.sha256(archive.read_bytes()).hexdigest() == report.archives[0].sha256

    with model_directory(settings, model, archive=archive) as model_dir:
        assert model_dir is not None
        container = docker_client.containers.run(
            image.reference, command=["serve"], detach=True,
            ports={"8080/tcp": ("127.0.0.1", None)},
            volumes={str(model_dir): {"bind": "/opt/ml/model", "mode": "ro"}},
            environment=container_env(model, model.variant("cpu")),
            labels={"com.sagepack.test": "publish-pull-back"})
        try:
            container.reload()
            port = container.attrs["NetworkSettings"]["Ports"]["8080/tcp"][0]["HostPort"]
            url = f"http://127.0.0.1:{port}"
            _wait_ping(url, container)
            assert model.samples
            for sample in model.samples:
                resp = requests.post(f"{url}/invocations", data=sample.body.read_bytes(),
                                     headers={"Content-Type": sample.content_type,
                                              "Accept": sample.accept}, timeout=30)
                assert resp.status_code == 200, (sample.name, resp.text)
                _same_answer(sample.accept, resp.content, sample.expected.read_bytes())
        finally:
            container.remove(force=True)
