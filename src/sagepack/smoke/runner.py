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
from sagepack.smoke.record import Recording, save_recordings
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
                    console: Console | None = None,
                    record: Recording | None = None) -> SmokeReport:
    """Run every check on ``model``'s ``variant`` image; print its table; return the report.

    ``no_network``: containers without any network (Marketplace's isolation; the egress
    check runs). Otherwise an ordinary bridge network, port published on 127.0.0.1 (the
    egress check is skipped). ``junit`` defaults to ``dist/<model>/image-tests-<variant>.xml``.

    Before any container starts, the model's configuration is checked for what the checks
    need (:class:`~sagepack.errors.ConfigError`) and Compose is looked for.

    ``record``: the samples' answers (each one 2xx with its Accept type) are written as their
    expected responses and ``sagepack.toml`` points at them (:mod:`.record`).
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
            answers = work / "answers"
            answers.mkdir()
            recording = record if record is not None and not model.multi_model else None
            compose_file = compose.write(work / "compose.yml", compose.render(
                container, validation_batch_env(model), run_id=run_id, model_dir=model_dir,
                no_network=no_network, models_dir=models_dir))
            spec = RunSpec(root=str(settings.project.root), model=model.name,
                           variant=variant.name, image=tag, no_network=no_network, gpu=container.gpu,
                           model_dir=str(model_dir) if model_dir else None,
                           compose_file=str(compose_file), project=project, run_id=run_id,
                           deadline_s=container.deadline(deadline_s),
                           compose_command=compose_argv,
                           models_dir=str(models_dir) if models_dir else None,
                           record_dir=str(answers) if recording else None,
                           record_all=bool(recording and recording.force),
                           platform=container.platform.docker, emulated=container.emulated)
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
            if recording is not None:
                _record(model, answers, recording, out)
    finally:
        _remove_compose_leftovers(client, project)
        remove_run(client, run_id)
    report = SmokeReport(image=tag, model=model.name, variant=variant.name,
                         no_network=no_network, checks=checks, junit=junit,
                         exit_code=exit_code, log=log,
                         emulated=container.platform.docker if container.emulated else None)
    render(report, out)
    return report


def _record(model: ModelConfig, answers: Path, recording: Recording, out: Console) -> None:
    """Write what the run recorded and say what it did not (the sample's check failed)."""
    recorded = save_recordings(model, answers, recording)
    for item in recorded:
        out.print(item.describe(), markup=False, highlight=False)
    names = {item.sample for item in recorded}
    missed = [s.name for s in model.samples if recording.wants(s) and s.name not in names]
    if missed:
        out.print(f"[yellow]not recorded[/]: {', '.join(missed)} (no 2xx answer of the "
                  "Accept type: see its check below)")
    if recorded:
        out.print(f"{model.config_file}: expected responses recorded; the next `invoke test` "
                  "compares against them")
    elif not missed:
        out.print(f"nothing to record: every sample of {model.name} has an expected "
                  "response (--force records them again)")


def run_all(settings: Settings, model_name: str | None, variant_name: str | None, *,
            no_network: bool, deadline_s: float = DEFAULT_DEADLINE_S,
            console: Console | None = None,
            record: Recording | None = None) -> list[SmokeReport]:
    """Test every built image of the selected models and variants.

    A variant named with ``variant_name`` must be built; otherwise variants without an
    image are listed as not built and left out. No image at all is an error.
    ``record``: each model's samples are recorded on its first variant tested; the others
    compare with what was recorded.
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
        recording = record
        for name in names:
            variant = model.variant(name)
            if variant_name is None:
                try:
                    local_image(client, settings, model, variant)
                except ContainerError as exc:
                    out.print(f"[yellow]not tested[/]: {exc}")
                    continue
            reports.append(run_image_tests(settings, model, variant, no_network=no_network,
                                           deadline_s=deadline_s, console=out,
                                           record=recording))
            recording = None  # recorded once per model: its other variants compare with it
    if not reports:
        raise ContainerError("no image to test: build one with `invoke build` first")
    return reports


__all__ = ["run_all", "run_image_tests"]
