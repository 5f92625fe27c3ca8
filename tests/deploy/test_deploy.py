"""``deploy`` and ``undeploy`` against moto's real server (SageMaker, SageMaker runtime),
through a proxy that records requests and scripts the states moto skips."""

from __future__ import annotations

import boto3
import pytest
import requests
from deploy_helpers import IMAGE_DIGEST, ROLE, StatusProxy, demo_project, publish_record
from publish_helpers import Project
from rich.console import Console

from sagepack.deploy import deploy, undeploy
from sagepack.errors import DeployError
from sagepack.publish.localstack import LocalAws

pytestmark = pytest.mark.services

FAST = "[deploy]\npoll_interval_s = 1\nwait_timeout_s = 60\n"


def sagemaker() -> object:
    return boto3.client("sagemaker", region_name="us-east-1")


def ready(project: Project, deploy_table: str = FAST) -> Project:
    demo_project(project, deploy_table)
    publish_record(project)
    return project


def run(project: Project, console: Console, **kwargs: object) -> object:
    settings = project.settings()
    return deploy(settings, settings.models["demo"], "cpu", console=console, **kwargs)


def test_dry_run_prints_every_parameter_and_touches_nothing(
        project: Project, status_proxy: StatusProxy, console: Console) -> None:
    ready(project)
    report = run(project, console, dry_run=True)
    out = console.export_text()
    for expected in (f"{project.registry}/{project.repository()}@{IMAGE_DIGEST}",
                     "models/demo/1.0.0/model.tar.gz", ROLE, "EnableNetworkIsolation",
                     "ml.m5.large", "InitialInstanceCount", "sagepack:managed=true",
                     "BlueGreenUpdatePolicy", report.plan.config_name,  # type: ignore[attr-defined]
                     "nothing was created"):
        assert expected in out
    assert status_proxy.requests == []
    sm = boto3.client("sagemaker", region_name="us-east-1")
    assert sm.list_models()["Models"] == [] and sm.list_endpoints()["Endpoints"] == []


def test_deploy_creates_tagged_resources_then_a_second_deploy_keeps_them(
        project: Project, status_proxy: StatusProxy, console: Console) -> None:
    ready(project, FAST + "startup_health_check_timeout_s = 600\n"
                          "model_data_download_timeout_s = 900\ninstance_count = 2\n")
    first = run(project, console)
    assert [(s.kind, s.action) for s in first.steps] == [  # type: ignore[attr-defined]
        ("model", "created"), ("endpoint config", "created"), ("endpoint", "created")]
    sm = boto3.client("sagemaker", region_name="us-east-1")
    endpoint = sm.describe_endpoint(EndpointName="demo-cpu")
    config = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    variant = config["ProductionVariants"][0]
    assert (variant["InstanceType"], variant["InitialInstanceCount"]) == ("ml.m5.large", 2)
    assert variant["ContainerStartupHealthCheckTimeoutInSeconds"] == 600
    assert variant["ModelDataDownloadTimeoutInSeconds"] == 900
    model = sm.describe_model(ModelName=variant["ModelName"])
    assert model["PrimaryContainer"]["Image"].endswith(f"@{IMAGE_DIGEST}")
    assert model["PrimaryContainer"]["ModelDataUrl"] == \
        f"s3://{project.bucket}/models/demo/1.0.0/model.tar.gz"
    assert model["ExecutionRoleArn"] == ROLE
    # moto stores no EnableNetworkIsolation (it always answers False): the request shows it
    assert status_proxy.sent("CreateModel")[0]["EnableNetworkIsolation"] is True
    for arn in (endpoint["EndpointArn"], config["EndpointConfigArn"], model["ModelArn"]):
        tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=arn)["Tags"]}
        assert tags["sagepack:managed"] == "true" and tags["sagepack:variant"] == "cpu"

    again = run(project, console)
    assert {s.action for s in again.steps} == {"kept"}  # type: ignore[attr-defined]
    creates = [a for a, _ in status_proxy.requests if a.startswith(("Create", "Update"))]
    assert len(creates) == 3


def test_a_changed_plan_updates_the_endpoint_blue_green_with_rollback_alarms(
        project: Project, status_proxy: StatusProxy, console: Console) -> None:
    ready(project)
    run(project, console)
    demo_project(project, FAST + 'instance_count = 3\nrollback_alarms = ["demo-5xx"]\n')
    # moto has no UpdateEndpoint (it answers 500): the request is what can be checked
    with pytest.raises(DeployError, match="UpdateEndpoint"):
        run(project, console)
    update = status_proxy.sent("UpdateEndpoint")[0]
    assert update["EndpointName"] == "demo-cpu"
    policy = update["DeploymentConfig"]
    assert policy["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"] == \
        "ALL_AT_ONCE"
    assert policy["AutoRollbackConfiguration"] == {"Alarms": [{"AlarmName": "demo-5xx"}]}
    configs = boto3.client("sagemaker", region_name="us-east-1").list_endpoint_configs()
    assert update["EndpointConfigName"] in [c["EndpointConfigName"]
                                            for c in configs["EndpointConfigs"]]


def test_wait_follows_the_states_then_samples_answered_by_moto_are_inconclusive(
        project: Project, services: LocalAws, status_proxy: StatusProxy,
        console: Console) -> None:
    ready(project)
    status_proxy.script("DescribeEndpoint", {"EndpointStatus": "Creating"},
                        {"EndpointStatus": "Creating"}, {"EndpointStatus": "InService"})
    # moto answers canned bodies; even the exact expected one, from the right variant ...
    requests.post(f"{services.moto.url}/moto-api/static/sagemaker/endpoint-results",
                  json={"results": [{"Body": "1\n", "ContentType": "text/csv",
                                     "InvokedProductionVariant": "cpu"}]}, timeout=10)
    report = run(project, console, wait=True)
    out = console.export_text()
    assert "endpoint demo-cpu: Creating after" in out
    assert "endpoint demo-cpu: InService after" in out
    [sample] = report.samples  # type: ignore[attr-defined]
    # ... is not the model's answer: inconclusive, never passed
    assert sample.status == "inconclusive"
    assert "stand-in" in sample.detail and "matches the expected" in sample.detail
    assert sample.latency_ms is not None


def test_a_failed_endpoint_reports_its_reason_and_log_group(
        project: Project, status_proxy: StatusProxy, console: Console) -> None:
    ready(project)
    status_proxy.script("DescribeEndpoint", {"EndpointStatus": "Creating"},
                        {"EndpointStatus": "Failed", "FailureReason":
                         "The primary container did not pass the ping health check."})
    with pytest.raises(DeployError) as caught:
        run(project, console, wait=True)
    message = str(caught.value)
    assert "did not pass the ping health check" in message
    assert "/aws/sagemaker/Endpoints/demo-cpu" in message


def test_wait_gives_up_after_its_time_limit(project: Project, status_proxy: StatusProxy,
                                            console: Console) -> None:
    ready(project, "[deploy]\npoll_interval_s = 1\nwait_timeout_s = 60\n")
    status_proxy.script("DescribeEndpoint", *[{"EndpointStatus": "Creating"}] * 100)
    settings = project.settings()
    model = settings.models["demo"]
    from dataclasses import replace

    quick = replace(model, deploy=replace(model.deploy, wait_timeout_s=2))
    with pytest.raises(DeployError, match="still Creating after"):
        deploy(settings, quick, "cpu", console=console, wait=True)


def test_undeploy_deletes_what_deploy_made(project: Project, status_proxy: StatusProxy,
                                           console: Console) -> None:
    ready(project)
    run(project, console)
    settings = project.settings()
    steps = undeploy(settings, settings.models["demo"], "cpu", console=console)
    assert [s.kind for s in steps] == ["endpoint", "endpoint config", "model"]
    sm = boto3.client("sagemaker", region_name="us-east-1")
    assert sm.list_endpoints()["Endpoints"] == []
    assert sm.list_endpoint_configs()["EndpointConfigs"] == []
    assert sm.list_models()["Models"] == []


def test_undeploy_refuses_resources_sagepack_did_not_create(
        project: Project, aws_env: dict[str, str], console: Console) -> None:
    ready(project)
    sm = boto3.client("sagemaker", region_name="us-east-1")
    sm.create_model(ModelName="hand-made", ExecutionRoleArn=ROLE,
                    PrimaryContainer={"Image": "x@sha256:" + "a" * 64})
    sm.create_endpoint_config(EndpointConfigName="hand-made", ProductionVariants=[{
        "VariantName": "cpu", "ModelName": "hand-made", "InstanceType": "ml.m5.large",
        "InitialInstanceCount": 1}], Tags=[{"Key": "sagepack:managed", "Value": "true"}])
    sm.create_endpoint(EndpointName="demo-cpu", EndpointConfigName="hand-made",
                       Tags=[{"Key": "sagepack:managed", "Value": "true"}])
    settings = project.settings()
    with pytest.raises(DeployError, match="model hand-made; nothing was deleted"):
        undeploy(settings, settings.models["demo"], "cpu", console=console)
    assert [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]] == ["demo-cpu"]
    assert len(sm.list_models()["Models"]) == 1
    # and deploy will not take over an endpoint it did not make either
    sm.delete_tags(ResourceArn=sm.describe_endpoint(EndpointName="demo-cpu")["EndpointArn"],
                   TagKeys=["sagepack:managed"])
    with pytest.raises(DeployError, match="endpoint demo-cpu exists but was not created"):
        run(project, console)


def test_missing_execution_role_names_the_setting(project: Project, aws_env: dict[str, str],
                                                  console: Console) -> None:
    ready(project)
    project.write(extra_model=FAST)
    settings = project.settings()
    with pytest.raises(DeployError, match=r"tool\.sagepack\.execution_role_arn is not set"):
        deploy(settings, settings.models["demo"], "cpu", console=console, dry_run=True)
