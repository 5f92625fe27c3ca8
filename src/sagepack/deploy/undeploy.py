"""``undeploy``: delete an endpoint, its endpoint config and its models, and nothing else.

Every resource is checked before the first deletion: each must carry sagepack's
``sagepack:managed=true`` tag. One without it is refused by name, and then nothing at all
is deleted. The configs and models the endpoint ran before an update, when a deploy has
not deleted them yet (:mod:`~sagepack.deploy.superseded`), are deleted too.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console

from sagepack.deploy import superseded
from sagepack.deploy.endpoint import Step, describe, is_managed
from sagepack.deploy.plan import MANAGED_TAG
from sagepack.errors import DeployError


def undeploy(sm: Any, endpoint_name: str, console: Console) -> list[Step]:
    """Delete ``endpoint_name``, its config and the config's models (all sagepack's)."""
    endpoint = describe(sm.describe_endpoint, EndpointName=endpoint_name)
    if endpoint is None:
        console.print(f"no endpoint named {endpoint_name}: nothing to delete")
        return []
    found: list[tuple[str, str, str]] = [("endpoint", endpoint_name, endpoint["EndpointArn"])]
    config_name = str(endpoint.get("EndpointConfigName", ""))
    config = describe(sm.describe_endpoint_config, EndpointConfigName=config_name) \
        if config_name else None
    if config is not None:
        found.append(("endpoint config", config_name, config["EndpointConfigArn"]))
        for pv in config.get("ProductionVariants", []):
            model = describe(sm.describe_model, ModelName=pv["ModelName"])
            if model is not None and all((k, n) != ("model", pv["ModelName"])
                                         for k, n, _ in found):
                found.append(("model", pv["ModelName"], model["ModelArn"]))
    refused = [f"{kind} {name}" for kind, name, arn in found if not is_managed(sm, arn)]
    if refused:
        raise DeployError(f"refusing to undeploy {endpoint_name}: not created by sagepack "
                          f"(no {MANAGED_TAG}=true tag): {', '.join(refused)}; nothing was "
                          "deleted")
    models = {name for kind, name, _ in found if kind == "model"}
    older = superseded.find(sm, endpoint_name, current_config=config_name,
                            current_models=models)
    steps = []
    for kind, name, arn in found:
        if kind == "endpoint":
            sm.delete_endpoint(EndpointName=name)
        elif kind == "endpoint config":
            sm.delete_endpoint_config(EndpointConfigName=name)
        else:
            sm.delete_model(ModelName=name)
        console.print(f"delete {kind} {name}")
        steps.append(Step(kind, name, "deleted", arn))
    return steps + superseded.delete(sm, older, console, why="earlier")
