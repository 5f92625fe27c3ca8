"""Local base images: cleaning and packing the root file system, names and aliases."""

from __future__ import annotations

import tarfile
from pathlib import Path

from sagepack.images.base import RECIPES, dated_alias, is_local_base
from sagepack.images.rootfs import clean_rootfs, pack_rootfs


def _fake_rootfs(root: Path) -> None:
    for rel, text in {
        "usr/bin/python3": "#!elf",
        "usr/share/doc/bash/copyright": "GPL",
        "usr/share/doc/bash/changelog.Debian.gz": "x" * 100,
        "usr/share/man/man1/bash.1.gz": "man",
        "usr/share/locale/de/LC_MESSAGES/bash.mo": "mo",
        "var/cache/apt/archives/bash_5.2_amd64.deb": "deb",
        "var/lib/apt/lists/deb.debian.org_dists_bookworm_InRelease": "lists",
        "var/log/dpkg.log": "log",
        "etc/resolv.conf": "nameserver 10.0.0.1",
        "etc/machine-id": "0123456789abcdef",
    }.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_clean_rootfs_removes_caches_docs_and_host_files_but_keeps_copyright(
        tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    _fake_rootfs(root)
    clean_rootfs(root)
    assert (root / "usr/bin/python3").is_file()
    assert (root / "usr/share/doc/bash/copyright").is_file()
    for gone in ("usr/share/doc/bash/changelog.Debian.gz", "usr/share/man",
                 "usr/share/locale", "var/cache/apt/archives/bash_5.2_amd64.deb",
                 "var/lib/apt/lists/deb.debian.org_dists_bookworm_InRelease",
                 "var/log/dpkg.log", "etc/resolv.conf"):
        assert not (root / gone).exists(), gone
    assert (root / "etc/machine-id").read_text() == ""
    assert (root / "tmp").stat().st_mode & 0o7777 == 0o1777


def test_pack_rootfs_is_sorted_with_numeric_owners_and_clamped_times(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    _fake_rootfs(root)
    tar_path = tmp_path / "rootfs.tar"
    pack_rootfs(root, tar_path, mtime=1_000)
    with tarfile.open(tar_path) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert "usr/bin/python3" in names
    assert all(m.uname == "" and m.gname == "" for m in members)
    assert all(m.mtime <= 1_000 for m in members)
    # depth-first, each folder's entries sorted: the same bytes on every run
    pack_rootfs(root, tmp_path / "again.tar", mtime=1_000)
    assert tar_path.read_bytes() == (tmp_path / "again.tar").read_bytes()


def test_base_names_encode_distribution_python_and_date() -> None:
    recipe = RECIPES["sagepack/base:bookworm-python3.11"]
    assert recipe.suite == "bookworm"
    assert {"python3", "python3-venv", "ca-certificates"} <= set(recipe.packages)
    assert dated_alias(recipe, when=1_795_000_000) == \
        "sagepack/base:bookworm-python3.11-20261118"
    assert is_local_base("sagepack/base:bookworm-python3.11")
    assert not is_local_base("python:3.11-slim-bookworm")
    assert not is_local_base("nvidia/cuda:12.4.1-runtime-ubuntu22.04")
