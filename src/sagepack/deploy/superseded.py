"""What an endpoint no longer runs: the endpoint configs and models earlier deploys made.

An update moves the endpoint to a new endpoint config (and model); the ones it ran before
stay in SageMaker until deleted. They are found by their tags, never by name alone: an
endpoint config whose name starts with the endpoint's and that carries
``sagepack:managed=true`` and ``sagepack:endpoint=<endpoint>``, other than the current
one, and the models of such configs with the same two tags that the current config does
not use. A resource without those tags is never deleted.

Deploy deletes them once the update is confirmed (the endpoint ``InService`` on the new
config and no sample failed): until then they are what a rollback returns to.
``undeploy`` deletes them with the rest.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console

from sagepack.deploy.endpoint import Step, describe, resource_tags
from sagepack.deploy.plan import ENDPOINT_TAG, MANAGED_TAG, config_prefix


@dataclass(frozen=True)
class Found:
    kind: str  # "endpoint config" or "model"
    name: str
    arn: str


def _ours(sm: Any, arn: str, endpoint: str) -> bool:
    tags = resource_tags(sm, arn)
    return tags.get(MANAGED_TAG) == "true" and tags.get(ENDPOINT_TAG) == endpoint


def find(sm: Any, endpoint: str, *, current_config: str,
         current_models: Collection[str]) -> list[Found]:
    """``endpoint``'s superseded configs, then their models (those not in use)."""
    prefix = config_prefix(endpoint)
    configs: list[Found] = []
    models: list[str] = []
    pages = sm.get_paginator("list_endpoint_configs").paginate(NameContains=prefix)
    for page in pages:
        for summary in page.get("EndpointConfigs", []):
            name = str(summary["EndpointConfigName"])
            if name == current_config or not name.startswith(f"{prefix}-"):
                continue
            if not _ours(sm, str(summary["EndpointConfigArn"]), endpoint):
                continue
            configs.append(Found("endpoint config", name, str(summary["EndpointConfigArn"])))
            described = describe(sm.describe_endpoint_config, EndpointConfigName=name) or {}
            models += [str(pv["ModelName"]) for pv in described.get("ProductionVariants", [])]
    found = list(configs)
    for name in dict.fromkeys(models):
        if name in current_models:
            continue
        model = describe(sm.describe_model, ModelName=name)
        if model is not None and _ours(sm, str(model["ModelArn"]), endpoint):
            found.append(Found("model", name, str(model["ModelArn"])))
    return found


def current(sm: Any, config_name: str) -> set[str]:
    """The models ``config_name`` runs."""
    described = describe(sm.describe_endpoint_config, EndpointConfigName=config_name) or {}
    return {str(pv["ModelName"]) for pv in described.get("ProductionVariants", [])}


def delete(sm: Any, found: Sequence[Found], console: Console, *,
           why: str = "superseded") -> list[Step]:
    """Delete ``found`` (configs first: a model is deleted once no config names it)."""
    from botocore.exceptions import ClientError

    steps = []
    for item in sorted(found, key=lambda f: f.kind != "endpoint config"):
        try:
            if item.kind == "endpoint config":
                sm.delete_endpoint_config(EndpointConfigName=item.name)
            else:
                sm.delete_model(ModelName=item.name)
        except ClientError as exc:
            if "could not find" not in str(exc).lower():
                raise
            continue  # gone already (another run deleted it)
        console.print(f"delete {why} {item.kind} {item.name}")
        steps.append(Step(item.kind, item.name, "deleted", item.arn))
    return steps
