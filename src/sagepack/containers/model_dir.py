"""The folder mounted at /opt/ml/model: the packaged archive, safely extracted, or with
uncompressed model data the files ``invoke package`` listed, as SageMaker lays them out."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from sagepack.archive import ARCHIVE_NAME, safe_extract
from sagepack.config import UNCOMPRESSED, ModelConfig, Settings
from sagepack.containers.labels import artifact_mode
from sagepack.errors import ArchiveError


def archive_path(settings: Settings, model: ModelConfig) -> Path:
    return settings.project.dist_for(model.name) / ARCHIVE_NAME


def _readable(root: Path) -> None:
    """Let any user in the container read the model (images may not run as root)."""
    for folder, dirs, files in os.walk(root):
        base = Path(folder)
        base.chmod(base.stat().st_mode | 0o555)
        for name in files:
            path = base / name
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | 0o444)
        del dirs  # walked by os.walk


@contextlib.contextmanager
def model_directory(settings: Settings, model: ModelConfig, *,
                    labels: Mapping[str, str] | None = None,
                    archive: Path | None = None) -> Iterator[Path | None]:
    """Yield the extracted model folder (``None`` for images with the model baked in).

    The archive ``invoke package`` wrote (``dist/<model>/model.tar.gz``) is extracted with
    sagepack's safe extraction into a temporary folder, removed afterwards. A model with
    uncompressed data gets exactly its listed files (each checked against its sha256), in
    a temporary folder beside the manifest (:func:`sagepack.model_data.staged`).
    """
    # Baked: the model is in the image; multi-model: /opt/ml/models holds the models.
    if artifact_mode(labels, model.artifact_mode) == "baked" or model.multi_model:
        yield None
        return
    if archive is None and model.model_data == UNCOMPRESSED:
        from sagepack.model_data import read_files, staged

        with staged(read_files(settings, model),
                    settings.project.dist_for(model.name)) as folder:
            yield folder
        return
    archive = archive or archive_path(settings, model)
    if not archive.is_file():
        raise ArchiveError(f"{archive} does not exist: run `invoke package --model "
                           f"{model.name}` first (the image loads its model from it)", archive)
    scratch = Path(tempfile.mkdtemp(prefix=f"sagepack-{model.name}-"))
    try:
        target = scratch / "model"
        safe_extract(archive, target, max_bytes=settings.project.max_archive_bytes,
                     max_members=settings.project.max_archive_members)
        _readable(target)
        yield target
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
