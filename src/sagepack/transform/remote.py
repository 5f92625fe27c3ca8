"""``invoke transform --remote``: the same job, run by SageMaker's batch transform fleet.

The job's flags are validated by :func:`sagepack.transform.params.resolve` (the one
validation of both modes) and mapped one to one onto ``CreateTransformJob``; only the
values the user gave are sent, so SageMaker applies the container's execution parameters
and its defaults as the local emulator does. The model is the SageMaker Model deploy
makes from ``publish.json`` (the image by digest, network isolation on). A local input is
uploaded under a prefix named by the hash of its files (each object verified, and skipped
when the same bytes are there); an ``s3://`` input is used as it is. Outputs are
downloaded to the output folder unless they are kept in S3.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from sagepack.config import UNCOMPRESSED, ModelConfig, Settings
from sagepack.deploy.endpoint import ensure_model
from sagepack.deploy.plan import make_plan, resource_name, tags
from sagepack.deploy.published import read_release
from sagepack.deploy.wait import follow
from sagepack.errors import DeployError
from sagepack.platforms import DEFAULT as DEFAULT_PLATFORM
from sagepack.publish.aws import aws_errors
from sagepack.publish.checksums import UploadSettings, digest_file, same_checksum
from sagepack.publish.progress import UploadProgress
from sagepack.publish.s3 import SHA256_METADATA, encryption_args, head
from sagepack.transform.job import list_inputs
from sagepack.transform.params import JobParameters, TransformJob, resolve

LOG_GROUP = "/aws/sagemaker/TransformJobs"


@dataclass(frozen=True)
class RemoteTarget:
    """Where and on what a remote job runs."""

    input: str  # a local file or folder, or an s3:// prefix
    instance_type: str | None = None  # default: [deploy] then transform_instance_types
    instance_count: int | None = None
    keep_in_s3: bool = False


@dataclass
class RemoteResult:
    job_name: str
    status: str
    input_uri: str
    output_uri: str
    uploaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    downloaded: list[Path] = field(default_factory=list)
    request: dict[str, Any] = field(default_factory=dict)


def split_s3(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://") or not uri[5:].split("/")[0]:
        raise DeployError(f"expected an s3://bucket/prefix URI, got {uri!r}")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def transform_request(params: JobParameters, *, name: str, model_name: str,
                      input_uri: str, output_uri: str, instance_type: str,
                      instance_count: int, ami: str | None, kms_key_id: str | None,
                      resource_tags: dict[str, str]) -> dict[str, Any]:
    """``CreateTransformJob`` from validated job parameters, flag for flag."""
    given = {k for k, v in params.sources.items() if v == "job"}
    request: dict[str, Any] = {
        "TransformJobName": name, "ModelName": model_name,
        "ModelClientConfig": {"InvocationsTimeoutInSeconds": params.timeout_s,
                              "InvocationsMaxRetries": params.retries},
        "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                           "S3Uri": input_uri}},
                           "CompressionType": params.compression,
                           "SplitType": params.split_type},
        "TransformOutput": {"S3OutputPath": output_uri,
                            "AssembleWith": params.assemble_with},
        "TransformResources": {"InstanceType": instance_type,
                               "InstanceCount": instance_count},
        "Tags": tags(resource_tags)}
    if "MaxConcurrentTransforms" in given:
        request["MaxConcurrentTransforms"] = params.max_concurrent
    if "MaxPayloadInMB" in given:
        request["MaxPayloadInMB"] = params.max_payload_mb
    if "BatchStrategy" in given:
        request["BatchStrategy"] = params.strategy
    if params.content_type:
        request["TransformInput"]["ContentType"] = params.content_type
    if params.accept:
        request["TransformOutput"]["Accept"] = params.accept
    if kms_key_id:
        request["TransformOutput"]["KmsKeyId"] = kms_key_id
    if ami:
        request["TransformResources"]["TransformAmiVersion"] = ami
    if params.processing:
        request["DataProcessing"] = {"InputFilter": params.input_filter.expression,
                                     "OutputFilter": params.output_filter.expression,
                                     "JoinSource": params.join_source}
    return request


def upload_inputs(s3: Any, root: Path, bucket: str, prefix: str, *,
                  kms_key_id: str | None, console: Console,
                  settings: UploadSettings | None = None) -> tuple[str, list[str], list[str]]:
    """Upload the files under ``root`` to ``s3://bucket/prefix/<hash>/``; returns the URI and
    the keys uploaded and skipped (already holding the same bytes)."""
    from boto3.s3.transfer import TransferConfig

    settings = settings or UploadSettings()
    files = list_inputs(root)
    if not files:
        raise DeployError(f"input {root} holds no files")
    digests = {rel: digest_file(path, settings) for path, rel in files}
    content = hashlib.sha256(json.dumps(sorted((r, d.sha256) for r, d in digests.items()))
                             .encode()).hexdigest()[:16]
    base = f"{prefix.strip('/')}/{content}" if prefix.strip("/") else content
    config = TransferConfig(multipart_threshold=settings.multipart_threshold,
                            multipart_chunksize=settings.part_size,
                            max_concurrency=settings.concurrency, use_threads=True)
    uploaded, skipped = [], []
    for path, rel in files:
        digest, key = digests[rel], f"{base}/{rel}"
        stored = head(s3, bucket, key)
        if stored is not None and stored.holds(digest):
            skipped.append(key)
            continue
        extra = {"ChecksumAlgorithm": "SHA256", "Metadata": {SHA256_METADATA: digest.sha256},
                 **encryption_args(kms_key_id)}
        with UploadProgress(console, f"upload {rel}", digest.size) as bar:
            s3.upload_file(str(path), bucket, key, ExtraArgs=extra, Config=config,
                           Callback=bar)
        stored = head(s3, bucket, key)
        if stored is None or stored.sha256 != digest.sha256 or \
                not same_checksum(digest.s3_checksum, stored.checksum):
            raise DeployError(f"s3://{bucket}/{key} does not hold {path} after uploading it")
        uploaded.append(key)
    console.print(f"input s3://{bucket}/{base}/: {len(uploaded)} uploaded, {len(skipped)} "
                  "already there (verified)")
    return f"s3://{bucket}/{base}/", uploaded, skipped


def download_outputs(s3: Any, output_uri: str, output: Path, expected: list[str],
                     console: Console) -> list[Path]:
    """Download every object under ``output_uri`` into ``output``; each expected
    ``<input>.out`` must be there."""
    bucket, prefix = split_s3(output_uri)
    prefix = prefix.rstrip("/") + "/" if prefix.strip("/") else ""
    keys = [obj["Key"] for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=prefix) for obj in page.get("Contents", [])]
    missing = sorted(set(expected) - {k[len(prefix):] for k in keys})
    if missing:
        raise DeployError(f"the job finished but {output_uri} lacks {len(missing)} of "
                          f"{len(expected)} outputs: {', '.join(missing[:5])}")
    written = []
    for key in keys:
        target = output / key[len(prefix):]
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        s3.download_file(bucket, key, str(partial))
        partial.replace(target)
        written.append(target)
    console.print(f"downloaded {len(written)} output(s) from {output_uri} to {output}")
    return written


def run_remote(settings: Settings, model: ModelConfig, variant_name: str, job: TransformJob,
               target: RemoteTarget, *, console: Console | None = None,
               session: Any | None = None) -> RemoteResult:
    """Run ``job`` as a SageMaker transform job of ``model``'s published ``variant``."""
    import boto3

    if console is None:
        from sagepack.progress import console as default_console

        console = default_console()
    params = resolve(job, None, local=False)
    if model.model_data == UNCOMPRESSED:
        raise DeployError(f"{model.config_file}: model_data = 'uncompressed': SageMaker's batch "
                          "transform does not run a model whose data is a ModelDataSource "
                          "(CreateTransformJob refuses it); run the job locally (invoke "
                          "transform without --remote), or publish the model compressed")
    remote_input = target.input.startswith("s3://")
    if not remote_input and not Path(target.input).exists():
        raise DeployError(f"input {target.input} does not exist")
    if not target.keep_in_s3 and job.output.exists() and not job.output.is_dir():
        raise DeployError(f"output {job.output} exists and is not a folder")
    variant = model.variant(variant_name)
    if variant.platform is not DEFAULT_PLATFORM:
        raise DeployError(f"{model.config_file}: variants.{variant.name} is "
                          f"{variant.platform.docker}: SageMaker's batch transform has no {variant.platform.instances} "
                          "instances; run the job locally (invoke transform without "
                          "--remote), or with an amd64 variant")
    plan = make_plan(settings, model, variant, read_release(settings, model, variant))
    d = model.deploy
    instance = target.instance_type or d.transform_instance_type or \
        (variant.transform_instance_types or ("ml.m5.large",))[0]
    count = target.instance_count or d.transform_instance_count
    project = settings.project
    base = "/".join(p for p in (project.s3_prefix, model.name, model.version, "transform")
                    if p)
    name = resource_name(model.name, variant.name, time.strftime("%Y%m%d-%H%M%S"))
    session = session or boto3.Session(region_name=project.region)
    sm = session.client("sagemaker", region_name=project.region)
    s3 = session.client("s3", region_name=project.region)
    with aws_errors(DeployError):
        uploaded: list[str] = []
        skipped: list[str] = []
        if remote_input:
            input_uri = target.input
        else:
            input_uri, uploaded, skipped = upload_inputs(
                s3, Path(target.input), project.s3_bucket, f"{base}/input",
                kms_key_id=project.kms_key_id, console=console)
        output_uri = f"s3://{project.s3_bucket}/{base}/output/{name}/"
        ensure_model(sm, plan, console)
        request = transform_request(
            params, name=name, model_name=plan.model_name, input_uri=input_uri,
            output_uri=output_uri, instance_type=instance, instance_count=count,
            ami=variant.cuda.transform_ami.name if variant.cuda else None,
            kms_key_id=project.kms_key_id, resource_tags=plan.tags)
        sm.create_transform_job(**request)
        console.print(f"transform job {name} on {count} x {instance}: {input_uri} -> "
                      f"{output_uri}")
        def describe() -> dict[str, Any]:
            return dict(sm.describe_transform_job(TransformJobName=name))

        settled = follow(describe,
                         what=f"transform job {name}", status_key="TransformJobStatus",
                         done=("Completed",), failed=("Failed", "Stopped"),
                         timeout_s=d.wait_timeout_s * 24, interval_s=d.poll_interval_s,
                         console=console)
        result = RemoteResult(job_name=name, status=settled.status, input_uri=input_uri,
                              output_uri=output_uri, uploaded=uploaded, skipped=skipped,
                              request=request)
        if settled.status != "Completed":
            reason = settled.description.get("FailureReason") or "no FailureReason given"
            raise DeployError(f"transform job {name} is {settled.status}: {reason}; the "
                              f"container's log is in CloudWatch log group {LOG_GROUP} "
                              f"(stream {name}/...)")
        if not target.keep_in_s3:
            expected = [f"{rel}.out" for _, rel in list_inputs(Path(target.input))] \
                if not remote_input else []
            result.downloaded = download_outputs(s3, output_uri, job.output, expected,
                                                 console)
        else:
            console.print(f"outputs kept in {output_uri}")
    return result
