"""A local base's root file system: debootstrapped, cleaned and packed reproducibly.

``debootstrap --variant=minbase`` on the host (needs root; for another architecture
``--arch arm64 --foreign``, then its second stage in a chroot, under emulation), then package caches, apt lists,
documentation (copyright files kept), locales, logs and host files removed, then a tar
sorted depth-first with numeric owners and mtimes clamped to ``SOURCE_DATE_EPOCH``: the
same root file system gives the same bytes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from sagepack import emulation
from sagepack.errors import ImageError
from sagepack.images.debian import tool_env
from sagepack.platforms import DEFAULT, Platform

# Removed from the root file system after debootstrap (relative to the root).
CLEAN_PATHS = (
    "var/cache/apt/archives", "var/cache/apt/pkgcache.bin", "var/cache/apt/srcpkgcache.bin",
    "var/lib/apt/lists", "var/cache/debconf/templates.dat-old",
    "var/cache/debconf/config.dat-old", "var/lib/dpkg/status-old", "var/lib/dpkg/available-old",
    "var/lib/dpkg/diversions-old", "var/lib/dpkg/statoverride-old",
    "var/cache/ldconfig/aux-cache", "usr/share/man", "usr/share/info", "usr/share/lintian",
    "usr/share/locale", "usr/share/doc-base", "usr/share/common-licenses",
    "var/log", "etc/hostname", "etc/resolv.conf",
)
# Kept empty: the engine mounts or fills them.
EMPTY_DIRS = ("dev", "proc", "sys", "run", "tmp", "var/tmp", "var/log")


def _run(argv: list[str], env: dict[str, str], what: str) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise ImageError(f"{what} failed (exit {proc.returncode}):\n{tail}")


def debootstrap(name: str, suite: str, packages: Sequence[str], rootfs: Path,
                mirror: str, source_date_epoch: int | None = None,
                platform: Platform = DEFAULT) -> float:
    """Run debootstrap (needs root) of ``suite`` with ``packages`` for ``platform`` into
    ``rootfs`` (``name``: the base it builds, for messages); ``source_date_epoch`` is
    passed on to the maintainer scripts that honour it. For another architecture than the
    host's, the first stage (download and unpack) runs here and the second (the packages'
    maintainer scripts) in a chroot under emulation; return the seconds spent emulated."""
    exe = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    if not Path(exe).exists():
        raise ImageError("debootstrap is not installed (apt-get install debootstrap); "
                         f"it builds {name}")
    env = tool_env(source_date_epoch)
    foreign = emulation.require(platform, f"building the base {name}")
    argv = [exe, "--variant=minbase", f"--arch={platform.debian_arch}",
            *(["--foreign"] if foreign else []), f"--include={','.join(packages)}", suite,
            str(rootfs), mirror]
    _run(argv, env, f"debootstrap of {name}")
    if not foreign:
        return 0.0
    trim_package_lists(rootfs)
    started = time.monotonic()
    chroot = shutil.which("chroot") or "/usr/sbin/chroot"
    _run([chroot, str(rootfs), "/debootstrap/debootstrap", "--second-stage"], env,
         f"debootstrap's second stage of {name} (emulated {platform.arch})")
    return time.monotonic() - started


def trim_package_lists(rootfs: Path) -> None:
    """Cut the release's package index, which the first stage left in the root file system,
    to the packages it unpacked. The second stage reads the index with perl for every
    package it configures; emulated, reading all of bookworm's arm64 index (62,666
    packages, 49 MB) is a large part of its time, and it needs only these entries. apt's
    lists are fetched afresh for the updates and security suites anyway."""
    wanted: set[str] = set()
    for name in ("required", "base"):
        path = rootfs / "debootstrap" / name
        if path.is_file():
            wanted.update(path.read_text(encoding="utf-8").split())
    paths = rootfs / "debootstrap" / "debpaths"
    if paths.is_file():
        wanted.update(line.split()[0] for line in paths.read_text(encoding="utf-8").splitlines()
                      if line.strip())
    if not wanted:
        return
    for index in (rootfs / "var/lib/apt/lists").glob("*_Packages"):
        stanzas = index.read_text(encoding="utf-8").split("\n\n")
        kept = [s for s in stanzas if s.strip()
                and s.split("\n", 1)[0].removeprefix("Package: ").strip() in wanted]
        index.write_text("\n\n".join(kept) + "\n\n", encoding="utf-8")


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
