"""``invoke test``: run the image test suite (pytest + pytest-docker) against built images.

For each image the suite runs in its own pytest process (an argv list, never a shell
string) with the plugin :mod:`sagepack.smoke.plugin`; its JUnit XML lands in
``dist/<model>/`` and its output in a log beside it. Whatever happens (failure, Ctrl-C),
every container and network of the run is removed and the extracted model deleted.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from docker.errors import APIError
from rich.console import Console

from sagepack.config import ModelConfig, Settings, Variant
from sagepack.containers.cleanup import new_run_id, remove_labelled, remove_run
from sagepack.containers.contract import DEFAULT_DEADLINE_S, validation_batch_env
from sagepack.containers.images import local_image
from sagepack.containers.launch import ContainerSpec
from sagepack.errors import ContainerError
from sagepack.files import atomic_path
from sagepack.labels import COMPOSE_PROJECT
from sagepack.progress import console as default_console
from sagepack.smoke import compose
from sagepack.smoke.models_dir import models_directory
from sagepack.smoke.preflight import check_config
from sagepack.smoke.report import SmokeReport, read_junit, render
from sagepack.smoke.spec import RunSpec

SUITE_DIR = Path(__file__).parent / "suite"


def pytest_argv(spec_file: Path, junit: Path, extra: tuple[str, ...] = ()) -> list[str]:
    return [sys.executable, "-m", "pytest", str(SUITE_DIR), "-c", str(SUITE_DIR / "pytest.ini"),
            "--rootdir", str(SUITE_DIR), "-p", "sagepack.smoke.plugin",
            f"--sagepack-run={spec_file}", f"--junitxml={junit}", "-o", "junit_family=xunit1",
            "-q", "--tb=short", *extra]


def _remove_compose_leftovers(client: Any, project: str) -> None:
    """``docker-compose down`` normally did this; after a hard interrupt it may not have."""
    remove_labelled(client, f"{COMPOSE_PROJECT}={project}", gone=(APIError,))


def run_image_tests(settings: Settings, model: ModelConfig, variant: Variant, *,
                    no_network: bool, junit: Path | None = None,
                    deadline_s: float = DEFAULT_DEADLINE_S, image: str | None = None,
                    pytest_args: tuple[str, ...] = (),
                    console: Console | None = None) -> SmokeReport:
    """Run every check on ``model``'s ``variant`` image; print its table; return the report.

    ``no_network``: containers without any network (Marketplace's isolation; the egress
    check runs). Otherwise an ordinary bridge network, port published on 127.0.0.1 (the
    egress check is skipped). ``junit`` defaults to ``dist/<model>/image-tests-<variant>.xml``.

    Before any container starts, the model's configuration is checked for what the checks
    need (:class:`~sagepack.errors.ConfigError`) and Compose is looked for.
    """
    from sagepack.images.docker_client import docker_client

    check_config(model)
    compose_argv = compose.compose_command()
    out = console or default_console()
    client = docker_client()
    container = ContainerSpec.for_model(client, settings, model, variant, image=image)
    tag = container.image
    dist = settings.project.dist_for(model.name)
    junit = junit or dist / f"image-tests-{variant.name}.xml"
    log = junit.with_suffix(".log")
    run_id = new_run_id()
    project = f"sagepack{run_id}"
    out.print(f"testing {tag} ({container.describe(no_network)}); log: {log}")
    exit_code = 1
    try:
        with tempfile.TemporaryDirectory(prefix="sagepack-image-tests-") as tmp, \
                container.model_directory(settings, model) as model_dir, \
                models_directory(settings, model) as models_dir:
            work = Path(tmp)
            compose_file = compose.write(work / "compose.yml", compose.render(
                container, validation_batch_env(model), run_id=run_id, model_dir=model_dir,
                no_network=no_network, models_dir=models_dir))
            spec = RunSpec(root=str(settings.project.root), model=model.name,
                           variant=variant.name, image=tag, no_network=no_network, gpu=container.gpu,
                           model_dir=str(model_dir) if model_dir else None,
                           compose_file=str(compose_file), project=project, run_id=run_id,
                           deadline_s=deadline_s, compose_command=compose_argv,
                           models_dir=str(models_dir) if models_dir else None)
            spec_file = spec.write(work / "run.json")
            with atomic_path(junit) as tmp_junit, atomic_path(log) as tmp_log, \
                    tmp_log.open("wb") as log_fh:
                process = subprocess.Popen(pytest_argv(spec_file, tmp_junit, pytest_args),
                                           cwd=work, stdout=log_fh, stderr=subprocess.STDOUT)
                try:
                    exit_code = process.wait()
                except KeyboardInterrupt:
                    # The suite got the same Ctrl-C and is tearing its containers down.
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        process.wait(timeout=60)
                    raise
                finally:
                    if process.poll() is None:
                        process.kill()
                        process.wait()
                if not tmp_junit.exists() or tmp_junit.stat().st_size == 0:
                    tail = tmp_log.read_text(encoding="utf-8", errors="replace")[-3000:]
                    raise ContainerError(f"the image test suite did not run for {tag} "
                                         f"(pytest exit code {exit_code}):\n{tail}", image=tag)
                checks = read_junit(tmp_junit)
    finally:
        _remove_compose_leftovers(client, project)
        remove_run(client, run_id)
    report = SmokeReport(image=tag, model=model.name, variant=variant.name,
                         no_network=no_network, checks=checks, junit=junit,
                         exit_code=exit_code, log=log)
    render(report, out)
    return report


def run_all(settings: Settings, model_name: str | None, variant_name: str | None, *,
            no_network: bool, deadline_s: float = DEFAULT_DEADLINE_S,
            console: Console | None = None) -> list[SmokeReport]:
    """Test every built image of the selected models and variants.

    A variant named with ``variant_name`` must be built; otherwise variants without an
    image are listed as not built and left out. No image at all is an error.
    """
    from sagepack.images.docker_client import docker_client

    out = console or default_console()
    models = settings.select(model_name)
    for model in models:  # every model's configuration before any model's containers
        check_config(model)
    client = docker_client()
    reports: list[SmokeReport] = []
    for model in models:
        names = [variant_name] if variant_name else sorted(model.variants)
        for name in names:
            variant = model.variant(name)
            if variant_name is None:
                try:
                    local_image(client, settings, model, variant)
                except ContainerError as exc:
                    out.print(f"[yellow]not tested[/]: {exc}")
                    continue
            reports.append(run_image_tests(settings, model, variant, no_network=no_network,
                                           deadline_s=deadline_s, console=out))
    if not reports:
        raise ContainerError("no image to test: build one with `invoke build` first")
    return reports


__all__ = ["run_all", "run_image_tests"]
