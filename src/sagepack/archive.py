"""Model archives: pack a model folder into a deterministic ``model.tar.gz``, and extract
archives safely.

The archive is laid out as SageMaker extracts it into ``/opt/ml/model``. The same inputs
give byte-identical archives on any machine: members sorted, mtimes from
``SOURCE_DATE_EPOCH`` (or 0), uid/gid 0 with no user names, modes normalised (0644, or
0755 for executables and folders), and a gzip header with neither file name nor time.
Compression is parallel (:mod:`sagepack.tarwriter`, python-isal's threaded igzip) but the
output is one standard gzip stream that GNU tar and SageMaker read.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pathspec

from sagepack.config import IGNORE_FILE_NAME, MODEL_CONFIG_NAME, UNCOMPRESSED, ModelConfig, Settings
from sagepack.errors import ArchiveError, UnsafeArchiveError
from sagepack.files import atomic_path, write_json

ARCHIVE_NAME = "model.tar.gz"
MANIFEST_NAME = "manifest.json"
# Never packed: caches, VCS folders, OS and editor droppings.
JUNK_PATTERNS = (
    "__pycache__/", "*.pyc", "*.pyo", ".git/", ".hg/", ".svn/", ".DS_Store", "Thumbs.db",
    "*.swp", "*.swo", "*~", ".#*", "#*#", ".idea/", ".vscode/", ".ipynb_checkpoints/",
    ".pytest_cache/", ".mypy_cache/",
)
CHUNK = 4 * 1024 * 1024
DEFAULT_MAX_BYTES = 50 * 1024**3
DEFAULT_MAX_MEMBERS = 100_000


@dataclass(frozen=True)
class Member:
    """One file, folder or link to pack, relative to the model folder."""

    path: Path
    name: str
    kind: str  # "file", "dir" or "symlink"
    size: int
    mode: int
    link: str = ""


@dataclass(frozen=True)
class PackResult:
    archive: Path
    manifest: Path
    sha256: str
    size: int
    files: int
    bytes_in: int
    seconds: float


# --- choosing members ----------------------------------------------------------------


def _read_ignore_file(root: Path) -> tuple[str, ...]:
    file = root / IGNORE_FILE_NAME
    if not file.is_file():
        return ()
    lines = file.read_text(encoding="utf-8").splitlines()
    return tuple(s for line in lines if (s := line.strip()) and not s.startswith("#"))


def _compile(sources: Sequence[tuple[str, Sequence[str]]]) -> pathspec.GitIgnoreSpec:
    """One gitignore spec from the patterns of each source, in order (the last pattern
    that matches a path decides, so a later ``!pattern`` takes a path back in)."""
    for source, patterns in sources:
        for pattern in patterns:
            try:
                pathspec.GitIgnoreSpec.from_lines([pattern])
            except ValueError as exc:
                raise ArchiveError(f"{source}: invalid pattern {pattern!r}: {exc}") from None
    return pathspec.GitIgnoreSpec.from_lines(
        [pattern for _, patterns in sources for pattern in patterns])


def _matches(rel: str, is_dir: bool, spec: pathspec.GitIgnoreSpec) -> bool:
    """gitignore matching (``dir/`` matches folders only, a pattern with a slash before
    its end is anchored at the model folder, ``**`` spans folders, ``!`` negates)."""
    return spec.match_file(f"{rel}/" if is_dir else rel)


def collect(root: Path, exclude: Sequence[str] = ()) -> list[Member]:
    """The members of ``root`` to pack, sorted by name; refuses what cannot be packed."""
    root = root.resolve()
    patterns = _compile([("sagepack's junk patterns", JUNK_PATTERNS),
                         (f"{root / MODEL_CONFIG_NAME} 'exclude'", exclude),
                         (str(root / IGNORE_FILE_NAME), _read_ignore_file(root))])
    members: list[Member] = []

    def walk(folder: Path) -> None:
        with os.scandir(folder) as entries:
            children = sorted(entries, key=lambda e: e.name)
        for entry in children:
            path = Path(entry.path)
            rel = path.relative_to(root).as_posix()
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                target = path.resolve()
                if not target.is_relative_to(root):
                    raise ArchiveError(f"refusing symlink that leaves the model folder: "
                                       f"{path} -> {path.readlink()}", path)
                if _matches(rel, target.is_dir(), patterns):
                    continue
                link = os.path.relpath(target, path.parent)
                members.append(Member(path, rel, "symlink", 0, 0o777, PurePosixPath(
                    *Path(link).parts).as_posix()))
            elif stat.S_ISDIR(st.st_mode):
                if _matches(rel, True, patterns):
                    continue
                members.append(Member(path, rel, "dir", 0, 0o755))
                walk(path)
            elif stat.S_ISREG(st.st_mode):
                if _matches(rel, False, patterns):
                    continue
                mode = 0o755 if st.st_mode & 0o111 else 0o644
                members.append(Member(path, rel, "file", st.st_size, mode))
            else:
                kind = ("socket" if stat.S_ISSOCK(st.st_mode) else
                        "device file" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
                        else "FIFO" if stat.S_ISFIFO(st.st_mode) else "special file")
                raise ArchiveError(f"refusing {kind}: {path}", path)

    walk(root)
    return members


# --- packing -------------------------------------------------------------------------


def _tarinfo(member: Member, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(member.name)
    info.mtime = mtime
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = member.mode
    if member.kind == "dir":
        info.type = tarfile.DIRTYPE
    elif member.kind == "symlink":
        info.type = tarfile.SYMTYPE
        info.linkname = member.link
    else:
        info.size = member.size
    return info


def _source_date_epoch(value: int | str | None) -> int:
    """The members' mtime: the argument (flag, else ``$SOURCE_DATE_EPOCH``), else 0."""
    raw = "" if value is None else str(value).strip()
    if not raw:
        return 0
    try:
        return int(raw)
    except ValueError:
        raise ArchiveError(f"source date epoch must be a whole number of seconds, "
                           f"got {raw!r}") from None


@dataclass(frozen=True)
class Written:
    """What :func:`write_archive` wrote: the archive's sha256 and each file's by name."""

    sha256: str
    files: dict[str, str]


def write_archive(members: Sequence[Member], dest: Path, *, mtime: int = 0,
                  threads: int | None = None,
                  advance: Callable[[int], None] = lambda n: None) -> Written:
    """Write ``members`` to the gzip'd tar ``dest`` (through a temporary name)."""
    from sagepack.tarwriter import TarGzWriter

    threads = threads or max(1, min(4, os.cpu_count() or 1))
    digests: dict[str, str] = {}
    with atomic_path(dest) as tmp, tmp.open("wb") as raw:
        writer = TarGzWriter(raw, threads=threads, chunk=CHUNK)
        try:
            for member in members:
                info = _tarinfo(member, mtime)
                if member.kind == "file":
                    digests[member.name] = writer.add_file(info, member.path, advance)
                else:
                    writer.add(info)
        except BaseException:
            writer.abort()
            raise
        sha256 = writer.close()
    return Written(sha256=sha256, files=digests)


def pack(model: ModelConfig, dest_dir: Path, *, source_date_epoch: int | str | None = None,
         threads: int | None = None, progress: bool = True) -> PackResult:
    """Pack ``model``'s folder into ``dest_dir/model.tar.gz`` and write its manifest."""
    from sagepack.progress import byte_progress

    started = time.perf_counter()
    mtime = _source_date_epoch(source_date_epoch)
    members = collect(model.root, model.exclude)
    handler = model.handler
    if not any(m.name == handler and m.kind == "file" for m in members):
        raise ArchiveError(f"the handler {handler} would not be in the archive of "
                           f"{model.name}: it is excluded by {model.config_file} 'exclude' "
                           f"or {IGNORE_FILE_NAME}", model.root / handler)
    total = sum(m.size for m in members)
    archive = dest_dir / ARCHIVE_NAME
    with byte_progress(f"packing {model.name}", total, enabled=progress) as advance:
        written = write_archive(members, archive, mtime=mtime, threads=threads,
                                advance=advance)
    sha256, digests = written.sha256, written.files
    size = archive.stat().st_size
    manifest = dest_dir / MANIFEST_NAME
    write_json(manifest, {
        "model": model.name,
        "version": model.version,
        "archive": {"path": ARCHIVE_NAME, "sha256": sha256, "size": size},
        "source_date_epoch": mtime,
        "members": [
            {"name": m.name, "type": m.kind, "mode": f"{m.mode:04o}",
             **({"size": m.size, "sha256": digests[m.name]} if m.kind == "file" else {}),
             **({"target": m.link} if m.kind == "symlink" else {})}
            for m in members
        ],
    })
    return PackResult(archive=archive, manifest=manifest, sha256=sha256, size=size,
                      files=sum(1 for m in members if m.kind == "file"), bytes_in=total,
                      seconds=time.perf_counter() - started)


# --- safe extraction -----------------------------------------------------------------


def _check_member(info: tarfile.TarInfo, archive: Path) -> None:
    name = info.name
    path = PurePosixPath(name)
    if name.startswith(("/", "\\")) or path.is_absolute() or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchiveError(f"{archive}: member {name!r} has an absolute path", name,
                                 archive)
    if ".." in path.parts:
        raise UnsafeArchiveError(f"{archive}: member {name!r} contains '..'", name, archive)
    if info.ischr() or info.isblk() or info.isfifo():
        raise UnsafeArchiveError(f"{archive}: member {name!r} is a device or FIFO", name,
                                 archive)
    if not (info.isfile() or info.isdir() or info.issym() or info.islnk()):
        raise UnsafeArchiveError(f"{archive}: member {name!r} has unsupported type "
                                 f"{info.type!r}", name, archive)
    if info.issym() or info.islnk():
        target = PurePosixPath(info.linkname)
        base = path.parent if info.issym() else PurePosixPath()
        parts: list[str] = []
        for part in (base / target).parts if not target.is_absolute() else ("/",):
            if part == "/":
                parts = [".."]  # absolute targets always leave the destination
                break
            if part == "..":
                if not parts:
                    parts = [".."]
                    break
                parts.pop()
            elif part != ".":
                parts.append(part)
        if parts[:1] == [".."]:
            kind = "symlink" if info.issym() else "hard link"
            raise UnsafeArchiveError(f"{archive}: member {name!r} is a {kind} pointing "
                                     f"outside the destination ({info.linkname!r})", name,
                                     archive)


def _iter_checked(tar: tarfile.TarFile, archive: Path, max_bytes: int,
                  max_members: int) -> Iterator[tarfile.TarInfo]:
    total = 0
    for count, info in enumerate(tar, start=1):
        if count > max_members:
            raise UnsafeArchiveError(f"{archive}: more than {max_members} members (at "
                                     f"{info.name!r}); raise the limit if this is expected",
                                     info.name, archive)
        _check_member(info, archive)
        total += info.size
        if total > max_bytes:
            raise UnsafeArchiveError(f"{archive}: uncompressed size exceeds {max_bytes} "
                                     f"bytes at member {info.name!r}", info.name, archive)
        yield info


def check_archive(archive: Path, *, max_bytes: int = DEFAULT_MAX_BYTES,
                  max_members: int = DEFAULT_MAX_MEMBERS) -> list[tarfile.TarInfo]:
    """Read every header of ``archive`` and refuse anything unsafe; returns the members."""
    import tarsafe

    try:
        with tarsafe.TarSafe.open(archive, "r:*") as tar:
            return list(_iter_checked(tar, archive, max_bytes, max_members))
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ArchiveError(f"{archive}: not a readable tar archive: {exc}", archive) from exc


def safe_extract(archive: Path, dest: Path, *, max_bytes: int = DEFAULT_MAX_BYTES,
                 max_members: int = DEFAULT_MAX_MEMBERS) -> Path:
    """Extract ``archive`` into ``dest`` (which must not exist or be empty).

    Every member is checked before anything is written (absolute paths, ``..``, links
    leaving the destination, devices, total size and member count); extraction goes to a
    temporary folder beside ``dest`` that is renamed into place only when complete.
    """
    import tarsafe

    archive = Path(archive)
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ArchiveError(f"extraction destination is not an empty folder: {dest}", dest)
    check_archive(archive, max_bytes=max_bytes, max_members=max_members)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.extract-"))
    try:
        with tarsafe.TarSafe.open(archive, "r:*") as tar:
            tar.extraction_filter = tarfile.data_filter
            tar.extractall(staging)
        staging.chmod(0o755)
        if dest.exists():
            dest.rmdir()
        staging.rename(dest)
    except tarsafe.TarSafeException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise UnsafeArchiveError(f"{archive}: {exc}", str(exc), archive) from exc
    except (tarfile.TarError, EOFError, OSError) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise ArchiveError(f"{archive}: extraction failed: {exc}", archive) from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return dest


def package_models(settings: Settings, models: Sequence[ModelConfig], *,
                   source_date_epoch: int | str | None = None) -> list[PackResult]:
    """``invoke package``: pack each model into ``dist/<name>/`` and print a summary."""
    from sagepack.model_data import package_files
    from sagepack.progress import table

    epoch = source_date_epoch if source_date_epoch is not None else \
        settings.project.source_date_epoch
    for skipped in [m for m in models if m.multi_model]:
        print(f"{skipped.name}: a multi-model image has no archive of its own (it is tested "
              f"with the archives of {', '.join(skipped.test_models)})")
    package_files(settings, [m for m in models if m.model_data == UNCOMPRESSED])
    models = [m for m in models if not m.multi_model and m.model_data != UNCOMPRESSED]
    results = [pack(m, settings.project.dist_for(m.name), source_date_epoch=epoch)
               for m in models]
    if results:
        table("packaged", ["model", "files", "bytes in", "bytes out", "seconds", "sha256"],
              [[m.name, r.files, f"{r.bytes_in:,}", f"{r.size:,}", f"{r.seconds:.2f}",
                r.sha256[:16]] for m, r in zip(models, results, strict=True)])
    for r in results:
        print(f"{r.archive}  (manifest: {r.manifest.name})")
    return results
