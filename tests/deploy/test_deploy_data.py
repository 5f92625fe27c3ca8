"""``deploy`` against moto's real server: uncompressed model data as ``ModelDataSource``,
streamed samples through ``InvokeEndpointWithResponseStream`` (answered by a proxy, moto
has none), and what an update supersedes deleted once the update is confirmed."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from deploy_helpers import (
    ROLE,
    SAMPLES,
    StatusProxy,
    demo_project,
    publish_files_record,
    publish_record,
    write_samples,
)
from publish_helpers import Project
from rich.console import Console
from runtime_stream import StreamingRuntime, payload_part, stream_error

from sagepack.deploy import deploy, undeploy
from sagepack.errors import DeployError
from sagepack.transform import TransformJob
from sagepack.transform.remote import RemoteTarget, run_remote

pytestmark = pytest.mark.services

FAST = "[deploy]\npoll_interval_s = 1\nwait_timeout_s = 60\n"
UNCOMPRESSED = 'model_data = "uncompressed"\n'
STREAMED = SAMPLES.replace('name = "csv"', 'name = "streamed"') + "stream = true\n"
PREFIX = "models/demo/1.0.0/model/"


def sm() -> Any:
    return boto3.client("sagemaker", region_name="us-east-1")


def run(project: Project, console: Console, **kwargs: Any) -> Any:
    settings = project.settings()
    return deploy(settings, settings.models["demo"], "cpu", console=console, **kwargs)


def uncompressed(project: Project, deploy_table: str = FAST) -> Project:
    demo_project(project, deploy_table)
    project.write(extra_tool=f'execution_role_arn = "{ROLE}"\n',
                  extra_model=UNCOMPRESSED + SAMPLES + deploy_table)
    publish_files_record(project)
    return project


# --- uncompressed model data --------------------------------------------------------------


def test_uncompressed_data_is_the_models_model_data_source(
        project: Project, status_proxy: StatusProxy, console: Console) -> None:
    uncompressed(project)
    source = {"S3DataSource": {"S3Uri": f"s3://{project.bucket}/{PREFIX}",
                               "S3DataType": "S3Prefix", "CompressionType": "None"}}
    dry = run(project, console, dry_run=True)
    out = console.export_text(clear=True)
    assert "PrimaryContainer.ModelDataSource.S3DataSource.CompressionType" in out
    assert dry.plan.model_request["PrimaryContainer"]["ModelDataSource"] == source

    report = run(project, console)
    [sent] = status_proxy.sent("CreateModel")
    assert sent["PrimaryContainer"]["ModelDataSource"] == source
    assert "ModelDataUrl" not in sent["PrimaryContainer"]
    described = sm().describe_model(ModelName=report.plan.model_name)
    assert described["PrimaryContainer"]["ModelDataSource"] == source


def test_a_record_of_the_other_kind_of_model_data_is_refused(
        project: Project, aws_env: dict[str, str], console: Console) -> None:
    demo_project(project, FAST)
    publish_record(project)  # an archive...
    project.write(extra_tool=f'execution_role_arn = "{ROLE}"\n',
                  extra_model=UNCOMPRESSED + SAMPLES + FAST)  # ... but uncompressed asked
    with pytest.raises(DeployError, match=r"no S3 prefix of uncompressed model data.*"
                                          r"run: invoke publish --model demo"):
        run(project, console, dry_run=True)
    publish_files_record(project)
    project.write(extra_tool=f'execution_role_arn = "{ROLE}"\n', extra_model=SAMPLES + FAST)
    with pytest.raises(DeployError, match="its model data is uncompressed"):
        run(project, console, dry_run=True)


def test_republished_data_under_the_same_uri_is_another_model(
        project: Project, aws_env: dict[str, str], console: Console) -> None:
    uncompressed(project)
    before = run(project, console, dry_run=True).plan.model_name
    (project.model_root / "weights.bin").write_bytes(b"weights v2")  # --force republish
    publish_files_record(project)
    after = run(project, console, dry_run=True).plan
    assert after.model_name != before
    assert after.model_request["PrimaryContainer"]["ModelDataSource"]["S3DataSource"][
        "S3Uri"] == f"s3://{project.bucket}/{PREFIX}"


def test_a_remote_transform_of_uncompressed_data_is_refused_before_anything_is_sent(
        project: Project, status_proxy: StatusProxy, console: Console, tmp_path: Any) -> None:
    uncompressed(project)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_text("1,2\n")
    settings = project.settings()
    job = TransformJob(input=tmp_path / "in", output=tmp_path / "out",
                       content_type="text/csv", accept="text/csv", split_type="Line")
    with pytest.raises(DeployError, match="batch transform does not run a model whose data "
                                          "is a ModelDataSource"):
        run_remote(settings, settings.models["demo"], "cpu", job,
                   RemoteTarget(input=str(tmp_path / "in")), console=console)
    assert status_proxy.requests == []


# --- streamed samples ----------------------------------------------------------------------


ANSWER = b"1,0.25\n0,0.5\n"


def streamed(project: Project) -> Project:
    demo_project(project, FAST)
    write_samples(project, ANSWER)
    project.write(extra_tool=f'execution_role_arn = "{ROLE}"\n',
                  extra_model=SAMPLES + STREAMED + FAST)
    publish_record(project)
    return project


def test_a_streamed_sample_is_sent_with_response_stream_and_its_parts_joined(
        project: Project, status_proxy: StatusProxy, streaming_runtime: StreamingRuntime,
        console: Console) -> None:
    streamed(project)
    streaming_runtime.events = [payload_part(b"1,0.2"), payload_part(b""),
                                payload_part(b"5\n0,"), payload_part(b"0.5\n")]
    report = run(project, console, wait=True)
    plain, stream = report.samples
    [request] = streaming_runtime.streams
    assert (request.endpoint, request.content_type, request.accept, request.body) == \
        ("demo-cpu", "text/csv", "text/csv", b"5.1,3.5,1.4,0.2\n")
    assert [p for p in streaming_runtime.forwarded if "invocations" in p] == \
        ["/endpoints/demo-cpu/invocations"]  # the other sample: InvokeEndpoint, to moto
    assert plain.name == "csv" and "streamed" not in plain.detail
    assert stream.name == "streamed" and stream.status == "inconclusive"
    assert "matches the expected response (streamed in 4 part(s)" in stream.detail


def test_a_streamed_answer_that_differs_is_named(
        project: Project, status_proxy: StatusProxy, streaming_runtime: StreamingRuntime,
        console: Console) -> None:
    streamed(project)
    streaming_runtime.events = [payload_part(b"1,0.25\n"), payload_part(b"1,0.5\n")]
    [_, stream] = run(project, console, wait=True).samples
    assert "differs from the expected response" in stream.detail
    assert "streamed in 2 part(s)" in stream.detail


def test_an_error_event_in_the_stream_fails_the_sample_and_the_deploy(
        project: Project, status_proxy: StatusProxy, streaming_runtime: StreamingRuntime,
        console: Console) -> None:
    streamed(project)
    streaming_runtime.events = [payload_part(b"1,0.25\n"),
                                stream_error("ModelStreamError", "worker died", "500")]
    with pytest.raises(DeployError, match="answered 1 of 2 samples wrongly") as caught:
        run(project, console, wait=True)
    message = str(caught.value)
    assert "streamed: InvokeEndpointWithResponseStream refused: ModelStreamError" in message
    assert "worker died" in message and "/aws/sagemaker/Endpoints/demo-cpu" in message


# --- what an update supersedes -------------------------------------------------------------


def names() -> tuple[set[str], set[str]]:
    client = sm()
    return ({c["EndpointConfigName"] for c in client.list_endpoint_configs()["EndpointConfigs"]},
            {m["ModelName"] for m in client.list_models()["Models"]})


def first_then_changed(project: Project, console: Console) -> tuple[Any, Any]:
    """A deploy, then a bystander config and model of the same names' shape that sagepack
    must not delete, then a changed plan (another model environment)."""
    demo_project(project, FAST)
    publish_record(project)
    first = run(project, console)
    client = sm()
    client.create_model(ModelName="demo-hand-made", ExecutionRoleArn=ROLE,
                        PrimaryContainer={"Image": "x@sha256:" + "a" * 64})
    pv = [{"VariantName": "cpu", "ModelName": "demo-hand-made", "InstanceType": "ml.m5.large",
           "InitialInstanceCount": 1}]
    client.create_endpoint_config(EndpointConfigName="demo-cpu-handmade",
                                  ProductionVariants=pv)  # untagged
    client.create_endpoint_config(  # sagepack's, of another endpoint
        EndpointConfigName="demo-cpu-other", ProductionVariants=pv,
        Tags=[{"Key": "sagepack:managed", "Value": "true"},
              {"Key": "sagepack:endpoint", "Value": "demo-cpu-2"}])
    demo_project(project, FAST + "instance_count = 2\n")
    project.write(extra_tool=f'execution_role_arn = "{ROLE}"\n',
                  extra_model='env = { MODE = "2" }\n' + SAMPLES + FAST + "instance_count = 2\n")
    changed = run(project, console, dry_run=True)
    assert changed.plan.model_name != first.plan.model_name
    return first.plan, changed.plan


def test_an_update_confirmed_by_wait_deletes_what_the_endpoint_ran_before(
        project: Project, status_proxy: StatusProxy, console: Console) -> None:
    old, new = first_then_changed(project, console)
    status_proxy.emulate_update = True
    status_proxy.script("DescribeEndpoint", {}, {"EndpointStatus": "Updating"})
    console.export_text(clear=True)
    report = run(project, console, wait=True)
    out = console.export_text()
    assert [(s.kind, s.name, s.action) for s in report.steps] == [
        ("model", new.model_name, "created"), ("endpoint config", new.config_name, "created"),
        ("endpoint", "demo-cpu", "updated"), ("endpoint config", old.config_name, "deleted"),
        ("model", old.model_name, "deleted")]
    assert f"delete superseded endpoint config {old.config_name}" in out
    assert f"delete superseded model {old.model_name}" in out
    configs, models = names()
    assert configs == {new.config_name, "demo-cpu-handmade", "demo-cpu-other"}
    assert models == {new.model_name, "demo-hand-made"}


def test_without_wait_they_are_kept_until_the_update_is_seen_done(
        project: Project, status_proxy: StatusProxy, console: Console) -> None:
    old, new = first_then_changed(project, console)
    status_proxy.emulate_update = True
    console.export_text(clear=True)
    run(project, console)
    out = console.export_text(clear=True)
    assert f"kept endpoint config {old.config_name}, model {old.model_name}" in out
    assert "kept for a rollback since the endpoint is not InService on it yet" in out
    assert {old.config_name, new.config_name} <= names()[0]

    again = run(project, console)  # the endpoint is InService on the new config now
    assert [(s.kind, s.action) for s in again.steps][3:] == [
        ("endpoint config", "deleted"), ("model", "deleted")]
    configs, models = names()
    assert old.config_name not in configs and old.model_name not in models


def test_a_rolled_back_update_deletes_nothing(project: Project, status_proxy: StatusProxy,
                                              console: Console) -> None:
    old, _ = first_then_changed(project, console)
    status_proxy.emulate_update = True
    status_proxy.script("DescribeEndpoint", {}, {"EndpointStatus": "InService",
                                                 "EndpointConfigName": old.config_name,
                                                 "FailureReason": "alarm demo-5xx fired"})
    with pytest.raises(DeployError, match="rolled back"):
        run(project, console, wait=True)
    configs, models = names()
    assert old.config_name in configs and old.model_name in models


def test_undeploy_also_removes_what_an_unconfirmed_update_left(
        project: Project, status_proxy: StatusProxy, console: Console) -> None:
    old, new = first_then_changed(project, console)
    status_proxy.emulate_update = True
    run(project, console)
    settings = project.settings()
    steps = undeploy(settings, settings.models["demo"], "cpu", console=console)
    assert [(s.kind, s.name) for s in steps] == [
        ("endpoint", "demo-cpu"), ("endpoint config", new.config_name),
        ("model", new.model_name), ("endpoint config", old.config_name),
        ("model", old.model_name)]
    configs, models = names()
    assert configs == {"demo-cpu-handmade", "demo-cpu-other"}
    assert models == {"demo-hand-made"}
