"""Helpers of the deploy tests: a proxy in front of moto's SageMaker, and a published demo.

moto creates endpoints ``InService`` and transform jobs ``Completed`` at once, and never
fails them. :class:`StatusProxy` forwards every request to the real moto server and, for
the Describe calls given a script, overlays the next scripted fields (``EndpointStatus``,
``FailureReason``...) on moto's real answer: the states SageMaker would go through. It
also records each request's action and JSON body, to show parameters moto drops. moto has
no ``UpdateEndpoint``; with ``emulate_update`` the proxy performs it on moto (the same
endpoint, tags and ARN, on the new config), as SageMaker's update ends.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from loopback import LoopbackServer, QuietHandler
from publish_helpers import ACCOUNT, Project

from sagepack.publish.checksums import UploadSettings, digest_file
from sagepack.publish.plan import PublishPlan
from sagepack.publish.report import ArchiveResult, FilesResult, ImageResult, PublishReport

ROLE = f"arn:aws:iam::{ACCOUNT}:role/sagepack-endpoint"
IMAGE_DIGEST = "sha256:" + "d" * 64
IMAGE_ID = "sha256:" + "1" * 64


class StatusProxy(LoopbackServer):
    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.scripts: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.emulate_update = False
        self._lock = threading.Lock()
        super().__init__(self._handler())

    def _update(self, request: dict[str, Any]) -> bytes:
        """``UpdateEndpoint`` done on moto: the endpoint moved to the new config."""
        import boto3

        sm = boto3.client("sagemaker", endpoint_url=f"http://{self.upstream[0]}:"
                          f"{self.upstream[1]}")
        name = request["EndpointName"]
        arn = sm.describe_endpoint(EndpointName=name)["EndpointArn"]
        tags = sm.list_tags(ResourceArn=arn)["Tags"]
        sm.create_endpoint(EndpointName=name, EndpointConfigName=request["EndpointConfigName"],
                           Tags=tags)
        return json.dumps({"EndpointArn": arn}).encode()

    def script(self, action: str, *states: dict[str, Any]) -> None:
        """The next ``action`` answers (``DescribeEndpoint``...) get these fields on top."""
        with self._lock:
            self.scripts[action].extend(states)

    def sent(self, action: str) -> list[dict[str, Any]]:
        with self._lock:
            return [body for name, body in self.requests if name == action]

    def _handler(self) -> type[QuietHandler]:
        proxy = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                action = self.headers.get("X-Amz-Target", "").rpartition(".")[2]
                with proxy._lock:
                    proxy.requests.append((action, json.loads(body or b"{}")))
                    overlay = proxy.scripts[action].pop(0) if proxy.scripts[action] else None
                if action == "UpdateEndpoint" and proxy.emulate_update:
                    data = proxy._update(json.loads(body))
                    self.send_response(200)
                    self.send_header("Content-Type", "application/x-amz-json-1.1")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("connection", "content-length", "host")}
                conn = http.client.HTTPConnection(*proxy.upstream, timeout=60)
                try:
                    conn.request("POST", self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    status, reply_headers = resp.status, resp.getheaders()
                finally:
                    conn.close()
                if overlay is not None and status == 200:
                    data = json.dumps({**json.loads(data), **overlay}).encode()
                self.send_response(status)
                for key, value in reply_headers:
                    if key.lower() not in ("content-length", "connection",
                                           "transfer-encoding"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


def write_samples(project: Project, answer: bytes = b"1\n") -> None:
    samples = project.model_root / "samples"
    samples.mkdir(exist_ok=True)
    (samples / "request.csv").write_bytes(b"5.1,3.5,1.4,0.2\n")
    (samples / "response.csv").write_bytes(answer)


SAMPLES = """\
[[samples]]
name = "csv"
body = "samples/request.csv"
content_type = "text/csv"
accept = "text/csv"
expected = "samples/response.csv"
"""


def demo_project(project: Project, deploy: str = "", tool: str = "") -> Project:
    """The publishing tests' demo model with samples, a role and a ``[deploy]`` table."""
    write_samples(project)
    project.write(extra_tool=f'execution_role_arn = "{ROLE}"\n' + tool,
                  extra_model=SAMPLES + deploy)
    return project


def publish_record(project: Project, digest: str = IMAGE_DIGEST) -> Path:
    """``dist/demo/publish.json`` as publish writes it, for an archive really packed."""
    archive = project.pack()
    settings = project.settings()
    dist = settings.project.dist_for("demo")
    plan = PublishPlan(region=project.region, account_id=ACCOUNT, registry=project.registry,
                       bucket=project.bucket, kms_key_id=None, tag_mutability="IMMUTABLE",
                       images=(), archives=(), packages=(), dist={"demo": dist})
    repo = f"{project.registry}/{project.repository()}"
    file = digest_file(archive, UploadSettings())
    report = PublishReport(plan=plan, dry_run=False, account_id=ACCOUNT,
                           registry=project.registry)
    report.images.append(ImageResult(model="demo", variant="cpu", tag="1.0.0-cpu",
                                     uri=f"{repo}:1.0.0-cpu", digest=digest,
                                     image_id=IMAGE_ID, action="pushed"))
    report.archives.append(ArchiveResult(
        model="demo", s3_uri=f"s3://{project.bucket}/models/demo/1.0.0/model.tar.gz",
        sha256=file.sha256, size=file.size, action="uploaded"))
    return report.write({"demo": "1.0.0"})[0]


def publish_files_record(project: Project, digest: str = IMAGE_DIGEST) -> Path:
    """``dist/demo/publish.json`` of uncompressed model data really listed by package."""
    from sagepack.archive import package_models
    from sagepack.model_data import read_files

    settings = project.settings()
    package_models(settings, settings.select("demo"))
    listing = read_files(settings, settings.models["demo"])
    dist = settings.project.dist_for("demo")
    plan = PublishPlan(region=project.region, account_id=ACCOUNT, registry=project.registry,
                       bucket=project.bucket, kms_key_id=None, tag_mutability="IMMUTABLE",
                       images=(), archives=(), packages=(), dist={"demo": dist})
    repo = f"{project.registry}/{project.repository()}"
    report = PublishReport(plan=plan, dry_run=False, account_id=ACCOUNT,
                           registry=project.registry)
    report.images.append(ImageResult(model="demo", variant="cpu", tag="1.0.0-cpu",
                                     uri=f"{repo}:1.0.0-cpu", digest=digest,
                                     image_id=IMAGE_ID, action="pushed"))
    report.file_sets.append(FilesResult(
        model="demo", s3_uri=f"s3://{project.bucket}/models/demo/1.0.0/model/",
        sha256=listing.digest, size=listing.size, files=len(listing.files),
        uploaded=len(listing.files), skipped=0, deleted=0, action="uploaded"))
    return report.write({"demo": "1.0.0"})[0]
