"""The ``model-loads`` build check: ``serve --check`` inside the built image.

The image's own ``serve --check`` loads the handler and the model once, as a worker does,
and ends its stdout with a JSON line (:func:`sagepack.serving.cli.check_result`): whether
the model loaded, the error if not, and every warning ``model_fn`` raised (scikit-learn's
``InconsistentVersionWarning`` for a pickle made by another version, say). A build shows
those warnings, and fails when the model does not load.

Where the model comes from: a baked image holds it; a dynamic one is given the packaged
archive (``dist/<model>/model.tar.gz``, extracted safely) read-only at ``/opt/ml/model``,
as SageMaker would, or with uncompressed model data the files ``invoke package`` listed.
Without a packaged archive (or listing) the check is skipped, and says so; a multi-model
image loads no model at start, and the check says that too.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import docker

from sagepack.checks import SKIPPED, CheckResult
from sagepack.config import ModelConfig, Settings
from sagepack.errors import ArchiveError, ImageError
from sagepack.images.checks import run_in_image
from sagepack.serving.cli import check_result
from sagepack.serving.parameters import DEFAULT_MODEL_DIR

CHECK_NAME = "model-loads"
LOAD_TIMEOUT_S = 300


def check_model_load(client: docker.DockerClient, image: str, *,
                     archive: Path | None, baked: bool) -> CheckResult:
    """Run ``serve --check`` in ``image`` (the model baked in, or ``archive`` mounted)."""
    if baked:
        return _run(client, image, None)
    if archive is None or not archive.is_file():
        return CheckResult(CHECK_NAME, SKIPPED, detail="no packaged archive to load: run "
                           "`invoke package` first to check the model loads in the image")
    from sagepack.archive import safe_extract

    with tempfile.TemporaryDirectory(prefix="sagepack-load-check-") as work:
        folder = safe_extract(archive, Path(work) / "model")
        return _run(client, image, folder)


def check_listed_model_load(client: docker.DockerClient, image: str, settings: Settings,
                            model: ModelConfig) -> CheckResult:
    """Run ``serve --check`` with the files of uncompressed model data mounted."""
    from sagepack.model_data import manifest_path, read_files, staged

    if not manifest_path(settings, model).is_file():
        return CheckResult(CHECK_NAME, SKIPPED, detail="no packaged model data to load: run "
                           "`invoke package` first to check the model loads in the image")
    try:
        data = read_files(settings, model)
        with staged(data, settings.project.dist_for(model.name)) as folder:
            return _run(client, image, folder)
    except ArchiveError as exc:
        return CheckResult(CHECK_NAME, SKIPPED, detail=f"the packaged model data cannot be "
                           f"mounted: {exc}")


def _run(client: docker.DockerClient, image: str, model_dir: Path | None) -> CheckResult:
    volumes = ({str(model_dir): {"bind": DEFAULT_MODEL_DIR, "mode": "ro"}}
               if model_dir is not None else None)
    try:
        status, stdout = run_in_image(client, image, ["serve", "--check"], LOAD_TIMEOUT_S,
                                      volumes=volumes, stderr=False)
    except ImageError as exc:  # it did not finish in time: the model does not load
        return CheckResult.of(CHECK_NAME, False, str(exc))
    try:
        result = check_result(stdout)
    except ValueError as exc:
        return CheckResult.of(CHECK_NAME, False, f"serve --check exited {status}: {exc}")
    warnings = [f"{w['category']}: {w['message']} ({w['filename']}:{w['lineno']})"
                for w in result["warnings"]]
    warned = f"; model_fn warned: {'; '.join(warnings)}" if warnings else ""
    if status != 0 or not result["loaded"]:
        return CheckResult.of(CHECK_NAME, False,
                              f"the model did not load: {result['error']}{warned}")
    return CheckResult.of(CHECK_NAME, True, f"the model loads{warned or ', no warnings'}")
