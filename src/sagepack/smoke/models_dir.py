"""The folder mounted at /opt/ml/models for a multi-model image's checks: the packaged
archive of each of its test models, extracted where SageMaker puts them
(``<folder>/<name>/model``), so that the checks load them through ``POST /models``."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from sagepack.archive import ARCHIVE_NAME, safe_extract
from sagepack.config import UNCOMPRESSED, ModelConfig, Settings
from sagepack.errors import ArchiveError, ConfigError, ConfigProblem


def model_subdir(name: str) -> str:
    """Where a test model lies below the mounted folder (and below /opt/ml/models)."""
    return f"{name}/model"


def test_archives(settings: Settings, model: ModelConfig) -> dict[str, Path]:
    """The packaged archive of each of ``model``'s test models, which must exist."""
    archives: dict[str, Path] = {}
    for name in model.test_models:
        if name not in settings.models:
            raise ConfigError([ConfigProblem(model.config_file, "test_models",
                                             f"{name!r}: no such model")])
        if settings.models[name].model_data == UNCOMPRESSED:
            raise ConfigError([ConfigProblem(model.config_file, "test_models", (
                f"{name!r} has model_data = 'uncompressed', and a multi-model endpoint loads "
                "each model from a model.tar.gz archive"))])
        archive = settings.project.dist_for(name) / ARCHIVE_NAME
        if not archive.is_file():
            raise ArchiveError(f"{archive} does not exist: run `invoke package --model {name}` "
                               f"first ({model.name} is tested with it)", archive)
        archives[name] = archive
    return archives


@contextlib.contextmanager
def models_directory(settings: Settings, model: ModelConfig) -> Iterator[Path | None]:
    """Yield the extracted test models' folder (``None`` for a single-model image); it is
    removed afterwards."""
    if not model.multi_model:
        yield None
        return
    archives = test_archives(settings, model)
    scratch = Path(tempfile.mkdtemp(prefix=f"sagepack-{model.name}-models-"))
    try:
        for name, archive in archives.items():
            target = scratch / model_subdir(name)
            target.parent.mkdir()
            safe_extract(archive, target, max_bytes=settings.project.max_archive_bytes,
                         max_members=settings.project.max_archive_members)
        for path in [scratch, *scratch.rglob("*")]:  # any user in the container reads it
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | (0o555 if path.is_dir() else 0o444))
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
