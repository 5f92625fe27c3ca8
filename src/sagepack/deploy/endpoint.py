"""Creating the model, the endpoint config and the endpoint a plan names.

Each resource is looked up first: one that exists under the planned name holds what the
plan holds (its name carries the hash of its content), so it is kept. An endpoint on
another config is updated to the planned one (blue/green, rolling back on the configured
alarms). A resource of that name that sagepack did not create (no ``sagepack:managed``
tag) is refused by name, never changed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import Console

from sagepack.deploy.plan import MANAGED_TAG, DeployPlan
from sagepack.errors import DeployError

BUSY = ("Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting")


@dataclass(frozen=True)
class Step:
    kind: str  # "model", "endpoint config", "endpoint"
    name: str
    action: str  # "created", "kept", "updated"
    arn: str


def describe(call: Callable[..., dict[str, Any]], **kwargs: Any) -> dict[str, Any] | None:
    """``call(**kwargs)``, or ``None`` when SageMaker says there is no such resource."""
    from botocore.exceptions import ClientError

    try:
        return call(**kwargs)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") == "ValidationException" and \
                "could not find" in str(error.get("Message", "")).lower():
            return None
        raise


def resource_tags(sm: Any, arn: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for page in sm.get_paginator("list_tags").paginate(ResourceArn=arn):
        out.update({t["Key"]: t["Value"] for t in page.get("Tags", [])})
    return out


def is_managed(sm: Any, arn: str) -> bool:
    return resource_tags(sm, arn).get(MANAGED_TAG) == "true"


def refuse_unmanaged(sm: Any, kind: str, name: str, arn: str) -> None:
    if not is_managed(sm, arn):
        raise DeployError(f"SageMaker {kind} {name} exists but was not created by sagepack "
                          f"(no {MANAGED_TAG}=true tag): refusing to use or change it; "
                          "pick another name ([deploy] endpoint_name) or remove it yourself")


def ensure_model(sm: Any, plan: DeployPlan, console: Console) -> Step:
    found = describe(sm.describe_model, ModelName=plan.model_name)
    if found is not None:
        refuse_unmanaged(sm, "model", plan.model_name, found["ModelArn"])
        console.print(f"keep   model {plan.model_name} (same image, data and settings)")
        return Step("model", plan.model_name, "kept", found["ModelArn"])
    arn = sm.create_model(**plan.model_request)["ModelArn"]
    console.print(f"create model {plan.model_name} ({plan.release.image})")
    return Step("model", plan.model_name, "created", arn)


def _ensure_config(sm: Any, plan: DeployPlan, console: Console) -> Step:
    found = describe(sm.describe_endpoint_config, EndpointConfigName=plan.config_name)
    if found is not None:
        refuse_unmanaged(sm, "endpoint config", plan.config_name, found["EndpointConfigArn"])
        console.print(f"keep   endpoint config {plan.config_name}")
        return Step("endpoint config", plan.config_name, "kept", found["EndpointConfigArn"])
    arn = sm.create_endpoint_config(**plan.config_request)["EndpointConfigArn"]
    console.print(f"create endpoint config {plan.config_name}")
    return Step("endpoint config", plan.config_name, "created", arn)


def _ensure_endpoint(sm: Any, plan: DeployPlan, console: Console) -> Step:
    name = plan.endpoint_name
    found = describe(sm.describe_endpoint, EndpointName=name)
    if found is None:
        arn = sm.create_endpoint(**plan.endpoint_request())["EndpointArn"]
        console.print(f"create endpoint {name}")
        return Step("endpoint", name, "created", arn)
    arn = found["EndpointArn"]
    refuse_unmanaged(sm, "endpoint", name, arn)
    status = found.get("EndpointStatus")
    if status == "Failed":
        reason = found.get("FailureReason") or "no FailureReason given"
        raise DeployError(f"endpoint {name} is Failed ({reason}); a failed endpoint cannot "
                          "be updated: run invoke undeploy, then deploy again")
    if found.get("EndpointConfigName") == plan.config_name:
        console.print(f"keep   endpoint {name} (already on {plan.config_name}, {status})")
        return Step("endpoint", name, "kept", arn)
    if status in BUSY:
        raise DeployError(f"endpoint {name} is {status}: wait until it is InService before "
                          "updating it (invoke deploy --wait)")
    sm.update_endpoint(**plan.update_request())
    how = "blue/green" if plan.deployment_config else "in place (serverless)"
    console.print(f"update endpoint {name}: {found.get('EndpointConfigName')} -> "
                  f"{plan.config_name} ({how})")
    return Step("endpoint", name, "updated", arn)


def apply(sm: Any, plan: DeployPlan, console: Console) -> list[Step]:
    """Create or update what ``plan`` names; each step says what it did."""
    return [ensure_model(sm, plan, console), _ensure_config(sm, plan, console),
            _ensure_endpoint(sm, plan, console)]
