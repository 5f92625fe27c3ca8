"""Base images: built locally from Debian's packages, or pulled when a variant names another.

A name under ``sagepack/base`` is built here: ``debootstrap --variant=minbase`` of a Debian
suite with Python 3 and CA certificates, package caches and documentation removed (copyright
files kept), packed as a sorted tar with numeric owners and imported through the Docker SDK.
Every base gets a dated alias (``sagepack/base:bookworm-python3.11-20261126``). Any other
name (``python:3.11-slim-bookworm``, an ``nvidia/cuda`` runtime image) is pulled as usual.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.errors import APIError, ImageNotFound

from sagepack.config import Settings
from sagepack.errors import ImageError
from sagepack.images.environment import DEFAULT_MIRROR
from sagepack.images.platform import DOCKER_PLATFORM

LOCAL_BASE_REPOSITORY = "sagepack/base"
PLATFORM = DOCKER_PLATFORM
# Removed from the root file system after debootstrap (relative to the root).
CLEAN_PATHS = (
    "var/cache/apt/archives", "var/cache/apt/pkgcache.bin", "var/cache/apt/srcpkgcache.bin",
    "var/lib/apt/lists", "var/cache/debconf/templates.dat-old", "var/lib/dpkg/status-old",
    "var/cache/ldconfig/aux-cache", "usr/share/man", "usr/share/info", "usr/share/lintian",
    "usr/share/locale", "usr/share/doc-base", "usr/share/common-licenses",
    "var/log", "etc/hostname", "etc/resolv.conf",
)
# Kept empty: the engine mounts or fills them.
EMPTY_DIRS = ("dev", "proc", "sys", "run", "tmp", "var/tmp", "var/log")


@dataclass(frozen=True)
class BaseRecipe:
    """How one local base image is made."""

    tag: str
    suite: str
    packages: tuple[str, ...]
    description: str

    @property
    def name(self) -> str:
        return f"{LOCAL_BASE_REPOSITORY}:{self.tag}"


RECIPES: dict[str, BaseRecipe] = {
    r.name: r for r in (
        BaseRecipe("bookworm-python3.11", "bookworm",
                   ("python3", "python3-venv", "ca-certificates"),
                   "Debian bookworm minbase with Python 3.11 and CA certificates"),
        # The naive recipe's base: `apt-get install python3-pip` without
        # --no-install-recommends, i.e. with pip's Recommends (compilers, headers).
        BaseRecipe("bookworm-python3.11-pip", "bookworm",
                   ("python3", "python3-venv", "ca-certificates", "python3-pip",
                    "build-essential", "python3-dev"),
                   "Debian bookworm minbase with Python 3.11, pip and its recommends"),
    )
}

Log = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


def is_local_base(name: str) -> bool:
    return name.split(":", 1)[0] == LOCAL_BASE_REPOSITORY


def dated_alias(recipe: BaseRecipe, when: float | None = None) -> str:
    day = time.strftime("%Y%m%d", time.gmtime(time.time() if when is None else when))
    return f"{recipe.name}-{day}"


def _image_id(client: docker.DockerClient, name: str) -> str | None:
    try:
        return str(client.images.get(name).id)
    except ImageNotFound:
        return None


def ensure_base(client: docker.DockerClient, name: str, *, rebuild: bool = False,
                mirror: str = DEFAULT_MIRROR, log: Log = _quiet) -> str:
    """Make sure the base image ``name`` is present; return its image id.

    Present images are reused unless ``rebuild``. Names under ``sagepack/base`` are built
    locally from Debian's packages; other names are pulled.
    """
    present = _image_id(client, name)
    if present is not None and not rebuild:
        return present
    if not is_local_base(name):
        return _pull(client, name, log)
    recipe = RECIPES.get(name)
    if recipe is None:
        known = ", ".join(sorted(RECIPES))
        raise ImageError(f"no recipe for base image {name} (sagepack builds: {known})")
    log(f"building base image {name} from Debian {recipe.suite} packages")
    return build_base(client, recipe, mirror=mirror, log=log)


def _pull(client: docker.DockerClient, name: str, log: Log) -> str:
    repository, _, tag = name.rpartition(":") if ":" in name.split("/")[-1] else (name, "", "")
    log(f"pulling base image {name}")
    try:
        image = client.images.pull(repository, tag=tag or "latest", platform=PLATFORM)
    except (APIError, ImageNotFound) as exc:
        raise ImageError(f"cannot pull base image {name}: {exc}. Name a reachable image "
                         f"in base_image, or use a local {LOCAL_BASE_REPOSITORY} base") from exc
    return str(image.id)


# --- building a local base -------------------------------------------------------------


def debootstrap(recipe: BaseRecipe, rootfs: Path, mirror: str) -> None:
    """Run debootstrap (needs root) into ``rootfs``."""
    exe = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    if not Path(exe).exists():
        raise ImageError("debootstrap is not installed (apt-get install debootstrap); "
                         f"it builds {recipe.name}")
    argv = [exe, "--variant=minbase", f"--include={','.join(recipe.packages)}",
            recipe.suite, str(rootfs), mirror]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise ImageError(f"debootstrap of {recipe.name} failed (exit {proc.returncode}):\n{tail}")


def clean_rootfs(rootfs: Path) -> None:
    """Remove package caches, lists, docs (keeping copyright files), locales and logs."""
    for rel in CLEAN_PATHS:
        path = rootfs / rel
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
    doc = rootfs / "usr/share/doc"
    if doc.is_dir():
        for entry in doc.rglob("*"):
            if entry.is_file() and entry.name != "copyright":
                entry.unlink()
    for rel in EMPTY_DIRS:
        path = rootfs / rel
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        path.mkdir(mode=0o1777 if rel in ("tmp", "var/tmp") else 0o755, exist_ok=True)
    for rel in ("tmp", "var/tmp"):
        (rootfs / rel).chmod(0o1777)
    (rootfs / "var/lib/apt/lists/partial").mkdir(parents=True, exist_ok=True)
    (rootfs / "var/cache/apt/archives/partial").mkdir(parents=True, exist_ok=True)
    machine_id = rootfs / "etc/machine-id"
    if machine_id.exists():
        machine_id.write_text("")


def _walk_sorted(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        base = Path(dirpath)
        for name in sorted([*dirnames, *filenames]):
            yield base / name


def pack_rootfs(rootfs: Path, dest: Path, mtime: int | None = None) -> None:
    """Tar ``rootfs`` sorted, with numeric owners (and mtimes clamped to ``mtime``)."""

    def normalise(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uname = ""
        info.gname = ""
        if mtime is not None and info.mtime > mtime:
            info.mtime = mtime
        return info

    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as tar:
        for path in _walk_sorted(rootfs):
            tar.add(path, arcname=str(path.relative_to(rootfs)), recursive=False,
                    filter=normalise)


def build_base(client: docker.DockerClient, recipe: BaseRecipe, *,
               mirror: str = DEFAULT_MIRROR, log: Log = _quiet,
               source_date_epoch: int | None = None) -> str:
    """debootstrap, clean, pack and import ``recipe``; tag it and its dated alias."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sagepack-base-", dir="/var/tmp") as work:
        rootfs = Path(work) / "rootfs"
        log(f"debootstrap {recipe.suite} ({', '.join(recipe.packages)}) from {mirror}")
        debootstrap(recipe, rootfs, mirror)
        clean_rootfs(rootfs)
        tar_path = Path(work) / "rootfs.tar"
        pack_rootfs(rootfs, tar_path, source_date_epoch)
        shutil.rmtree(rootfs)
        log(f"importing {tar_path.stat().st_size / 1e6:.0f} MB root file system")
        alias = dated_alias(recipe)
        changes = [
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "ENV LANG=C.UTF-8",
            'CMD ["python3"]',
            f'LABEL org.opencontainers.image.description="{recipe.description}"',
            f'LABEL org.opencontainers.image.created="{_rfc3339(time.time())}"',
            f'LABEL sagepack.base.suite="{recipe.suite}"',
            f'LABEL sagepack.base.packages="{" ".join(recipe.packages)}"',
            f'LABEL sagepack.base.name="{alias}"',
        ]
        repository, tag = recipe.name.split(":", 1)
        try:
            client.api.import_image_from_file(str(tar_path), repository=repository, tag=tag,
                                              changes=changes)
        except APIError as exc:
            raise ImageError(f"importing base image {recipe.name} failed: {exc}") from exc
    image = client.images.get(recipe.name)
    alias_repo, alias_tag = alias.split(":", 1)
    image.tag(alias_repo, alias_tag)
    log(f"base image {recipe.name} ({alias}) ready in {time.monotonic() - started:.0f} s, "
        f"{(image.attrs.get('Size') or 0) / 1e6:.0f} MB")
    return str(image.id)


def _rfc3339(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def ensure_bases(settings: Settings, *, name: str | None = None, rebuild: bool = False,
                 client: docker.DockerClient | None = None,
                 log: Log | None = None) -> dict[str, str]:
    """``invoke base``: every base image a variant names (or just ``name``) -> image id."""
    from sagepack.images.docker_client import docker_client
    from sagepack.images.environment import BuildEnvironment
    from sagepack.progress import say

    show = log or say
    engine = client or docker_client()
    mirror = BuildEnvironment.from_project(settings.project).debian_mirror
    names = [name] if name else sorted({v.base_image for m in settings.models.values()
                                        for v in m.variants.values()})
    ids: dict[str, str] = {}
    for base in names:
        present = _image_id(engine, base)
        if present is not None and not rebuild:
            show(f"{base}: present ({present[:19]})")
            ids[base] = present
            continue
        ids[base] = ensure_base(engine, base, rebuild=rebuild, mirror=mirror, log=show)
    return ids
