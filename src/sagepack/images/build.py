"""``invoke build``: a model's config -> a SageMaker-ready image per variant.

For one variant: make sure the base image exists (building a local base first), check the
lock, fill the wheelhouse on the host, assemble the build context (in baked mode, with the
model's packed archive split into code and weights), build with the network disabled,
write the image's SBOM, add its sha256 as a label in a label-only step on top (the SBOM is
read from the image, so it cannot be among the image's own build labels), tag, check the
image, and write the report. A failed check untags the image and raises.
The builder stage is kept under a name as the next build's cache, and what the build
superseded is removed (:mod:`sagepack.images.stages`): a build leaves no ``<none>`` image.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError, ImageNotFound

import sagepack
from sagepack import emulation
from sagepack import labels as keys
from sagepack.archive import ARCHIVE_NAME
from sagepack.checks import CheckResult
from sagepack.config import UNCOMPRESSED, ModelConfig, Settings, Variant
from sagepack.errors import ImageCheckFailed, ImageError, LockError
from sagepack.files import write_json
from sagepack.images import checks as image_checks
from sagepack.images.base import check_base_age, ensure_base
from sagepack.images.build_stream import Display, run_build
from sagepack.images.context import (
    BuildContext,
    add_model,
    add_serving_runtime,
    add_tools,
    add_wheelhouse,
    image_env,
    library_dirs,
    render_dockerfile,
)
from sagepack.images.cross import (
    builder_for,
    check_platform,
    emulated_seconds,
    ensure_cross_base,
)
from sagepack.images.cuda import check_cuda_runtime, check_lock, cuda_labels
from sagepack.images.display import BuildDisplay
from sagepack.images.docker_client import docker_client
from sagepack.images.environment import BuildEnvironment
from sagepack.images.load_check import check_listed_model_load, check_model_load
from sagepack.images.lock import SERVING_IN, lock_sha256, read_lock, read_requirements, uv_binary
from sagepack.images.report import compared_with, make_report, print_report, read_reports
from sagepack.images.sbom import make_sbom, sbom_name
from sagepack.images.secrets import check_secret_files
from sagepack.images.source import SourceInfo, source_info
from sagepack.images.stages import Leftover, cache_tag, image_ids, tidy
from sagepack.images.tags import image_tags
from sagepack.images.wheelhouse import ensure_wheelhouse
from sagepack.platforms import DEFAULT, Platform
from sagepack.progress import say

DOCKERFILE = Path("containers/Dockerfile")
SERVE = Path("containers/serve")


@dataclass(frozen=True)
class BuildResult:
    model: str
    variant: str
    tags: tuple[str, ...]
    image_id: str
    size: int
    report_path: Path
    seconds: float
    cache_hits: int
    steps: int
    cacheable_steps: int
    report: dict[str, Any]
    stage_images: tuple[str, ...] = ()
    leftovers: tuple[Leftover, ...] = ()  # what the build left behind, kept or removed


def _rfc3339(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def build_labels(settings: Settings, model: ModelConfig, variant: Variant, *,
                 source: SourceInfo, created: int, base: str, lock_digest: str,
                 archive_sha256: str | None) -> dict[str, str]:
    """The labels the build writes on ``variant``'s image (keys: :mod:`sagepack.labels`;
    read back with :func:`sagepack.labels.read_labels`)."""
    labels = {
        keys.OCI_TITLE: model.name,
        keys.OCI_DESCRIPTION: model.description,
        keys.OCI_VERSION: model.version,
        keys.OCI_REVISION: source.revision or "unknown",
        keys.OCI_SOURCE: settings.project.source_url or source.remote or "unknown",
        keys.OCI_CREATED: _rfc3339(created),
        keys.OCI_BASE_NAME: base,
        keys.BIND_TO_PORT: "true",
        keys.MODEL: model.name,
        keys.MODEL_VERSION: model.version,
        keys.VARIANT: variant.name,
        keys.ARTIFACT_MODE: model.artifact_mode,
        keys.LOCK_SHA256: lock_digest,
        keys.VERSION: sagepack.__version__,
    }
    if archive_sha256:
        labels[keys.ARCHIVE_SHA256] = archive_sha256
    if model.multi_model:
        labels[keys.MULTI_MODELS] = "true"
    return labels


def build_report_path(settings: Settings, model: str, variant: str) -> Path:
    """Where a build of ``model``'s ``variant`` writes its report (``image_id`` and all)."""
    return settings.project.dist_for(model) / f"build-{variant}.json"


def sbom_labels(sbom_sha256: str) -> dict[str, str]:
    """The labels of the label-only step after the SBOM is written: the SBOM's sha256."""
    return {keys.SBOM_SHA256: sbom_sha256}


def add_labels(client: docker.DockerClient, image_id: str, labels: dict[str, str], *,
               tag: str, platform: Platform = DEFAULT) -> str:
    """A label-only build on top of ``image_id`` (``FROM`` it, ``labels``, no network, no
    new layer), tagged ``tag``; return the new image's id. ``image_id`` stays as its
    parent, untagged, so no dangling image is left."""
    ctx = BuildContext()
    ctx.add_bytes("Dockerfile", f"FROM {image_id}\n".encode())
    with tempfile.TemporaryDirectory(prefix="sagepack-label-") as work:
        context_tar = Path(work) / "context.tar"
        ctx.write(context_tar)
        return run_build(client, context_tar, tag=tag, labels=labels,
                         platform=platform).image_id


def check_lock_covers(variant: Variant, serving_in: Path) -> None:
    """Every project named in the ``.in`` files is in the lock, or the lock is stale."""
    locked = {r.key for r in read_lock(variant.requirements)}
    for source in (serving_in, variant.requirements_in):
        for line in read_requirements(source):
            if line.key not in locked:
                raise LockError(f"{variant.requirements} is stale: {line.key} (from {source}) "
                                "is not in it; run `invoke lock`")


def build(settings: Settings, model: ModelConfig, variant: Variant | str, *,
          no_cache: bool = False, verbose: bool = False,
          client: docker.DockerClient | None = None, env: BuildEnvironment | None = None,
          artifact_mode: str | None = None, display: Display | None = None,
          log: Callable[[str], None] = say, keep_cache: bool = True) -> BuildResult:
    """Build, tag, check and report the image of ``model``'s ``variant``.

    ``keep_cache``: keep the builder stage (as ``sagepack-cache/<model>:<variant>-builder``)
    so the next build reuses it; ``False`` removes it too.
    """
    started = time.monotonic()
    var = model.variant(variant) if isinstance(variant, str) else variant
    mode = artifact_mode or model.artifact_mode
    if mode != model.artifact_mode:
        model = replace(model, artifact_mode=mode)
    engine_client = client or docker_client()
    environment = env or BuildEnvironment.from_project(settings.project)
    root = settings.project.root
    source = source_info(root)
    tags = image_tags(settings, model, var, source)

    platform = var.platform
    emulated = emulation.require(platform, f"building {tags[0]} ({platform.docker})")
    builder = builder_for(var, emulated)
    for base, base_platform in dict.fromkeys([(var.base_image, platform),
                                              (builder.native, builder.platform)]):
        try:
            engine_client.images.get(base)
        except ImageNotFound:
            log(f"base image {base} is missing: building it first")
        ensure_base(engine_client, base, mirror=environment.debian_mirror,
                    security_mirror=environment.debian_security_mirror,
                    source_date_epoch=environment.source_date_epoch, log=log,
                    platform=base_platform)
        check_base_age(engine_client, base, environment.base_max_age_days, log)
    if builder.cross:
        ensure_cross_base(engine_client, builder, platform, log)

    check_lock_covers(var, root / SERVING_IN)
    # A GPU variant's lock must ship a CUDA runtime its target hosts' drivers run: refused
    # here, before any download.
    runtime = (check_lock(((r.name, r.version) for r in read_lock(var.requirements)),
                          var.cuda, str(var.requirements)) if var.cuda else None)
    wheelhouse = ensure_wheelhouse(var.requirements, environment.wheelhouse_dir, log=log,
                                   indexes=var.indexes, platform=platform)
    lock_digest = lock_sha256(var.requirements)

    created = environment.source_date_epoch or source.commit_time or int(time.time())
    ctx = BuildContext()
    template = (root / DOCKERFILE).read_text(encoding="utf-8")
    env_vars = image_env(model, var, library_dirs(wheelhouse) if var.gpu else ())
    ctx.add_bytes("Dockerfile", render_dockerfile(template, env_vars).encode("utf-8"))
    add_wheelhouse(ctx, wheelhouse, var.requirements)
    uv = uv_binary() if builder.cross else None
    if builder.cross and uv is None:
        raise ImageError(f"building {tags[0]} for {platform.docker} installs its wheels "
                         "with uv, which is not installed (pip install uv)")
    add_tools(ctx, uv)
    add_serving_runtime(ctx, Path(sagepack.__file__).parent, root / SERVE)

    archive_sha256: str | None = None
    with tempfile.TemporaryDirectory(prefix="sagepack-context-") as work:
        if mode == "baked":
            from sagepack import archive

            packed = archive.pack(model, settings.project.dist_for(model.name),
                                  source_date_epoch=environment.source_date_epoch,
                                  progress=False)
            archive_sha256 = packed.sha256
            extracted = archive.safe_extract(packed.archive, Path(work) / "model")
            add_model(ctx, extracted)
        labels = build_labels(settings, model, var, source=source, created=created,
                              base=var.base_image, lock_digest=lock_digest,
                              archive_sha256=archive_sha256)
        if runtime is not None and var.cuda is not None:
            labels.update(cuda_labels(runtime, var.cuda))
        context_tar = Path(work) / "context.tar"
        ctx.write(context_tar, mtime=created)
        before = image_ids(engine_client, [*tags, cache_tag(model.name, var.name)])
        engine = run_build(engine_client, context_tar, tag=tags[0],
                           target="baked" if mode == "baked" else "runtime",
                           buildargs={"BASE_IMAGE": var.base_image,
                                      "BUILDER_IMAGE": builder.image,
                                      "TARGET_WHEELS": builder.target_wheels},
                           labels=labels, no_cache=no_cache,
                           display=display or BuildDisplay(verbose=verbose),
                           platform=platform)
    # The SBOM describes the image just built; the image then carries the SBOM's sha256.
    checks_started = time.monotonic()
    sbom = make_sbom(engine_client, engine.image_id, var.requirements,
                     settings.project.dist_for(model.name) / sbom_name(var.name))
    labels.update(sbom_labels(sbom.sha256))
    image_id = add_labels(engine_client, engine.image_id, sbom_labels(sbom.sha256),
                          tag=tags[0], platform=platform)
    sbom_seconds = time.monotonic() - checks_started
    image = engine_client.images.get(image_id)
    for tag in tags[1:]:
        repository, _, name = tag.rpartition(":")
        image.tag(repository, name)

    leftovers = tuple(tidy(engine_client, model=model.name, variant=var.name,
                           image_id=image_id, stage_images=engine.stage_images,
                           before=before, keep_cache=keep_cache))
    checks_started = time.monotonic()
    results = [check_platform(image.attrs, platform),
               *image_checks.run_checks(engine_client, image_id, gpu=var.gpu)]
    if var.cuda is not None:
        results.append(check_cuda_runtime(engine_client, image_id, var.cuda))
    results.append(check_secret_files(engine_client, image_id, var.base_image,
                                      settings.project.supply))
    if model.model_data == UNCOMPRESSED:  # the listed files, as SageMaker lays them out
        results.append(check_listed_model_load(engine_client, image_id, settings,
                                               model))
    else:
        results.append(check_model_load(
            engine_client, image_id, baked=mode == "baked" or model.multi_model,
            archive=settings.project.dist_for(model.name) / ARCHIVE_NAME))
    checks_seconds = time.monotonic() - checks_started + sbom_seconds
    size = int(image.attrs.get("Size") or 0)
    limit = var.max_image_size_mb
    if limit is not None:
        results.append(CheckResult.of(
            "max-image-size", size <= limit * 1_000_000,
            f"{size / 1e6:.0f} MB against a limit of {limit} MB (variants.{var.name}."
            "max_image_size_mb)"))
    seconds = time.monotonic() - started
    report = make_report(engine_client, model=model.name, variant=var.name,
                         image_id=image_id, tags=tags, engine=engine, seconds=seconds,
                         checks=results, labels=labels,
                         extra={"artifact_mode": mode, "base_image": var.base_image,
                                "platform": platform.docker,
                                "builder": {"image": builder.image,
                                            "runs": builder.platform.docker,
                                            "cross": builder.cross},
                                "emulated": emulated,
                                "emulated_seconds": emulated_seconds(
                                    engine, builder, emulated, checks_seconds),
                                "lock": str(var.requirements.relative_to(root))
                                if var.requirements.is_relative_to(root)
                                else str(var.requirements),
                                "wheelhouse": str(wheelhouse.path),
                                "wheelhouse_size": wheelhouse.size,
                                "environment": env_vars,
                                "stage_images": list(engine.stage_images),
                                "sbom": {**sbom.as_report(), "image_id": engine.image_id},
                                "left_behind": [item.as_dict() for item in leftovers]})
    report_path = build_report_path(settings, model.name, var.name)
    report["gpu"] = var.gpu
    report["compared_with"] = compared_with(report, read_reports(report_path.parent, var.name))
    write_json(report_path, report)
    print_report(report)
    for item in leftovers:
        log(item.describe())
    try:
        image_checks.enforce(results, tags[0])
    except ImageCheckFailed:
        _untag(engine_client, tags)
        raise
    return BuildResult(model=model.name, variant=var.name, tags=tags,
                       image_id=image_id, size=size, report_path=report_path,
                       seconds=seconds, cache_hits=engine.cache_hits,
                       steps=len(engine.steps), cacheable_steps=engine.cacheable_steps,
                       report=report, stage_images=engine.stage_images,
                       leftovers=leftovers)


def _untag(client: docker.DockerClient, tags: tuple[str, ...]) -> None:
    """Remove the tags (and so the image) that failed a check; shared layers stay cached."""
    for tag in tags:
        try:
            client.images.remove(tag)
        except (APIError, ImageNotFound) as exc:
            raise ImageError(f"could not untag {tag} after a failed check: {exc}") from exc


def build_all(settings: Settings, *, model: str | None = None, variant: str = "all",
              no_cache: bool = False, verbose: bool = False,
              client: docker.DockerClient | None = None,
              keep_cache: bool = True) -> list[BuildResult]:
    """Build every selected model's selected variants (``variant="all"`` for each)."""
    engine_client = client or docker_client()
    results: list[BuildResult] = []
    for config in settings.select(model):
        names = sorted(config.variants) if variant == "all" else [variant]
        for name in names:
            results.append(build(settings, config, name, no_cache=no_cache, verbose=verbose,
                                 client=engine_client, keep_cache=keep_cache))
    return results
