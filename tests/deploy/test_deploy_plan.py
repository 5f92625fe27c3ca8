"""Deploy plans from configuration and publish.json alone (no service): GPU AMIs,
serverless limits, and settings SageMaker would refuse."""

from __future__ import annotations

from pathlib import Path

import pytest
from deploy_helpers import demo_project, publish_record
from publish_helpers import Project

from sagepack.deploy import plan_deploy
from sagepack.errors import ConfigError, DeployError
from sagepack.transform import TransformJob
from sagepack.transform.params import resolve
from sagepack.transform.remote import transform_request

GPU = """
[variants.cuda]
requirements_in = "requirements/cpu.in"
requirements = "requirements/cpu.txt"
gpu = true
cuda = "12"
inference_ami = "al2-ami-sagemaker-inference-gpu-2"
transform_ami = "al2-ami-sagemaker-batch-gpu-535"
"""


def local_project(tmp_path: Path, deploy: str = "", tool: str = "") -> Project:
    project = Project(root=tmp_path / "p", repository_prefix="sp", bucket="b",
                      registry="127.0.0.1:5000")
    project.root.mkdir()
    project.write()
    return demo_project(project, deploy, tool)


def test_a_gpu_variant_runs_on_its_declared_amis(tmp_path: Path) -> None:
    project = local_project(tmp_path)
    (project.model_root / "sagepack.toml").write_text(
        (project.model_root / "sagepack.toml").read_text() + GPU)
    publish_record(project)
    import json

    record = project.settings().project.dist_for("demo") / "publish.json"
    data = json.loads(record.read_text())
    data["images"].append({**data["images"][0], "variant": "cuda", "tag": "1.0.0-cuda"})
    record.write_text(json.dumps(data))
    settings = project.settings()
    plan, _ = plan_deploy(settings, settings.models["demo"], "cuda")
    assert plan.production_variant["InferenceAmiVersion"] == \
        "al2-ami-sagemaker-inference-gpu-2"
    variant = settings.models["demo"].variant("cuda")
    assert variant.cuda is not None
    request = transform_request(
        resolve(TransformJob(input=tmp_path, output=tmp_path / "o"), None, local=False),
        name="j", model_name=plan.model_name, input_uri="s3://b/i/", output_uri="s3://b/o/",
        instance_type="ml.g5.xlarge", instance_count=1, ami=variant.cuda.transform_ami.name,
        kms_key_id=None, resource_tags=plan.tags)
    assert request["TransformResources"]["TransformAmiVersion"] == \
        "al2-ami-sagemaker-batch-gpu-535"
    cpu, _ = plan_deploy(settings, settings.models["demo"], "cpu")
    assert "InferenceAmiVersion" not in cpu.production_variant


@pytest.mark.docker
def test_serverless_checks_payloads_and_refuses_an_image_it_cannot_measure(
        tmp_path: Path) -> None:
    project = local_project(tmp_path, "[deploy.serverless]\nmemory_mb = 3072\n"
                                      "max_concurrency = 4\n")
    publish_record(project)
    (project.model_root / "samples" / "request.csv").write_bytes(b"1," * (2 * 1024 * 1024 + 1))
    settings = project.settings()

    docker = pytest.importorskip("docker").from_env()
    try:  # the recorded image id is in no engine
        with pytest.raises(DeployError) as caught:
            plan_deploy(settings, settings.models["demo"], "cpu", docker=docker)
    finally:
        docker.close()
    message = str(caught.value)
    assert "over the 4 MB payload limit of a serverless endpoint" in message
    assert "cannot check the 10 GB image limit" in message


def test_values_sagemaker_refuses_are_configuration_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        local_project(tmp_path, "[deploy]\ninstance_count = 0\n"
                                "startup_health_check_timeout_s = 30\n"
                                "[deploy.serverless]\nmemory_mb = 1000\n").settings()
    text = str(caught.value)
    for key in ("deploy.instance_count", "deploy.startup_health_check_timeout_s",
                "deploy.serverless.memory_mb"):
        assert key in text
