"""sagepack's tasks: thin wrappers that parse flags and call ``sagepack`` functions.

Run ``invoke --list`` for the tasks and ``invoke --help TASK`` for each one's flags.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from invoke import Context, Exit, task

ROOT = Path(__file__).resolve().parent


@contextlib.contextmanager
def _user_errors() -> Iterator[None]:
    """Turn sagepack's errors into a clean message and exit code 1 (no traceback)."""
    from sagepack.errors import SagepackError

    try:
        yield
    except SagepackError as exc:
        raise Exit(f"error: {exc}", code=1) from exc


def _settings(**overrides: str | None):  # type: ignore[no-untyped-def]
    from sagepack import config

    return config.load(ROOT, **overrides)


@task(help={"model": "regenerate only this example (default: iris)"})
def example(c: Context, model: str = "iris") -> None:
    """Regenerate the bundled example model (ONNX, labels, samples, expected answers)."""
    from sagepack.example import generate

    with _user_errors():
        for path in generate(ROOT / "artifacts" / model):
            print(path.relative_to(ROOT))


@task(help={"model": "pack only this model (default: every model under artifacts/)",
            "source-date-epoch": "timestamp for every member (default: $SOURCE_DATE_EPOCH or 0)"})
def package(c: Context, model: str | None = None,
            source_date_epoch: str | None = None) -> None:
    """Pack each model folder into a deterministic dist/<model>/model.tar.gz + manifest."""
    from sagepack.archive import package_models

    with _user_errors():
        settings = _settings()
        package_models(settings, settings.select(model), source_date_epoch=source_date_epoch)


@task(help={"name": "only this base image (default: every base a variant names)",
            "rebuild": "build again even when the image is present"})
def base(c: Context, name: str | None = None, rebuild: bool = False) -> None:
    """Build the local Debian base images (debootstrap minbase + Python 3.11) variants name."""
    from sagepack.images.base import ensure_bases

    with _user_errors():
        ensure_bases(_settings(), name=name, rebuild=rebuild)


@task(help={"model": "lock only this model (default: every model)",
            "variant": "cpu, cuda or all (default: all)",
            "upgrade": "resolve afresh instead of keeping the versions the lock pins"})
def lock(c: Context, model: str | None = None, variant: str = "all",
         upgrade: bool = False) -> None:
    """Lock each variant's requirements (.in -> .txt) with hashes for the image's platform."""
    from sagepack.images.lock import lock_models

    with _user_errors():
        for path in lock_models(_settings(), model=model, variant=variant, upgrade=upgrade):
            print(path.relative_to(ROOT))


@task(help={"model": "build only this model (default: every model)",
            "variant": "cpu, cuda or all (default: all)",
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


@task(help={"what": "package, serve, build, transform, or all",
            "out": "folder for the JSON reports (default: dist/bench)",
            "size-mib": "size of the generated model folder for --what package"})
def bench(c: Context, what: str = "all", out: str = "dist/bench",
          size_mib: int = 1024) -> None:
    """Benchmarks against a baseline measured in the same run; JSON reports in dist/bench."""
    from sagepack.bench.suite import run_benchmarks

    with _user_errors():
        run_benchmarks(_settings(), what, ROOT / out, size_mib=size_mib)


@task(help={"model": "publish only this model (default: every model under artifacts/)",
            "variant": "publish only this variant (default: every variant of each model)",
            "dry-run": "print the plan and stop: nothing remote is touched",
            "force": "replace a tag, object or model package that holds something else",
            "region": "AWS region (default: $SAGEPACK_REGION, then pyproject.toml)"})
def publish(c: Context, model: str | None = None, variant: str | None = None,
            dry_run: bool = False, force: bool = False, region: str | None = None) -> None:
    """Push images to ECR, upload archives to S3, create the model package if configured."""
    from sagepack.publish import publish as publish_models

    with _user_errors():
        settings = _settings(region=region)
        publish_models(settings, settings.select(model), [variant] if variant else None,
                       dry_run=dry_run, force=force)
