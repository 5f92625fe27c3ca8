"""The vulnerability gate and Marketplace validation, against moto and the real registry.

ECR's scan findings are configured through moto's API; model package statuses are
played by a proxy in front of moto's SageMaker (moto creates packages ``Completed``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import boto3
import pytest
import requests
from publish_helpers import ACCOUNT, Images, Project, make_bucket
from rich.console import Console
from sagemaker_script import StatusScript, state

from sagepack.errors import PublishError
from sagepack.publish import Gates, package_status, publish
from sagepack.publish.localstack import LocalAws

pytestmark = [pytest.mark.services, pytest.mark.docker]

ROLE = f"arn:aws:iam::{ACCOUNT}:role/sagemaker-validation"
FAST = Gates(scan_interval_s=0.05, package_interval_s=0.05)


def configure_scan(services: LocalAws, repository: str, status: str,
                   findings: list[dict[str, Any]]) -> None:
    """The next scan of any image in ``repository`` answers ``status`` with ``findings``."""
    counts: dict[str, int] = {}
    for f in findings:
        counts[f["severity"]] = counts.get(f["severity"], 0) + 1
    result = {"registryId": ACCOUNT, "repositoryName": repository, "imageId": {},
              "imageScanStatus": {"status": status, "description": f"scan {status}"},
              "imageScanFindings": {"findings": findings, "findingSeverityCounts": counts}}
    resp = requests.post(f"{services.moto.url}/moto-api/static/ecr/scan-finding-results",
                         json={"results": [result], "region": "us-east-1"}, timeout=10)
    resp.raise_for_status()


def finding(name: str, severity: str, package: str, version: str) -> dict[str, Any]:
    return {"name": name, "severity": severity, "uri": f"https://example.invalid/{name}",
            "attributes": [{"key": "package_name", "value": package},
                           {"key": "package_version", "value": version}]}


CRITICAL = [finding("CVE-2024-0001", "CRITICAL", "openssl", "3.0.11-1~deb12u2"),
            finding("CVE-2024-0002", "MEDIUM", "zlib1g", "1:1.2.13.dfsg-1")]


def setup(project: Project, images: Images, *, extra_tool: str = "",
          packages: bool = True, labels: dict[str, str] | None = None) -> None:
    make_bucket(project.bucket, "us-east-1")
    tool = ("create_model_package = true\n" if packages else "") + extra_tool
    project.write(extra_tool=tool)
    repo = project.repository()
    images.make([f"{repo}:1.0.0-cpu"], {"app/model.txt": b"v1"}, labels)
    project.pack()


def run(project: Project, console: Console, gates: Gates = FAST) -> Any:
    settings = project.settings()
    return publish(settings, settings.select("demo"), ["cpu"], console=console,
                   validation_role_arn=ROLE, gates=gates)


def packages() -> list[str]:
    listed = boto3.client("sagemaker").list_model_packages()["ModelPackageSummaryList"]
    return [p["ModelPackageName"] for p in listed]


def test_a_critical_finding_stops_the_publish_and_no_package_is_made(
        aws_env: dict[str, str], services: LocalAws, project: Project, images: Images,
        console: Console) -> None:
    setup(project, images)
    configure_scan(services, project.repository(), "COMPLETE", CRITICAL)
    with pytest.raises(PublishError) as stopped:
        run(project, console)
    message = str(stopped.value)
    assert "vulnerability gate" in message and "1 finding(s) at or above CRITICAL" in message
    assert "--allow-vulnerable" in message
    out = console.export_text(clear=True)
    assert "none found, started one" in out  # moto had no scan: one was started
    row = next(line for line in out.splitlines() if "CVE-2024-0001" in line)
    for cell in ("openssl", "3.0.11-1~deb12u2", "CRITICAL"):
        assert cell in row
    assert "CVE-2024-0002" not in out  # MEDIUM is below the threshold
    assert packages() == []
    record = json.loads((project.settings().project.dist_for("demo") /
                         "publish.json").read_text())
    scan = record["images"][0]["scan"]
    assert scan["passed"] is False and scan["failing"][0]["package"] == "openssl"

    # --allow-vulnerable publishes anyway, saying so.
    done = run(project, console, Gates(allow_vulnerable=True, scan_interval_s=0.05))
    assert [p.action for p in done.packages] == ["created"]
    assert "--allow-vulnerable: publishing these images anyway" in console.export_text()
    assert packages() == ["demo-1-0-0-cpu"]


def test_an_ignored_finding_with_its_reason_lets_the_publish_through(
        aws_env: dict[str, str], services: LocalAws, project: Project, images: Images,
        console: Console) -> None:
    ignore = ('scan_ignore = [{finding = "CVE-2024-0001", package = "openssl", '
              'reason = "not reachable: no TLS in the image"}]\n')
    setup(project, images, extra_tool=ignore)
    configure_scan(services, project.repository(), "COMPLETE", CRITICAL)
    done = run(project, console)
    assert [p.action for p in done.packages] == ["created"]
    out = console.export_text()
    assert "CVE-2024-0001 (CRITICAL) in openssl" in out
    assert "ignored: not reachable: no TLS in the image" in out


def test_the_threshold_is_configurable(aws_env: dict[str, str], services: LocalAws,
                                       project: Project, images: Images,
                                       console: Console) -> None:
    setup(project, images, extra_tool='scan_fail_severity = "MEDIUM"\n', packages=False)
    configure_scan(services, project.repository(), "COMPLETE", CRITICAL[1:])
    with pytest.raises(PublishError, match=r"at or above MEDIUM \(MEDIUM\)"):
        run(project, console)
    assert "zlib1g" in console.export_text()


def test_a_scan_that_never_finishes_hits_the_time_limit(
        aws_env: dict[str, str], services: LocalAws, project: Project, images: Images,
        console: Console) -> None:
    setup(project, images, extra_tool="scan_timeout = 1\n")
    configure_scan(services, project.repository(), "IN_PROGRESS", [])
    with pytest.raises(PublishError) as stopped:
        run(project, console)
    message = str(stopped.value)
    assert "TIMED_OUT" in message and "still IN_PROGRESS after 1 s" in message
    assert "IN_PROGRESS" in console.export_text()
    assert packages() == []


def test_a_failed_scan_is_no_verdict(aws_env: dict[str, str], services: LocalAws,
                                     project: Project, images: Images,
                                     console: Console) -> None:
    setup(project, images, packages=False)
    configure_scan(services, project.repository(), "UNSUPPORTED_IMAGE", [])
    with pytest.raises(PublishError, match="no scan verdict \\(UNSUPPORTED_IMAGE"):
        run(project, console)


def test_wait_follows_validation_to_a_failure_and_prints_each_reason(
        aws_env: dict[str, str], services: LocalAws, project: Project, images: Images,
        console: Console, monkeypatch: pytest.MonkeyPatch) -> None:
    setup(project, images)
    reason = "image scan found CVE-2024-9999 (CRITICAL) in libc6"
    script = StatusScript(services.moto.url, [
        state("Pending", "NotStarted", "NotStarted"),
        state("InProgress", "InProgress", "InProgress"),
        state("InProgress", "Completed", "InProgress"),
        state("Failed", "Completed", "Failed", reason),
    ]).start()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", script.url)
        with pytest.raises(PublishError) as failed:
            run(project, console, Gates(wait=True, scan_interval_s=0.05,
                                        package_interval_s=0.05))
    finally:
        script.stop()
    assert "ended Failed" in str(failed.value) and reason in str(failed.value)
    out = console.export_text()
    lines = [line.strip() for line in out.splitlines()]
    order = [lines.index(x) for x in ("validation validation: NotStarted",
                                      "validation validation: InProgress",
                                      "validation validation: Completed",
                                      f"image scan image: Failed ({reason})")]
    assert order == sorted(order)
    assert any(line.endswith(": InProgress") and "model package" in line for line in lines)


def test_without_wait_it_says_how_to_follow_then_status_follows(
        aws_env: dict[str, str], services: LocalAws, project: Project, images: Images,
        console: Console, monkeypatch: pytest.MonkeyPatch) -> None:
    setup(project, images)
    done = run(project, console)
    assert "invoke publish --status --wait --model demo --variant cpu" in \
        console.export_text(clear=True)
    script = StatusScript(services.moto.url, [
        state("InProgress", "InProgress", "Completed"),
        state("Completed", "Completed", "Completed")]).start()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", script.url)
        settings = project.settings()
        now = package_status(settings, settings.select("demo"), ["cpu"], console=console)
        assert [s.status for s in now] == ["InProgress"]
        followed = package_status(settings, settings.select("demo"), ["cpu"], wait=True,
                                  console=console, interval_s=0.05)
    finally:
        script.stop()
    assert [(s.arn, s.status) for s in followed] == [(done.packages[0].arn, "Completed")]
    assert "validation validation: Completed" in console.export_text()


def test_the_sbom_goes_beside_the_archive_and_publish_json_names_both(
        aws_env: dict[str, str], services: LocalAws, project: Project, images: Images,
        console: Console) -> None:
    setup(project, images, packages=False)
    image_id = images.ids[-1]
    dist = project.settings().project.dist_for("demo")
    sbom = dist / "sbom-cpu.cdx.json"

    def write(for_image: str) -> None:
        sbom.write_text(json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6",
                                    "metadata": {"component": {"name": "demo", "properties": [
                                        {"name": "sagepack:image-id", "value": for_image}]}}}))

    write("sha256:" + "0" * 64)
    with pytest.raises(PublishError, match=r"sbom-cpu\.cdx\.json describes image sha256:000"):
        run(project, console)
    write(image_id)
    done = run(project, console)
    key = "models/demo/1.0.0/sbom-cpu.cdx.json"
    body = boto3.client("s3").get_object(Bucket=project.bucket, Key=key)["Body"].read()
    assert body == sbom.read_bytes()
    record = json.loads((dist / "publish.json").read_text())
    assert record["archive"]["s3_uri"] == f"s3://{project.bucket}/models/demo/1.0.0/model.tar.gz"
    assert record["sboms"] == [{"variant": "cpu", "s3_uri": f"s3://{project.bucket}/{key}",
                                "sha256": done.sboms[0].sha256, "size": len(body)}]


def test_an_image_labelled_with_its_sbom_sha256_publishes_only_that_sbom(
        aws_env: dict[str, str], services: LocalAws, project: Project, images: Images,
        console: Console) -> None:
    document = json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6",
                           "metadata": {"component": {"name": "demo"}}}).encode()
    setup(project, images, packages=False,
          labels={"sagepack.sbom.sha256": hashlib.sha256(document).hexdigest()})
    sbom = project.settings().project.dist_for("demo") / "sbom-cpu.cdx.json"
    sbom.write_bytes(document + b" ")
    with pytest.raises(PublishError, match=r"sbom-cpu\.cdx\.json has sha256 .*records its "
                                           r"SBOM as .*sagepack\.sbom\.sha256"):
        run(project, console)
    sbom.write_bytes(document)
    done = run(project, console)
    assert [s.sha256 for s in done.sboms] == [hashlib.sha256(document).hexdigest()]
    body = boto3.client("s3").get_object(Bucket=project.bucket,
                                         Key="models/demo/1.0.0/sbom-cpu.cdx.json")["Body"]
    assert body.read() == document
