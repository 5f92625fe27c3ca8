"""sagepack's tasks: thin wrappers that parse flags and call ``sagepack`` functions.

Run ``invoke --list`` for the tasks and ``invoke --help TASK`` for each one's flags.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

if TYPE_CHECKING:
    from sagepack.config import Settings

ROOT = Path(__file__).resolve().parent


@contextlib.contextmanager
def _user_errors() -> Iterator[None]:
    """Turn sagepack's errors into a clean message and exit code 1 (no traceback)."""
    from sagepack.errors import SagepackError

    try:
        yield
    except SagepackError as exc:
        raise Exit(f"error: {exc}", code=1) from exc


def _settings(**overrides: str | None) -> Settings:
    """The project's configuration, read once; ``overrides`` are flags (``None``: not given)."""
    from sagepack import config

    return config.load(ROOT, env=None, **overrides)


@task(help={"model": "regenerate only this example: iris, xgboost-cancer, sklearn-wine, "
                    "torch-mlp, or all (default)"})
def example(c: Context, model: str = "all") -> None:
    """Regenerate the bundled example models (model files, samples, expected answers)."""
    from sagepack.examples import generate

    with _user_errors():
        for path in generate(ROOT / "artifacts", model):
            print(path.relative_to(ROOT))


@task(help={"name": "the new model's name (its folder under artifacts/)",
            "from": "the trained model: a folder, a model.tar.gz or one model file",
            "force": "replace artifacts/NAME/ when it exists"})
def new(c: Context, name: str, from_: str, force: bool = False) -> None:
    """Make artifacts/NAME/ from a trained model: its files, a handler, requirements, a sample."""
    from sagepack.config import load_project_only
    from sagepack.scaffold import new_model

    with _user_errors():
        made = new_model(load_project_only(ROOT), name, Path(from_), force=force)
    for line in made.lines():
        print(line)


@task(help={"model": "pack only this model (default: every model under artifacts/)",
            "source-date-epoch": "timestamp for every member (default: $SOURCE_DATE_EPOCH or 0)"})
def package(c: Context, model: str | None = None,
            source_date_epoch: str | None = None) -> None:
    """Pack each model folder into a deterministic dist/<model>/model.tar.gz + manifest
    (with model_data = "uncompressed": the manifest of its files only)."""
    from sagepack.archive import package_models

    with _user_errors():
        settings = _settings()
        package_models(settings, settings.select(model), source_date_epoch=source_date_epoch)


@task(help={"name": "only this base image (default: every base a variant names)",
            "refresh": "build (or pull) again with the day's updates and security packages, "
                       "even when the image is present",
            "rebuild": "the same as --refresh"})
def base(c: Context, name: str | None = None, refresh: bool = False,
         rebuild: bool = False) -> None:
    """Build the local Debian base images (minbase + Python 3.11, security updates applied)."""
    from sagepack.images.base import ensure_bases

    with _user_errors():
        ensure_bases(_settings(), name=name, refresh=refresh or rebuild)


@task(help={"model": "lock only this model (default: every model)",
            "variant": "a variant (cpu, cuda, graviton...) or all (default: all)",
            "upgrade": "resolve afresh instead of keeping the versions the lock pins"})
def lock(c: Context, model: str | None = None, variant: str = "all",
         upgrade: bool = False) -> None:
    """Lock each variant's requirements (.in -> .txt) with hashes for the image's platform."""
    from sagepack.images.lock import lock_models

    with _user_errors():
        for path in lock_models(_settings(), model=model, variant=variant, upgrade=upgrade):
            print(path.relative_to(ROOT))


@task(help={"model": "build only this model (default: every model)",
            "variant": "a variant (cpu, cuda, graviton...) or all (default: all)",
            "no-cache": "run every step again, ignoring the engine's cache",
            "verbose": "show the engine's full build log"})
def build(c: Context, model: str | None = None, variant: str = "all",
          no_cache: bool = False, verbose: bool = False) -> None:
    """Build, check and report SageMaker-ready images of each model and variant, offline."""
    from sagepack.images import build_all

    with _user_errors():
        build_all(_settings(), model=model, variant=variant, no_cache=no_cache,
                  verbose=verbose)


@task(help={"only": "run one gate: ruff, mypy or pytest",
            "pytest-args": "extra arguments for pytest, e.g. \"-m 'not docker' -x\""})
def check(c: Context, only: str | None = None, pytest_args: str = "") -> None:
    """The project's own quality gates: ruff, mypy, then the whole pytest suite."""
    import shlex

    from sagepack.quality import run_checks

    with _user_errors():
        run_checks(ROOT, only=only, pytest_args=shlex.split(pytest_args))


@task(help={"what": "serve, stream, mme (multi-model endpoint, 100 models), package, "
                    "build, transform, or all",
            "out": "folder for the JSON reports (default: dist/bench)",
            "size-mib": "size of the generated model folder for --what package"})
def bench(c: Context, what: str = "all", out: str = "dist/bench",
          size_mib: int = 1024) -> None:
    """Benchmarks against a baseline measured in the same run; JSON reports in dist/bench."""
    from sagepack.bench.suite import run_benchmarks

    with _user_errors():
        run_benchmarks(_settings(), what, ROOT / out, size_mib=size_mib)


@task(help={"model": "test only this model (default: every model)",
            "variant": "test only this variant (default: every built variant)",
            "no-network": "no network at all, as Marketplace runs it; checks egress "
                          "(default: bridge network, port on 127.0.0.1, egress skipped)",
            "deadline": "seconds a container has to answer /ping with 200 (default 240)",
            "record": "write each sample's answer as its expected response (the samples "
                      "without one) and point sagepack.toml at it",
            "force": "with --record: record every sample again, replacing its expected "
                     "response"})
def test(c: Context, model: str | None = None, variant: str | None = None,
         no_network: bool = False, deadline: int = 240, record: bool = False,
         force: bool = False) -> None:
    """Check built images as SageMaker runs them: samples, contract, egress, SIGTERM, batch."""
    from sagepack.smoke import run_all
    from sagepack.smoke.record import Recording

    if force and not record:
        raise Exit("error: --force goes with --record (it re-records the expected responses)",
                   code=1)
    with _user_errors():
        reports = run_all(_settings(), model, variant, no_network=no_network,
                          deadline_s=deadline, record=Recording(force) if record else None)
    failed = [r.image for r in reports if not r.ok]
    if failed:
        raise Exit(f"image checks failed for: {', '.join(failed)}", code=1)


@task(help={"model": "the model (needed when there are several)",
            "variant": "image variant (default: cpu)",
            "input": "file or folder of input objects (walked like an S3 prefix)",
            "output": "folder for the <input name>.out files",
            "content-type": "Content-Type of each request", "accept": "Accept of each request",
            "split-type": "None, Line, RecordIO or TFRecord (default None)",
            "strategy": "MultiRecord or SingleRecord (default: the container's, else MultiRecord)",
            "max-payload-mb": "MaxPayloadInMB 0-100 (default: the container's, else 6)",
            "max-concurrent": "MaxConcurrentTransforms (default: the container's, else 1)",
            "assemble-with": "None or Line (default None)", "compression": "None or Gzip",
            "input-filter": "JSONPath applied to each input record (default $)",
            "output-filter": "JSONPath applied to each output (default $)",
            "join-source": "None or Input", "timeout": "seconds per invocation (default 600)",
            "retries": "retries per invocation, 0-3 (default 3)",
            "deadline": "seconds the container has to answer /ping (default 240)",
            "remote": "run as a SageMaker batch transform job of the published model "
                      "(input: a local file or folder, uploaded, or an s3:// prefix)",
            "instance-type": "with --remote: instance type (default: [deploy] "
                             "transform_instance_type, then transform_instance_types)",
            "instance-count": "with --remote: number of instances (default 1)",
            "keep-in-s3": "with --remote: leave the outputs in S3, download nothing"},
      auto_shortflags=False)
def transform(c: Context, input: str, output: str, model: str | None = None,
              variant: str = "cpu", content_type: str | None = None,
              accept: str | None = None, split_type: str = "None",
              strategy: str | None = None, max_payload_mb: str | None = None,
              max_concurrent: str | None = None, assemble_with: str = "None",
              compression: str = "None", input_filter: str = "$", output_filter: str = "$",
              join_source: str = "None", timeout: int = 600, retries: int = 3,
              deadline: int = 240, remote: bool = False, instance_type: str | None = None,
              instance_count: str | None = None, keep_in_s3: bool = False) -> None:
    """Run a SageMaker batch transform job on local files against the model's image
    (or, with --remote, on SageMaker's fleet)."""
    from sagepack.transform import TransformJob
    from sagepack.transform.params import optional_int

    with _user_errors():
        settings = _settings()
        chosen = settings.select_one(model)
        job = TransformJob(
            input=Path(input), output=Path(output), content_type=content_type,
            accept=accept, split_type=split_type, strategy=strategy,
            max_payload_mb=optional_int(max_payload_mb, "--max-payload-mb"),
            max_concurrent=optional_int(max_concurrent, "--max-concurrent"),
            assemble_with=assemble_with, compression=compression,
            input_filter=input_filter, output_filter=output_filter,
            join_source=join_source, timeout_s=timeout, retries=retries)
        if remote:
            from sagepack.transform.remote import RemoteTarget, run_remote

            run_remote(settings, chosen, variant, job, RemoteTarget(
                input=input, instance_type=instance_type,
                instance_count=optional_int(instance_count, "--instance-count"),
                keep_in_s3=keep_in_s3))
            return
        from sagepack.containers import run_transform_job

        report = run_transform_job(settings, chosen, chosen.variant(variant), job,
                                   deadline_s=deadline)
        report.raise_for_failures()


@task(help={"model": "publish only this model (default: every model under artifacts/)",
            "variant": "publish only this variant (default: every variant of each model)",
            "dry-run": "print the plan and stop: nothing remote is touched",
            "force": "replace a tag, object or model package that holds something else",
            "region": "AWS region (default: $SAGEPACK_REGION, then pyproject.toml)",
            "wait": "follow each model package until SageMaker's validation verdict",
            "status": "publish nothing: show the published model packages' status",
            "allow-vulnerable": "publish even when ECR's scan finds what the gate refuses"})
def publish(c: Context, model: str | None = None, variant: str | None = None,
            dry_run: bool = False, force: bool = False, region: str | None = None,
            wait: bool = False, status: bool = False, allow_vulnerable: bool = False) -> None:
    """Push images to ECR (vulnerability gate), archives and SBOMs to S3, model packages."""
    from sagepack.publish import Gates, package_status
    from sagepack.publish import publish as publish_models

    with _user_errors():
        settings = _settings(region=region)
        variants = [variant] if variant else None
        if status:
            package_status(settings, settings.select(model), variants, wait=wait)
            return
        publish_models(settings, settings.select(model), variants, dry_run=dry_run,
                       force=force, gates=Gates(allow_vulnerable=allow_vulnerable, wait=wait))



@task(help={"model": "the model (needed when there are several)",
            "variant": "image variant (default: cpu)",
            "dry-run": "print every resource and parameter and stop: nothing is touched",
            "wait": "follow the endpoint to InService, then send the [[samples]]",
            "region": "AWS region (default: $SAGEPACK_REGION, then pyproject.toml)"})
def deploy(c: Context, model: str | None = None, variant: str = "cpu",
           dry_run: bool = False, wait: bool = False, region: str | None = None) -> None:
    """Create or update a SageMaker endpoint from what publish recorded."""
    from sagepack.deploy import deploy as deploy_model

    with _user_errors():
        settings = _settings(region=region)
        deploy_model(settings, settings.select_one(model), variant, dry_run=dry_run,
                     wait=wait)


@task(help={"model": "the model (needed when there are several)",
            "variant": "image variant (default: cpu)",
            "region": "AWS region (default: $SAGEPACK_REGION, then pyproject.toml)"})
def undeploy(c: Context, model: str | None = None, variant: str = "cpu",
             region: str | None = None) -> None:
    """Delete the endpoint deploy made, its config and its model (sagepack's only)."""
    from sagepack.deploy import undeploy as undeploy_model

    with _user_errors():
        settings = _settings(region=region)
        undeploy_model(settings, settings.select_one(model), variant)
