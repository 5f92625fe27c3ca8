"""``transform --remote`` against moto's server: the job's parameters as SageMaker receives
them, the verified and idempotent input upload, outputs, failures and the shared
validation. moto completes a job at once and writes no output (it runs no container)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import boto3
import pytest
from deploy_helpers import StatusProxy, demo_project, publish_record
from publish_helpers import Project, make_bucket
from rich.console import Console

from sagepack.errors import DeployError, TransformError
from sagepack.transform import TransformJob
from sagepack.transform.params import resolve
from sagepack.transform.remote import RemoteTarget, download_outputs, run_remote

pytestmark = pytest.mark.services


def ready(project: Project, tmp_path: Path) -> Path:
    demo_project(project, "[deploy]\npoll_interval_s = 1\n")
    publish_record(project)
    make_bucket(project.bucket, project.region)
    data = tmp_path / "input"
    (data / "part").mkdir(parents=True)
    (data / "a.jsonl").write_text('{"features": [1, 2]}\n{"features": [3, 4]}\n')
    (data / "part" / "b.jsonl").write_text('{"features": [5, 6]}\n')
    return data


def job(data: Path, out: Path, **kw: object) -> TransformJob:
    values: dict[str, object] = dict(
        input=data, output=out, content_type="application/jsonlines",
        accept="application/jsonlines", split_type="Line", strategy="MultiRecord",
        max_payload_mb=2, max_concurrent=4, assemble_with="Line",
        input_filter="$.features", output_filter="$", join_source="Input", timeout_s=120,
        retries=1)
    values.update(kw)
    return TransformJob(**values)  # type: ignore[arg-type]


def test_remote_job_gets_every_flag_and_the_input_is_uploaded_once(
        project: Project, tmp_path: Path, status_proxy: StatusProxy,
        console: Console) -> None:
    data = ready(project, tmp_path)
    settings = project.settings()
    model = settings.models["demo"]
    target = RemoteTarget(input=str(data), instance_type="ml.c5.xlarge", instance_count=2)
    # moto completes the job without running the model: no outputs, and that is an error
    with pytest.raises(DeployError, match=r"lacks 2 of 2 outputs: a\.jsonl\.out"):
        run_remote(settings, model, "cpu", job(data, tmp_path / "out"), target,
                   console=console)
    [sent] = status_proxy.sent("CreateTransformJob")
    sm = boto3.client("sagemaker", region_name="us-east-1")
    described = sm.describe_transform_job(TransformJobName=sent["TransformJobName"])
    assert described["TransformResources"] == {"InstanceType": "ml.c5.xlarge",
                                               "InstanceCount": 2}
    assert (described["MaxConcurrentTransforms"], described["MaxPayloadInMB"],
            described["BatchStrategy"]) == (4, 2, "MultiRecord")
    assert described["ModelClientConfig"] == {"InvocationsTimeoutInSeconds": 120,
                                              "InvocationsMaxRetries": 1}
    assert described["DataProcessing"] == {"InputFilter": "$.features",
                                           "OutputFilter": "$", "JoinSource": "Input"}
    tin = described["TransformInput"]
    assert (tin["SplitType"], tin["CompressionType"], tin["ContentType"]) == \
        ("Line", "None", "application/jsonlines")
    assert described["TransformOutput"]["AssembleWith"] == "Line"
    assert described["TransformOutput"]["Accept"] == "application/jsonlines"
    assert described["ModelName"].startswith("demo-1-0-0-cpu-")

    uri = tin["DataSource"]["S3DataSource"]["S3Uri"]
    bucket, _, prefix = uri[5:].partition("/")
    s3 = boto3.client("s3", region_name="us-east-1")
    stored = s3.head_object(Bucket=bucket, Key=prefix + "part/b.jsonl")
    assert stored["Metadata"]["sha256"] == \
        hashlib.sha256((data / "part" / "b.jsonl").read_bytes()).hexdigest()

    again = run_remote(settings, model, "cpu", job(data, tmp_path / "out"),
                       RemoteTarget(input=str(data), keep_in_s3=True), console=console)
    assert again.uploaded == [] and len(again.skipped) == 2 and again.input_uri == uri
    assert again.status == "Completed" and again.downloaded == []
    assert again.request["TransformResources"]["InstanceType"] == "ml.m5.large"


def test_an_s3_input_is_used_as_is_and_only_given_values_are_sent(
        project: Project, tmp_path: Path, status_proxy: StatusProxy,
        console: Console) -> None:
    data = ready(project, tmp_path)
    settings = project.settings()
    plain = TransformJob(input=Path("unused"), output=tmp_path / "out",
                         content_type="text/csv")
    result = run_remote(settings, settings.models["demo"], "cpu", plain,
                        RemoteTarget(input=f"s3://{project.bucket}/given/", keep_in_s3=True),
                        console=console)
    assert result.input_uri == f"s3://{project.bucket}/given/" and result.uploaded == []
    [sent] = status_proxy.sent("CreateTransformJob")
    for key in ("MaxConcurrentTransforms", "MaxPayloadInMB", "BatchStrategy",
                "DataProcessing"):
        assert key not in sent  # SageMaker then asks the container, as the emulator does
    assert data.exists()


def test_outputs_are_downloaded_where_the_local_emulator_writes_them(
        project: Project, tmp_path: Path, aws_env: dict[str, str], console: Console) -> None:
    make_bucket(project.bucket, project.region)
    s3 = boto3.client("s3", region_name="us-east-1")
    # what the fleet writes (moto's jobs write nothing): <input>.out under the output path
    s3.put_object(Bucket=project.bucket, Key="out/job/a.jsonl.out", Body=b"[1]\n")
    s3.put_object(Bucket=project.bucket, Key="out/job/part/b.jsonl.out", Body=b"[2]\n")
    written = download_outputs(s3, f"s3://{project.bucket}/out/job/", tmp_path / "o",
                               ["a.jsonl.out", "part/b.jsonl.out"], console)
    assert sorted(p.relative_to(tmp_path / "o").as_posix() for p in written) == \
        ["a.jsonl.out", "part/b.jsonl.out"]
    assert (tmp_path / "o" / "part" / "b.jsonl.out").read_bytes() == b"[2]\n"


def test_a_failed_job_reports_its_failure_reason(project: Project, tmp_path: Path,
                                                 status_proxy: StatusProxy,
                                                 console: Console) -> None:
    data = ready(project, tmp_path)
    status_proxy.script("DescribeTransformJob", {"TransformJobStatus": "InProgress"},
                        {"TransformJobStatus": "Failed", "FailureReason":
                         "ClientError: See job logs for more information"})
    settings = project.settings()
    with pytest.raises(DeployError) as caught:
        run_remote(settings, settings.models["demo"], "cpu", job(data, tmp_path / "out"),
                   RemoteTarget(input=str(data)), console=console)
    assert "ClientError: See job logs" in str(caught.value)
    assert "/aws/sagemaker/TransformJobs" in str(caught.value)
    assert "InProgress after" in console.export_text()


def test_parameters_sagemaker_refuses_are_the_same_error_locally_and_remotely(
        project: Project, tmp_path: Path, status_proxy: StatusProxy,
        console: Console) -> None:
    data = ready(project, tmp_path)
    bad = job(data, tmp_path / "out", max_concurrent=20, max_payload_mb=6,
              input_filter="$." + "x" * 70)
    with pytest.raises(TransformError) as local:
        resolve(bad, None)
    settings = project.settings()
    with pytest.raises(TransformError) as remote:
        run_remote(settings, settings.models["demo"], "cpu", bad,
                   RemoteTarget(input=str(data)), console=console)
    assert str(local.value) == str(remote.value)
    assert "exceeds 100" in str(remote.value) and "63" in str(remote.value)
    assert status_proxy.requests == []


def test_a_remote_transform_of_an_arm64_variant_is_refused_before_anything_is_sent(
        project: Project, tmp_path: Path, status_proxy: StatusProxy,
        console: Console) -> None:
    data = ready(project, tmp_path)
    config = project.model_root / "sagepack.toml"
    config.write_text(config.read_text() + '\n[variants.graviton]\nplatform = "linux/arm64"\n'
                      'requirements_in = "requirements/cpu.in"\n'
                      'requirements = "requirements/graviton.txt"\n'
                      'realtime_instance_types = ["ml.c7g.large"]\n')
    settings = project.settings()
    with pytest.raises(DeployError, match=r"variants\.graviton is linux/arm64: SageMaker's "
                                          r"batch transform has no Graviton"):
        run_remote(settings, settings.models["demo"], "graviton",
                   job(data, tmp_path / "out"), RemoteTarget(input=str(data)),
                   console=console)
    assert status_proxy.requests == []
