"""What a deploy will create, worked out from configuration and ``publish.json`` only.

Making a plan touches nothing remote. Resource names carry a short hash of what they hold
(``<model>-<version>-<variant>-<hash>`` for the model, ``<endpoint>-<hash>`` for the
endpoint config), so the same plan always names the same resources: a second deploy finds
them and does nothing, and a changed one makes new ones and updates the endpoint to them.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from sagepack.config import ModelConfig, Settings, Variant
from sagepack.containers.contract import container_env
from sagepack.deploy.published import Release
from sagepack.errors import DeployError
from sagepack.model_data import container_data

MANAGED_TAG = "sagepack:managed"
ENDPOINT_TAG = "sagepack:endpoint"
MAX_NAME = 63


def resource_name(*parts: str, limit: int = MAX_NAME) -> str:
    """A SageMaker name: letters, digits and single hyphens, at most ``limit`` characters."""
    raw = "-".join(p for p in parts if p)
    name = re.sub(r"[^A-Za-z0-9]+", "-", raw).strip("-")
    return name[:limit].rstrip("-")


def _short_hash(value: Any) -> str:
    data = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(data).hexdigest()[:8]


def tags(plan_tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(plan_tags.items())]


@dataclass(frozen=True)
class DeployPlan:
    """Every resource and parameter a deploy sends, before any of it is sent."""

    model: ModelConfig
    variant: Variant
    release: Release
    region: str
    endpoint_name: str
    model_name: str
    config_name: str
    model_request: dict[str, Any]
    config_request: dict[str, Any]
    deployment_config: dict[str, Any] | None
    tags: dict[str, str]

    @property
    def serverless(self) -> bool:
        return "ServerlessConfig" in self.production_variant

    @property
    def production_variant(self) -> dict[str, Any]:
        return dict(self.config_request["ProductionVariants"][0])

    @property
    def log_group(self) -> str:
        return f"/aws/sagemaker/Endpoints/{self.endpoint_name}"

    def endpoint_request(self) -> dict[str, Any]:
        return {"EndpointName": self.endpoint_name, "EndpointConfigName": self.config_name,
                "Tags": tags(self.tags)}

    def update_request(self) -> dict[str, Any]:
        request: dict[str, Any] = {"EndpointName": self.endpoint_name,
                                   "EndpointConfigName": self.config_name}
        if self.deployment_config is not None:
            request["DeploymentConfig"] = self.deployment_config
        return request


def execution_role(settings: Settings) -> str:
    role = settings.project.execution_role_arn
    if not role:
        raise DeployError(f"{settings.project.config_file}: tool.sagepack.execution_role_arn "
                          "is not set (or SAGEPACK_EXECUTION_ROLE_ARN): SageMaker needs an "
                          "execution role to pull the image and read the model data")
    if not re.match(r"^arn:aws[a-z-]*:iam::\d{12}:role/", role):
        raise DeployError(f"{settings.project.config_file}: tool.sagepack.execution_role_arn "
                          f"must be an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME), "
                          f"got {role!r}")
    return role


def model_request(settings: Settings, model: ModelConfig, variant: Variant, release: Release,
                  resource_tags: dict[str, str]) -> dict[str, Any]:
    """``CreateModel``: the published image by digest, its model data and environment.

    The name's hash covers the request, the data's sha256 (a republished archive under the
    same URI is another model) and the tags: each endpoint has models of its own, so the
    ones it no longer runs can be deleted without touching another endpoint's."""
    body: dict[str, Any] = {
        "ExecutionRoleArn": execution_role(settings),
        "PrimaryContainer": {"Image": release.image,
                             **container_data(release.model_data_url, release.model_data),
                             "Environment": container_env(model, variant)},
        "EnableNetworkIsolation": model.deploy.network_isolation,
    }
    identity = {"request": body, "data": release.model_data_sha256, "tags": resource_tags}
    name = resource_name(model.name, model.version, variant.name, _short_hash(identity))
    return {"ModelName": name, **body, "Tags": tags(resource_tags)}


def _production_variant(model: ModelConfig, variant: Variant, model_name: str) -> dict[str, Any]:
    d = model.deploy
    pv: dict[str, Any] = {"VariantName": resource_name(variant.name), "ModelName": model_name}
    if d.serverless is not None:
        config: dict[str, Any] = {"MemorySizeInMB": d.serverless.memory_mb,
                                  "MaxConcurrency": d.serverless.max_concurrency}
        if d.serverless.provisioned_concurrency is not None:
            config["ProvisionedConcurrency"] = d.serverless.provisioned_concurrency
        pv["ServerlessConfig"] = config
        return pv
    # The variant's own instance types: an arm64 (Graviton) variant's are Graviton ones.
    instance = d.instance_type or (variant.realtime_instance_types or ("ml.m5.large",))[0]
    pv.update({"InstanceType": instance, "InitialInstanceCount": d.instance_count,
               "InitialVariantWeight": 1.0})
    if d.startup_health_check_timeout_s is not None:
        pv["ContainerStartupHealthCheckTimeoutInSeconds"] = d.startup_health_check_timeout_s
    if d.model_data_download_timeout_s is not None:
        pv["ModelDataDownloadTimeoutInSeconds"] = d.model_data_download_timeout_s
    if variant.cuda is not None:
        pv["InferenceAmiVersion"] = variant.cuda.inference_ami.name
    return pv


def _data_capture(model: ModelConfig) -> dict[str, Any] | None:
    capture = model.deploy.data_capture
    if capture is None:
        return None
    config: dict[str, Any] = {
        "EnableCapture": True, "InitialSamplingPercentage": capture.sampling_percent,
        "DestinationS3Uri": capture.destination,
        "CaptureOptions": [{"CaptureMode": m} for m in capture.modes]}
    csv = [t for t in model.content_types + model.response_types if "csv" in t]
    js = [t for t in model.content_types + model.response_types if "json" in t]
    if csv or js:
        header: dict[str, Any] = {}
        if csv:
            header["CsvContentTypes"] = list(dict.fromkeys(csv))[:10]
        if js:
            header["JsonContentTypes"] = list(dict.fromkeys(js))[:10]
        config["CaptureContentTypeHeader"] = header
    if capture.kms_key_id:
        config["KmsKeyId"] = capture.kms_key_id
    return config


def _deployment_config(model: ModelConfig) -> dict[str, Any] | None:
    """Blue/green for updates of an instance endpoint, with rollback on the alarms."""
    d = model.deploy
    if d.serverless is not None:
        return None
    config: dict[str, Any] = {"BlueGreenUpdatePolicy": {
        "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE",
                                        "WaitIntervalInSeconds": d.traffic_wait_s},
        "TerminationWaitInSeconds": 0}}
    if d.rollback_alarms:
        config["AutoRollbackConfiguration"] = {
            "Alarms": [{"AlarmName": a} for a in d.rollback_alarms]}
    return config


def config_prefix(endpoint: str) -> str:
    """What every endpoint config name of ``endpoint`` starts with (before ``-<hash>``)."""
    return resource_name(endpoint, limit=MAX_NAME - 9)


def make_plan(settings: Settings, model: ModelConfig, variant: Variant,
              release: Release) -> DeployPlan:
    """The deploy of ``model``'s ``variant`` as ``release`` describes it."""
    d = model.deploy
    problems = []
    if d.serverless is not None and variant.gpu:
        problems.append(f"variants.{variant.name} is a GPU variant: serverless endpoints "
                        "have no GPUs (remove [deploy.serverless] or deploy a CPU variant)")
    if d.serverless is not None and d.data_capture is not None:
        problems.append("serverless endpoints do not support data capture: remove "
                        "[deploy.data_capture] or [deploy.serverless]")
    if d.serverless is not None and (d.startup_health_check_timeout_s is not None
                                     or d.model_data_download_timeout_s is not None):
        problems.append("the start-up and download timeouts apply to instance endpoints "
                        "only: remove them or [deploy.serverless]")
    if problems:
        raise DeployError(f"{model.config_file}: [deploy]: " + "; ".join(problems))
    endpoint = resource_name(d.endpoint_name or f"{model.name}-{variant.name}")
    resource_tags = {MANAGED_TAG: "true", "sagepack:model": model.name,
                     "sagepack:version": model.version, "sagepack:variant": variant.name,
                     ENDPOINT_TAG: endpoint}
    mreq = model_request(settings, model, variant, release, resource_tags)
    body: dict[str, Any] = {"ProductionVariants": [
        _production_variant(model, variant, mreq["ModelName"])]}
    capture = _data_capture(model)
    if capture is not None:
        body["DataCaptureConfig"] = capture
    config_name = config_prefix(endpoint) + "-" + _short_hash(body)
    creq = {"EndpointConfigName": config_name, **body, "Tags": tags(resource_tags)}
    return DeployPlan(model=model, variant=variant, release=release,
                      region=settings.project.region, endpoint_name=endpoint,
                      model_name=mreq["ModelName"], config_name=config_name,
                      model_request=mreq, config_request=creq,
                      deployment_config=_deployment_config(model), tags=resource_tags)
