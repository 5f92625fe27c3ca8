"""Uncompressed model data: the model folder's files as they are, without ``model.tar.gz``.

A model with ``model_data = "uncompressed"`` is packaged as a manifest only
(``dist/<model>/manifest.json``: every file with its size and sha256, and one digest of the
whole listing), published as one S3 object per file under a prefix, and loaded by
SageMaker from that prefix (``ModelDataSource`` with ``S3DataType: S3Prefix`` and
``CompressionType: None``), which downloads each object to ``/opt/ml/model/<its key below
the prefix>``. Large weights skip compression on the way up and extraction at start-up.

S3 has no folders, symlinks or file modes: only regular files are published (a symlink
is refused by name, an empty folder does not reach SageMaker), and ``invoke test`` mounts
exactly the listed files, checked against their sha256, as SageMaker lays them out.
Nothing is copied at packaging time: publish and test read the model folder itself and
refuse a file that changed since ``invoke package``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sagepack.archive import CHUNK, MANIFEST_NAME, collect
from sagepack.config import UNCOMPRESSED, ModelConfig, Settings
from sagepack.errors import ArchiveError
from sagepack.files import write_json

#: SageMaker's limit on each name of an S3 key below the prefix (file or folder name).
MAX_NAME_BYTES = 255
FILE_MODE = 0o644


@dataclass(frozen=True)
class DataFile:
    """One file of the model: ``name`` is its path below ``/opt/ml/model`` and its S3 key
    below the prefix."""

    name: str
    path: Path
    size: int
    sha256: str


@dataclass(frozen=True)
class DataFiles:
    """The files ``invoke package`` listed for one model."""

    model: str
    version: str
    manifest: Path
    files: tuple[DataFile, ...]

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def digest(self) -> str:
        return listing_digest((f.name, f.size, f.sha256) for f in self.files)


def listing_digest(entries: Iterable[tuple[str, int, str]]) -> str:
    """One sha256 for a listing of ``(name, size, sha256)``: what the data is, as a whole."""
    data = json.dumps(sorted(entries), separators=(",", ":")).encode()
    return hashlib.sha256(data).hexdigest()


def manifest_path(settings: Settings, model: ModelConfig) -> Path:
    return settings.project.dist_for(model.name) / MANIFEST_NAME


def _name_problem(name: str) -> str | None:
    for part in name.split("/"):
        if not part.strip():
            return "a blank file or folder name"
        if len(part.encode()) > MAX_NAME_BYTES:
            return f"a name longer than {MAX_NAME_BYTES} bytes ({part[:40]}...)"
    return None


def collect_files(model: ModelConfig) -> list[tuple[str, Path, int]]:
    """``(name, path, size)`` of each file that goes to S3; refuses what S3 cannot hold."""
    files = []
    for member in collect(model.root, model.exclude):
        if member.kind == "symlink":
            raise ArchiveError(f"{member.path} is a symlink, and S3 holds no symlinks: with "
                               f"model_data = 'uncompressed' ({model.config_file}) put the "
                               "file itself there, or leave the link out (exclude)",
                               member.path)
        if member.kind != "file":
            continue
        problem = _name_problem(member.name)
        if problem:
            raise ArchiveError(f"{member.path}: SageMaker refuses {problem} in uncompressed "
                               "model data; rename it", member.path)
        files.append((member.name, member.path, member.size))
    if not any(name == model.handler for name, _, _ in files):
        raise ArchiveError(f"the handler {model.handler} would not be in the model data of "
                           f"{model.name}: it is excluded by {model.config_file} 'exclude' "
                           "or .sagepackignore", model.root / model.handler)
    return files


def _threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def _hash(path: Path, size: int, sink: Callable[[bytes], Any] | None = None) -> str:
    """The sha256 of ``path`` (each block also given to ``sink``); refuses a file whose
    size is not ``size`` any more."""
    digest = hashlib.sha256()
    read = 0
    with path.open("rb") as fh:
        while block := fh.read(CHUNK):
            digest.update(block)
            read += len(block)
            if sink is not None:
                sink(block)
    if read != size:
        raise ArchiveError(f"file changed while reading it: {path} ({read} bytes, not "
                           f"{size})", path)
    return digest.hexdigest()


@dataclass(frozen=True)
class FilesResult:
    manifest: Path
    files: int
    size: int
    digest: str
    seconds: float


def pack_files(model: ModelConfig, dest_dir: Path, *, threads: int | None = None) -> FilesResult:
    """List ``model``'s files with their sizes and sha256 in ``dest_dir/manifest.json``."""
    started = time.perf_counter()
    listed = collect_files(model)
    with ThreadPoolExecutor(threads or _threads()) as pool:
        digests = list(pool.map(lambda f: _hash(f[1], f[2]), listed))
    entries = [(name, size, sha) for (name, _, size), sha in zip(listed, digests, strict=True)]
    digest = listing_digest(entries)
    total = sum(size for _, size, _ in entries)
    manifest = dest_dir / MANIFEST_NAME
    write_json(manifest, {
        "model": model.name, "version": model.version, "model_data": UNCOMPRESSED,
        "files": {"count": len(entries), "size": total, "sha256": digest},
        "members": [{"name": name, "type": "file", "size": size, "sha256": sha}
                    for name, size, sha in entries],
    })
    return FilesResult(manifest=manifest, files=len(entries), size=total, digest=digest,
                       seconds=time.perf_counter() - started)


def package_files(settings: Settings, models: Sequence[ModelConfig]) -> list[FilesResult]:
    """``invoke package`` of the models with uncompressed data: their manifests."""
    from sagepack.progress import table

    results = [pack_files(m, settings.project.dist_for(m.name)) for m in models]
    if results:
        table("listed (uncompressed model data)", ["model", "files", "bytes", "seconds",
                                                   "sha256 of the listing"],
              [[m.name, r.files, f"{r.size:,}", f"{r.seconds:.2f}", r.digest[:16]]
               for m, r in zip(models, results, strict=True)])
    for r in results:
        print(f"{r.manifest}  (files published as they are, no archive)")
    return results


def read_files(settings: Settings, model: ModelConfig) -> DataFiles:
    """The files ``invoke package`` listed for ``model``, refused when the manifest is
    missing, of an archive, of another version, or edited by hand."""
    manifest = manifest_path(settings, model)
    again = f"run: invoke package --model {model.name}"
    try:
        data = json.loads(manifest.read_text())
    except FileNotFoundError:
        raise ArchiveError(f"{manifest}: not found ({again}); {model.name} has "
                           "model_data = 'uncompressed'", manifest) from None
    except (OSError, ValueError) as exc:
        raise ArchiveError(f"{manifest}: unreadable manifest: {exc}; {again}", manifest) from exc
    if not isinstance(data, dict) or data.get("model_data") != UNCOMPRESSED:
        raise ArchiveError(f"{manifest} describes a model.tar.gz archive, but "
                           f"{model.config_file} says model_data = 'uncompressed'; {again}",
                           manifest)
    if data.get("version") != model.version:
        raise ArchiveError(f"{manifest} is of version {data.get('version')!r}, not "
                           f"{model.version!r}; {again}", manifest)
    try:
        files = tuple(DataFile(name=str(m["name"]), path=model.root / str(m["name"]),
                               size=int(m["size"]), sha256=str(m["sha256"]))
                      for m in data["members"])
        recorded = str(data["files"]["sha256"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ArchiveError(f"{manifest}: malformed listing ({exc!r}); {again}",
                           manifest) from exc
    listing = DataFiles(model=model.name, version=model.version, manifest=manifest,
                        files=files)
    if listing.digest != recorded:
        raise ArchiveError(f"{manifest}: its listing does not match its own sha256 "
                           f"{recorded}; {again}", manifest)
    return listing


def changed(data: DataFiles, file: DataFile, found: str) -> ArchiveError:
    return ArchiveError(f"{file.path} changed since invoke package (sha256 {found}, "
                        f"{data.manifest} lists {file.sha256}); re-run: invoke package "
                        f"--model {data.model}", file.path)


def _place(data: DataFiles, file: DataFile, target: Path) -> None:
    """``file`` at ``target``: a hard link when it has the mode SageMaker gives downloaded
    files and lies on the same file system, else a copy; its sha256 is checked either way."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        linked = (file.path.stat().st_mode & 0o777) == FILE_MODE
        if linked:
            os.link(file.path, target)
    except FileNotFoundError:
        raise ArchiveError(f"{file.path}: listed in {data.manifest} but missing; re-run: "
                           f"invoke package --model {data.model}", file.path) from None
    except OSError:  # another file system, or links not allowed
        linked = False
    if linked:
        found = _hash(target, file.size)
    else:
        with target.open("wb") as out:
            found = _hash(file.path, file.size, out.write)
        target.chmod(FILE_MODE)
    if found != file.sha256:
        raise changed(data, file, found)


@contextlib.contextmanager
def staged(data: DataFiles, parent: Path) -> Iterator[Path]:
    """A folder below ``parent`` holding exactly ``data``'s files, as SageMaker lays them
    out in ``/opt/ml/model``; removed afterwards."""
    parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=parent, prefix=".model-data-"))
    try:
        root = scratch / "model"
        root.mkdir()
        with ThreadPoolExecutor(_threads()) as pool:
            list(pool.map(lambda f: _place(data, f, root / f.name), data.files))
        for folder in [root, *(p for p in root.rglob("*") if p.is_dir())]:
            folder.chmod(0o755)
        yield root
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def container_data(s3_uri: str, model_data: str) -> dict[str, Any]:
    """The fields of a SageMaker container definition (``CreateModel``'s
    ``PrimaryContainer``, a model package's container) that name the model data: the
    archive's ``ModelDataUrl``, or the uncompressed files' prefix as ``ModelDataSource``."""
    if model_data == UNCOMPRESSED:
        return {"ModelDataSource": {"S3DataSource": {
            "S3Uri": s3_uri, "S3DataType": "S3Prefix", "CompressionType": "None"}}}
    return {"ModelDataUrl": s3_uri}


def container_data_uri(container: dict[str, Any]) -> str | None:
    """The S3 URI a described container's model data is at (either form)."""
    source = container.get("ModelDataSource", {}).get("S3DataSource", {})
    uri = container.get("ModelDataUrl") or source.get("S3Uri")
    return str(uri) if uri else None
