"""SageMaker model packages: a variant's image (by digest) with its model's archive (or,
with uncompressed model data, the files' prefix as ``ModelDataSource``).

Without ``model_package_group`` a package is unversioned (what AWS Marketplace lists)
and named ``<model>-<version>-<variant>``; with one, each publish that changes the image
or archive adds a version to the group. A package that already names the same image
digest and archive is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sagepack.config import ValidationTransform
from sagepack.errors import PublishError
from sagepack.model_data import container_data, container_data_uri
from sagepack.publish.plan import PackageTarget
from sagepack.publish.s3 import put_small

PROFILE_NAME = "validation"


@dataclass(frozen=True)
class PackageResult:
    model: str
    variant: str
    name: str
    arn: str
    action: str  # "created", "skipped" or "replaced"


def validated(target: PackageTarget) -> bool:
    """Whether the package gets a validation profile: the model has a ``[validation]``
    transform and the variant has transform instance types (Graviton variants have none:
    SageMaker's batch transform has no Graviton instances)."""
    variant = target.model.variant(target.variant)
    return target.model.validation is not None and bool(variant.transform_instance_types)


def upload_validation_input(s3: Any, target: PackageTarget, bucket: str,
                            kms_key_id: str | None) -> str | None:
    """Upload the validation transform's input files; return their S3 prefix URI."""
    validation = target.model.validation
    if validation is None or not validated(target):
        return None
    source = validation.input
    files = validation_files(validation)
    if not files:
        raise PublishError(f"{target.model.config_file}: validation.input {source} has no files")
    prefix = f"{target.validation_prefix}/input"
    for path in files:
        rel = path.name if source.is_file() else path.relative_to(source).as_posix()
        put_small(s3, path, bucket, f"{prefix}/{rel}", kms_key_id=kms_key_id)
    return f"s3://{bucket}/{prefix}/"


def _validation_spec(validation: ValidationTransform, input_uri: str, output_uri: str,
                     role_arn: str, transform_ami: str | None = None) -> dict[str, Any]:
    resources: dict[str, Any] = {"InstanceType": validation.instance_type, "InstanceCount": 1}
    if transform_ami:  # a GPU variant: the host whose driver runs its CUDA runtime
        resources["TransformAmiVersion"] = transform_ami
    return {
        "ValidationRole": role_arn,
        "ValidationProfiles": [{
            "ProfileName": PROFILE_NAME,
            "TransformJobDefinition": {
                "MaxConcurrentTransforms": 1,
                "MaxPayloadInMB": validation.max_payload_mb,
                "BatchStrategy": validation.strategy,
                "TransformInput": {
                    "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                    "S3Uri": input_uri}},
                    "ContentType": validation.content_type,
                    "CompressionType": "None",
                    "SplitType": validation.split_type,
                },
                "TransformOutput": {
                    "S3OutputPath": output_uri,
                    "Accept": validation.accept,
                    "AssembleWith": validation.assemble_with,
                },
                "TransformResources": resources,
            },
        }],
    }


def package_request(target: PackageTarget, *, image: str, model_data_url: str,
                    validation_input: str | None, bucket: str,
                    role_arn: str | None) -> dict[str, Any]:
    """The ``CreateModelPackage`` request for ``target``: the variant's instance types (an
    arm64 variant lists Graviton ones, and no transform types)."""
    model = target.model
    variant = model.variant(target.variant)
    inference: dict[str, Any] = {
        "Containers": [{"Image": image, **container_data(model_data_url, model.model_data)}],
        "SupportedContentTypes": list(model.content_types),
        "SupportedResponseMIMETypes": list(model.response_types),
        "SupportedRealtimeInferenceInstanceTypes": list(variant.realtime_instance_types),
    }
    if variant.transform_instance_types:
        inference["SupportedTransformInstanceTypes"] = list(variant.transform_instance_types)
    request: dict[str, Any] = {
        "ModelPackageDescription": (model.description or
                                    f"{model.name} {model.version} ({target.variant})")[:1000],
        "InferenceSpecification": inference,
    }
    if target.group:
        request["ModelPackageGroupName"] = target.group
        request["ModelApprovalStatus"] = "PendingManualApproval"
    else:
        request["ModelPackageName"] = target.name
        request["CertifyForMarketplace"] = True
    if model.validation is not None and validation_input is not None and validated(target):
        if not role_arn:
            raise PublishError(f"{model.config_file}: [validation] needs a SageMaker "
                               "validation role ARN to create the model package")
        output = f"s3://{bucket}/{target.validation_prefix}/output/"
        cuda = variant.cuda
        request["ValidationSpecification"] = _validation_spec(
            model.validation, validation_input, output, role_arn,
            cuda.transform_ami.name if cuda is not None else None)
    return request


def _container(described: dict[str, Any]) -> tuple[str | None, str | None]:
    containers = described.get("InferenceSpecification", {}).get("Containers", [])
    if not containers:
        return None, None
    return containers[0].get("Image"), container_data_uri(containers[0])


def _describe(sm: Any, name: str) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    try:
        return dict(sm.describe_model_package(ModelPackageName=name))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("ValidationException",
                                                          "ResourceNotFound"):
            return None
        raise


def _ensure_group(sm: Any, group: str, description: str) -> None:
    from botocore.exceptions import ClientError

    try:
        sm.describe_model_package_group(ModelPackageGroupName=group)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("ValidationException",
                                                              "ResourceNotFound"):
            raise
        sm.create_model_package_group(ModelPackageGroupName=group,
                                      ModelPackageGroupDescription=description[:1000])


def ensure_package(sm: Any, target: PackageTarget, request: dict[str, Any], *,
                   force: bool) -> PackageResult:
    """Create the package unless one with the same image and archive exists."""
    from botocore.exceptions import BotoCoreError, ClientError

    image, data_url = _container(request)
    base = {"model": target.model.name, "variant": target.variant}
    try:
        if target.group:
            _ensure_group(sm, target.group, request["ModelPackageDescription"])
            pages = sm.get_paginator("list_model_packages").paginate(
                ModelPackageGroupName=target.group)
            for page in pages:
                for summary in page.get("ModelPackageSummaryList", []):
                    arn = summary["ModelPackageArn"]
                    described = _describe(sm, arn) or {}
                    if _container(described) == (image, data_url):
                        return PackageResult(**base, name=target.group, arn=arn,
                                             action="skipped")
            arn = sm.create_model_package(**request)["ModelPackageArn"]
            return PackageResult(**base, name=target.group, arn=arn, action="created")

        existing = _describe(sm, target.name)
        action = "created"
        if existing is not None:
            if _container(existing) == (image, data_url):
                return PackageResult(**base, name=target.name,
                                     arn=existing["ModelPackageArn"], action="skipped")
            if not force:
                old_image, old_data = _container(existing)
                raise PublishError(
                    f"model package {target.name} exists with image {old_image} and "
                    f"archive {old_data}, not {image} and {data_url}; "
                    "re-run with --force to replace it")
            sm.delete_model_package(ModelPackageName=target.name)
            action = "replaced"
        arn = sm.create_model_package(**request)["ModelPackageArn"]
        return PackageResult(**base, name=target.name, arn=arn, action=action)
    except (ClientError, BotoCoreError) as exc:
        raise PublishError(f"model package {target.group or target.name}: {exc}") from exc


def validation_files(validation: ValidationTransform) -> list[Path]:
    src = validation.input
    return [src] if src.is_file() else sorted(p for p in src.rglob("*") if p.is_file())
