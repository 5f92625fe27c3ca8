"""AWS clients from boto3's standard credential chain, and the checks made before any
upload: who we are, and that ECR, S3 and SageMaker are all in the configured region."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sagepack.errors import PublishError, SagepackError
from sagepack.publish.ecr import RegistryAuth
from sagepack.publish.plan import ECR_HOST, PublishPlan

KMS_ARN = re.compile(r"^arn:aws[a-z-]*:kms:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):")


@dataclass(frozen=True)
class AwsClients:
    region: str
    sts: Any
    ecr: Any
    s3: Any
    sagemaker: Any


def make_clients(region: str, session: Any | None = None) -> AwsClients:
    """Clients in ``region``; credentials and endpoints come from boto3's standard chain
    (environment, shared config, SSO, web identity, instance roles)."""
    import boto3
    from botocore.config import Config

    session = session or boto3.Session(region_name=region)
    config = Config(user_agent_extra="sagepack-publish")

    return AwsClients(region=region,
                      sts=session.client("sts", region_name=region, config=config),
                      ecr=session.client("ecr", region_name=region, config=config),
                      s3=session.client("s3", region_name=region, config=config),
                      sagemaker=session.client("sagemaker", region_name=region, config=config))


def caller_account(clients: AwsClients, expected: str | None) -> str:
    """The account the credentials belong to; refused when it is not the configured one."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        identity = clients.sts.get_caller_identity()
    except (ClientError, BotoCoreError) as exc:
        raise PublishError(f"no usable AWS credentials (sts:GetCallerIdentity failed: "
                           f"{exc})") from exc
    account = str(identity["Account"])
    if expected and expected != account:
        raise PublishError(f"the AWS credentials are for account {account}, but the "
                           f"configuration names account {expected} "
                           "(tool.sagepack.account_id / SAGEPACK_ACCOUNT_ID)")
    return account


def region_problems(plan: PublishPlan, clients: AwsClients, *, account: str,
                    registry: str, auth: RegistryAuth, bucket_region: str) -> list[str]:
    """Every way ECR, S3, KMS or SageMaker would end up outside ``plan.region``."""
    want = plan.region
    problems: list[str] = []
    for name in ("ecr", "s3", "sagemaker"):
        got = getattr(clients, name).meta.region_name
        if got != want:
            problems.append(f"the {name} client is in region {got}, not {want}")
    if bucket_region != want:
        problems.append(f"S3 bucket {plan.bucket} is in region {bucket_region}, not {want}")
    for label, host in (("registry", registry), ("ECR's registry endpoint", auth.proxy_host)):
        match = ECR_HOST.match(host)
        if match and match["region"] != want:
            problems.append(f"{label} {host} is in region {match['region']}, not {want}")
        if match and match["account"] != account:
            problems.append(f"{label} {host} belongs to account {match['account']}, not "
                            f"the credentials' account {account}")
    if plan.kms_key_id:
        match = KMS_ARN.match(plan.kms_key_id)
        if match and match["region"] != want:
            problems.append(f"KMS key {plan.kms_key_id} is in region {match['region']}, "
                            f"not {want}")
    return problems


def refuse(title: str, problems: Sequence[str]) -> None:
    if problems:
        raise PublishError(f"{title}:\n  " + "\n  ".join(problems))


@contextlib.contextmanager
def aws_errors(error: type[SagepackError] = PublishError) -> Iterator[None]:
    """An AWS error that no step turned into a sagepack error still names the call, as
    ``error`` (publish's, deploy's)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        details = exc.response.get("Error", {})
        raise error(f"AWS refused {exc.operation_name}: {details.get('Code', '?')}: "
                    f"{details.get('Message', exc)}") from exc
    except BotoCoreError as exc:
        raise error(f"AWS call failed: {exc}") from exc
