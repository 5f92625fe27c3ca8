"""``publish``: plan, check everything remote, then push, upload and register.

Every refusal (wrong account or region, a tag or object holding something else) happens
before the first byte is sent. Each step first looks at what is already there, so a
re-run after a failure finishes what is missing and skips what is done.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console

from sagepack.config import ModelConfig, Settings
from sagepack.errors import PublishError
from sagepack.images.tags import version_tag
from sagepack.publish import ecr, index, model_package, s3, s3_files, scan, validation
from sagepack.publish.aws import (
    AwsClients,
    aws_errors,
    caller_account,
    make_clients,
    refuse,
    region_problems,
)
from sagepack.publish.checksums import UploadSettings
from sagepack.publish.model_package import PackageResult
from sagepack.publish.plan import (
    ArchiveTarget,
    ImageTarget,
    PackageTarget,
    PublishPlan,
    make_plan,
)
from sagepack.publish.progress import PushProgress
from sagepack.publish.report import (
    ArchiveResult,
    ImageResult,
    PublishReport,
    print_findings,
    print_plan,
    print_report,
)


@dataclass(frozen=True)
class ImageStep:
    target: ImageTarget
    remote: ecr.RemoteManifest | None
    action: str  # "push", "skip" or "replace"


@dataclass(frozen=True)
class ArchiveStep:
    target: ArchiveTarget
    remote: s3.RemoteObject | None
    action: str  # "upload", "skip" or "replace"


def _image_steps(api: ecr.RegistryApi, targets: Sequence[ImageTarget], *, force: bool,
                 conflicts: list[str]) -> list[ImageStep]:
    steps = []
    for target in targets:
        remote = api.manifest(target.repository, target.tag)
        if remote is None:
            action = "push"
        elif remote.config_digest == target.image_id:
            action = "skip"
        elif force:
            action = "replace"
        else:
            action = "refuse"
            conflicts.append(
                f"{api.host}/{target.repository}:{target.tag} already holds manifest "
                f"{remote.digest} (image {remote.config_digest or 'unknown'}), but the local "
                f"{target.local_ref} is image {target.image_id}; re-run with --force to "
                "replace the tag")
        steps.append(ImageStep(target, remote, action))
    return steps


def _archive_steps(client: Any, targets: Sequence[ArchiveTarget], *, force: bool,
                   conflicts: list[str]) -> list[ArchiveStep]:
    steps = []
    for target in targets:
        remote = s3.head(client, target.bucket, target.key)
        if remote is None:
            action = "upload"
        elif remote.holds(target.digest):
            action = "skip"
        elif force:
            action = "replace"
        else:
            action = "refuse"
            conflicts.append(
                f"{target.s3_uri} already holds another object ({remote.describe()}); the "
                f"local {target.path} has sha256 {target.digest.sha256}, {target.digest.size} "
                "bytes; re-run with --force to replace it")
        steps.append(ArchiveStep(target, remote, action))
    return steps


def _package_conflicts(clients: AwsClients, packages: Sequence[PackageTarget],
                       image_steps: Sequence[ImageStep], unchanged_data: set[str],
                       registry: str, conflicts: list[str]) -> None:
    """An unversioned package that exists with another image or archive (before --force)."""
    from botocore.exceptions import ClientError

    for target in packages:
        if target.group:
            continue
        try:
            existing = clients.sagemaker.describe_model_package(ModelPackageName=target.name)
        except ClientError:
            continue
        containers = existing.get("InferenceSpecification", {}).get("Containers", [{}])
        image = containers[0].get("Image") if containers else None
        step = next((s for s in image_steps if s.target.model == target.model.name
                     and s.target.variant == target.variant), None)
        expected = None
        if step is not None and step.action == "skip" and step.remote is not None:
            expected = f"{registry}/{step.target.repository}@{step.remote.digest}"
        if expected != image or target.model.name not in unchanged_data:
            conflicts.append(f"model package {target.name} already exists with image {image}; "
                             "re-run with --force to replace it")


@dataclass(frozen=True)
class Gates:
    """How a publish waits for and judges ECR's scans and SageMaker's validation."""

    allow_vulnerable: bool = False
    wait: bool = False
    scan_interval_s: float = scan.POLL_INTERVAL_S
    package_interval_s: float = validation.POLL_INTERVAL_S


def publish(settings: Settings, models: Sequence[ModelConfig],
            variants: Sequence[str] | None = None, *, dry_run: bool = False,
            force: bool = False, console: Console | None = None, session: Any | None = None,
            docker_client: Any | None = None, upload: UploadSettings | None = None,
            validation_role_arn: str | None = None,
            gates: Gates | None = None) -> PublishReport:
    """Publish ``models`` (their ``variants``, all when ``None``) to ECR, S3 and SageMaker.

    Prints the plan first; with ``dry_run`` it stops there, having touched nothing remote.
    Refuses, before uploading anything, a wrong account or region and any tag or object
    that holds something else (unless ``force``). After pushing, waits for ECR's scan of
    each digest and creates no model package for an image that fails the vulnerability
    gate (unless ``gates.allow_vulnerable``); with ``gates.wait`` follows each package to
    SageMaker's verdict. Writes ``dist/<model>/publish.json``, then raises for a failed
    gate or validation.
    """
    gates = gates or Gates()
    if console is None:
        from sagepack.progress import console as default_console

        console = default_console()
    upload = upload or UploadSettings()
    if docker_client is None:
        from sagepack.images.docker_client import docker_client as make_docker_client

        docker_client = make_docker_client()
    docker = docker_client
    plan = make_plan(settings, models, variants, docker, upload)
    validation_role_arn = validation_role_arn or getattr(settings.project,
                                                         "validation_role_arn", None)
    needs_role = [p.name for p in plan.packages if model_package.validated(p)]
    if needs_role and not validation_role_arn:
        raise PublishError(f"model packages {', '.join(needs_role)} have a validation "
                           "transform, which needs a SageMaker validation role ARN "
                           "(an IAM role SageMaker assumes to run it); none is configured")
    print_plan(console, plan, force=force)
    report = PublishReport(plan=plan, dry_run=dry_run, account_id=plan.account_id,
                           registry=plan.registry)
    if dry_run:
        console.print("dry run: nothing was pushed, uploaded or created")
        return report

    with aws_errors():
        _publish(settings, plan, report, models, force=force, console=console,
                 session=session, docker=docker, upload=upload,
                 validation_role_arn=validation_role_arn, gates=gates)
    return report




def _publish(settings: Settings, plan: PublishPlan, report: PublishReport,
             models: Sequence[ModelConfig], *, force: bool, console: Console,
             session: Any | None, docker: Any, upload: UploadSettings,
             validation_role_arn: str | None, gates: Gates) -> None:
    # --- checks: nothing is sent before all of them pass ------------------------------
    clients = make_clients(plan.region, session)
    account = caller_account(clients, plan.account_id)
    auth = ecr.authorization(clients.ecr, account)
    registry = settings.project.registry or auth.proxy_host
    report.account_id, report.registry = account, registry
    problems = region_problems(plan, clients, account=account, registry=registry, auth=auth,
                               bucket_region=s3.bucket_region(clients.s3, plan.bucket))
    refuse(f"refusing to publish to region {plan.region}", problems)

    repositories = {}
    for name in plan.repositories:
        repo = ecr.ensure_repository(clients.ecr, name, account_id=account,
                                     tag_mutability=plan.tag_mutability,
                                     kms_key_id=plan.kms_key_id)
        repositories[name] = repo
        if repo.created:
            console.print(f"created ECR repository {name} (scan on push, tags "
                          f"{repo.tag_mutability.lower()})")
        elif repo.tag_mutability != plan.tag_mutability:
            console.print(f"note: ECR repository {name} has {repo.tag_mutability.lower()} "
                          f"tags, not the configured {plan.tag_mutability.lower()} "
                          "(left as it is)")
    ecr.login(docker, registry, auth)
    api = ecr.RegistryApi(registry, auth)
    try:
        conflicts: list[str] = []
        image_steps = _image_steps(api, plan.images, force=force, conflicts=conflicts)
        archive_steps = _archive_steps(clients.s3, plan.archives, force=force,
                                       conflicts=conflicts)
        files_steps = s3_files.files_steps(clients.s3, plan.file_sets, force=force,
                                           settings=upload, conflicts=conflicts)
        index_steps = [index.index_step(api, target, force=force, conflicts=conflicts)
                       for target in plan.indexes]
        unchanged = {a.target.model for a in archive_steps if a.action == "skip"} | \
            {f.target.model for f in files_steps if not (f.upload or f.extra)}
        if not force:
            _package_conflicts(clients, plan.packages, image_steps, unchanged, registry,
                               conflicts)
        refuse("refusing to overwrite what is already published", conflicts)

        # --- images -------------------------------------------------------------------
        for step in image_steps:
            report.images.append(_do_image(step, docker, api, clients, registry, auth,
                                           repositories, account, console))
        for istep in index_steps:
            if istep.action == "replace" and \
                    repositories[istep.target.repository].tag_mutability == "IMMUTABLE":
                ecr.untag(clients.ecr, account_id=account, repository=istep.target.repository,
                          tag=istep.target.tag)
            report.indexes.append(index.publish_index(istep, api, console, {
                r.variant: r.digest for r in report.images if r.model == istep.target.model
                and r.tag == version_tag(settings.models[r.model], r.variant)}))
        # --- the vulnerability gate -----------------------------------------------------
        supply = settings.project.supply
        waiter = scan.ScanWaiter(clients.ecr, account, console, supply,
                                 interval_s=gates.scan_interval_s)
        report.scans = scan.run_gate(waiter, [(r.uri.rpartition(":")[0].partition("/")[2],
                                               r.digest) for r in report.images])
        blocked = [v for v in report.scans.values() if not v.passed]
        if blocked:
            print_findings(console, blocked, supply.scan_fail_severity,
                           allowed=gates.allow_vulnerable)
        # --- archives and SBOMs ---------------------------------------------------------
        for astep in archive_steps:
            report.archives.append(_do_archive(astep, clients, plan.kms_key_id, upload,
                                               console))
        for fstep in files_steps:
            report.file_sets.append(s3_files.publish_files(
                clients.s3, fstep, kms_key_id=plan.kms_key_id, settings=upload,
                console=console))
        for sbom in plan.sboms:
            report.sboms.append(_do_sbom(sbom, clients, plan.kms_key_id, console))
        # --- model packages -----------------------------------------------------------
        for target in plan.packages:
            image = _package_image(target, report)
            verdict = report.scans.get(image.digest) if image else None
            if verdict is not None and not verdict.passed and not gates.allow_vulnerable:
                console.print(f"no model package {target.name}: its image failed the "
                              "vulnerability gate")
                continue
            report.packages.append(_do_package(target, report, clients, plan.bucket,
                                               plan.kms_key_id, force, console,
                                               validation_role_arn))
    finally:
        api.close()

    report.write({m.name: m.version for m in models if m.name in plan.dist})
    print_report(console, report)
    if blocked and not gates.allow_vulnerable:
        threshold = supply.scan_fail_severity
        raise PublishError("the vulnerability gate stopped the publish (re-run with "
                           "--allow-vulnerable to publish anyway, or ignore a finding in "
                           "tool.sagepack.scan_ignore with a reason):\n  " + "\n  ".join(
                               scan.verdict_problem(v, threshold) for v in blocked))
    validation.follow_published(report.packages, clients.sagemaker, console, wait=gates.wait,
                                timeout_s=supply.package_wait_timeout_s,
                                interval_s=gates.package_interval_s)


def _do_image(step: ImageStep, docker: Any, api: ecr.RegistryApi, clients: AwsClients,
              registry: str, auth: ecr.RegistryAuth, repositories: dict[str, ecr.Repository],
              account: str, console: Console) -> ImageResult:
    target = step.target
    ref = target.remote_ref(registry)
    if step.action == "skip" and step.remote is not None:
        console.print(f"skip   {ref}: already holds {step.remote.digest}")
        return ImageResult(model=target.model, variant=target.variant, tag=target.tag,
                           uri=ref, digest=step.remote.digest, image_id=target.image_id,
                           action="skipped", platform=target.platform)
    if step.action == "replace":
        old = step.remote.digest if step.remote else "?"
        console.print(f"force  {ref}: replacing {old}")
        if repositories[target.repository].tag_mutability == "IMMUTABLE":
            ecr.untag(clients.ecr, account_id=account, repository=target.repository,
                      tag=target.tag)
    console.print(f"push   {target.local_ref} -> {ref}")
    with PushProgress(console, ref) as progress:
        digest = ecr.push(docker, target, registry, auth, progress)
    ecr.verify(api, target, digest)
    console.print(f"pushed {ref} {digest} (verified in the registry)")
    return ImageResult(model=target.model, variant=target.variant, tag=target.tag, uri=ref,
                       digest=digest, image_id=target.image_id,
                       action="replaced" if step.action == "replace" else "pushed",
                       platform=target.platform)


def _do_archive(step: ArchiveStep, clients: AwsClients, kms_key_id: str | None,
                upload: UploadSettings, console: Console) -> ArchiveResult:
    target = step.target

    def result(action: str, version_id: str | None) -> ArchiveResult:
        return ArchiveResult(model=target.model, s3_uri=target.s3_uri,
                             sha256=target.digest.sha256, size=target.digest.size,
                             action=action, version_id=version_id)

    if step.action == "skip" and step.remote is not None:
        console.print(f"skip   {target.s3_uri}: already holds sha256 {target.digest.sha256}")
        return result("skipped", step.remote.version_id)
    aborted = s3.abort_stale_uploads(clients.s3, target.bucket, target.key)
    if aborted:
        console.print(f"aborted {aborted} unfinished upload(s) to {target.s3_uri}")
    console.print(f"upload {target.path} -> {target.s3_uri} ({target.digest.size} bytes)")
    stored = s3.upload(clients.s3, target, kms_key_id=kms_key_id, settings=upload,
                       console=console)
    console.print(f"uploaded {target.s3_uri} sha256 {target.digest.sha256} "
                  f"(size and checksum verified)")
    return result("replaced" if step.action == "replace" else "uploaded", stored.version_id)


def _package_image(target: PackageTarget, report: PublishReport) -> ImageResult | None:
    tag = version_tag(target.model, target.variant)
    return next((r for r in report.images if r.model == target.model.name
                 and r.variant == target.variant and r.tag == tag), None)


def _do_sbom(target: ArchiveTarget, clients: AwsClients, kms_key_id: str | None,
             console: Console) -> ArchiveResult:
    sent = s3.put_small(clients.s3, target.path, target.bucket, target.key,
                        kms_key_id=kms_key_id)
    console.print(f"{'upload' if sent else 'skip  '} {target.path} -> {target.s3_uri}")
    return ArchiveResult(model=target.model, s3_uri=target.s3_uri,
                         sha256=target.digest.sha256, size=target.digest.size,
                         action="uploaded" if sent else "skipped",
                         variant=target.path.name.removeprefix("sbom-").split(".")[0])


def _do_package(target: PackageTarget, report: PublishReport, clients: AwsClients,
                bucket: str, kms_key_id: str | None, force: bool, console: Console,
                role_arn: str | None) -> PackageResult:
    name = target.model.name
    image = _package_image(target, report)
    data = next((a.s3_uri for a in report.archives if a.model == name), None) or \
        next((f.s3_uri for f in report.file_sets if f.model == name), None)
    if image is None or data is None:
        raise PublishError(f"model package {target.name}: its image or model data was not "
                           "published in this run")
    validation_input = model_package.upload_validation_input(clients.s3, target, bucket,
                                                             kms_key_id)
    request = model_package.package_request(target, image=image.reference,
                                            model_data_url=data,
                                            validation_input=validation_input, bucket=bucket,
                                            role_arn=role_arn)
    result = model_package.ensure_package(clients.sagemaker, target, request, force=force)
    console.print(f"{result.action} model package {result.name}: {result.arn}")
    return result
