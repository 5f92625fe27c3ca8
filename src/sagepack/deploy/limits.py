"""SageMaker's size limits, checked before anything is created.

A serverless endpoint runs images of at most 10 GB and takes request and response payloads
of at most 4 MB; an instance endpoint takes 6 MB through ``InvokeEndpoint``. The image's
size comes from the local engine, where the published image id must be present: a size
that cannot be measured is a refusal, never a pass.
"""

from __future__ import annotations

from typing import Any

from sagepack.deploy.plan import DeployPlan
from sagepack.errors import DeployError

MB = 1024 * 1024
GB = 1024 * MB
SERVERLESS_IMAGE_BYTES = 10 * GB
SERVERLESS_PAYLOAD_BYTES = 4 * MB
REALTIME_PAYLOAD_BYTES = 6 * MB


def image_size(docker: Any, image_id: str) -> int | None:
    """The uncompressed size of the local image ``image_id``, or ``None`` when it is not
    in the engine."""
    from docker.errors import ImageNotFound

    try:
        return int(docker.images.get(image_id).attrs["Size"])
    except ImageNotFound:
        return None


def payload_limit(plan: DeployPlan) -> int:
    return SERVERLESS_PAYLOAD_BYTES if plan.serverless else REALTIME_PAYLOAD_BYTES


def check_limits(plan: DeployPlan, docker: Any | None) -> list[str]:
    """What the plan's endpoint could not run or answer; raises when one is found."""
    problems: list[str] = []
    notes: list[str] = []
    limit = payload_limit(plan)
    kind = "serverless" if plan.serverless else "real-time"
    for sample in plan.model.samples:
        size = sample.body.stat().st_size
        if size > limit:
            problems.append(f"sample {sample.name} ({sample.body}) is {size} bytes, over the "
                            f"{limit // MB} MB payload limit of a {kind} endpoint")
        expected = sample.expected.stat().st_size if sample.expected is not None else 0
        if expected > limit:
            problems.append(f"sample {sample.name}'s expected response ({sample.expected}) is "
                            f"{expected} bytes, over the {limit // MB} MB payload limit of a "
                            f"{kind} endpoint")
    if plan.serverless:
        measured = image_size(docker, plan.release.image_id) if docker is not None else None
        if measured is None:
            problems.append(f"cannot check the 10 GB image limit of serverless endpoints: the "
                            f"published image {plan.release.image_id or '(no id recorded)'} "
                            "is not in the local Docker engine (run: invoke build)")
        elif measured > SERVERLESS_IMAGE_BYTES:
            problems.append(f"image {plan.release.image} is {measured / GB:.1f} GB, over the "
                            "10 GB limit of serverless endpoints")
        else:
            notes.append(f"image size {measured / MB:.0f} MB (serverless limit 10 GB)")
    if problems:
        raise DeployError(f"cannot deploy {plan.endpoint_name}:\n  " + "\n  ".join(problems))
    return notes
