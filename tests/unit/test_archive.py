"""Deterministic packing and safe extraction, with crafted malicious archives."""

from __future__ import annotations

import gzip
import io
import os
import shutil
import socket
import subprocess
import tarfile
from pathlib import Path

import pytest

from sagepack import archive, config
from sagepack.config import IGNORE_FILE_NAME
from sagepack.errors import ArchiveError, UnsafeArchiveError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def iris() -> config.ModelConfig:
    return config.load(ROOT, env={}).models["iris"]


def copy_model(model: config.ModelConfig, dest: Path, mtime: int) -> config.ModelConfig:
    shutil.copytree(model.root, dest)
    for path in [dest, *dest.rglob("*")]:
        os.utime(path, (mtime, mtime))
    return config.ModelConfig(**{**model.__dict__, "root": dest})


def test_packing_twice_in_different_folders_and_mtimes_gives_same_sha256(
        iris: config.ModelConfig, tmp_path: Path) -> None:
    a = archive.pack(copy_model(iris, tmp_path / "a" / "iris", 1_000_000), tmp_path / "out-a",
                     progress=False)
    b = archive.pack(copy_model(iris, tmp_path / "b" / "iris", 1_700_000_000),
                     tmp_path / "out-b", threads=1, progress=False)
    assert a.sha256 == b.sha256
    assert a.archive.read_bytes() == b.archive.read_bytes()


def test_archive_layout_metadata_and_gzip_header(iris: config.ModelConfig,
                                                 tmp_path: Path) -> None:
    result = archive.pack(iris, tmp_path, source_date_epoch=1_700_000_000, progress=False)
    raw = result.archive.read_bytes()
    assert raw[3] == 0, "gzip header must carry no file name"
    assert raw[4:8] == b"\0\0\0\0", "gzip header must carry no time"
    with tarfile.open(result.archive) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names)
    assert {"code/inference.py", "model.onnx", "labels.json"} <= set(names)
    assert not any(n.startswith(("samples", "requirements")) or n == "sagepack.toml"
                   for n in names)
    for m in members:
        assert (m.uid, m.gid, m.uname, m.gname) == (0, 0, "", "")
        assert m.mtime == 1_700_000_000
        assert m.mode in (0o644, 0o755)
    # GNU tar reads it too.
    listing = subprocess.run(["tar", "-tzf", str(result.archive)], check=True,
                             capture_output=True, text=True).stdout.split()
    assert "code/inference.py" in listing


def test_manifest_lists_members_with_sha256(iris: config.ModelConfig, tmp_path: Path) -> None:
    import hashlib
    import json

    result = archive.pack(iris, tmp_path, progress=False)
    manifest = json.loads(result.manifest.read_text())
    assert manifest["archive"]["sha256"] == hashlib.sha256(
        result.archive.read_bytes()).hexdigest()
    assert manifest["archive"]["size"] == result.archive.stat().st_size
    assert manifest["version"] == iris.version
    by_name = {m["name"]: m for m in manifest["members"]}
    onnx = (iris.root / "model.onnx").read_bytes()
    assert by_name["model.onnx"]["sha256"] == hashlib.sha256(onnx).hexdigest()
    assert by_name["model.onnx"]["size"] == len(onnx)


def test_junk_and_ignore_file_are_skipped(iris: config.ModelConfig, tmp_path: Path) -> None:
    model = copy_model(iris, tmp_path / "iris", 0)
    (model.root / "code" / "__pycache__").mkdir(exist_ok=True)
    (model.root / "code" / "__pycache__" / "x.pyc").write_bytes(b"x")
    (model.root / ".DS_Store").write_bytes(b"x")
    (model.root / "code" / "inference.py~").write_text("backup")
    (model.root / "notes").mkdir()
    (model.root / "notes" / "a.txt").write_text("a")
    (model.root / "big.ckpt").write_text("c")
    (model.root / ".sagepackignore").write_text("# drafts\nnotes/\n*.ckpt\n")
    names = {m.name for m in archive.collect(model.root, model.exclude)}
    assert names == {"code", "code/inference.py", "code/requirements.txt", "labels.json",
                     "model.onnx"}


def test_ignore_file_negation_takes_a_path_back_in(tmp_path: Path) -> None:
    (tmp_path / "a.ckpt").write_text("a")
    (tmp_path / "best.ckpt").write_text("b")
    (tmp_path / "model.onnx").write_bytes(b"m")
    (tmp_path / ".sagepackignore").write_text("*.ckpt\n!best.ckpt\n")
    names = {m.name for m in archive.collect(tmp_path, config.DEFAULT_EXCLUDES)}
    assert names == {"best.ckpt", "model.onnx"}


def test_exclude_negation_is_overridden_by_a_later_ignore_file_pattern(
        tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "run.log").write_text("r")
    (tmp_path / "keep.log").write_text("k")
    (tmp_path / "drop.log").write_text("d")
    (tmp_path / ".sagepackignore").write_text("drop.log\n")
    names = {m.name for m in archive.collect(tmp_path, ("*.log", "!keep.log", "!drop.log"))}
    assert names == {"logs", "keep.log", ".sagepackignore"}


def test_double_star_spans_folders_in_exclude_and_ignore_file(tmp_path: Path) -> None:
    for rel in ("data/a/b/cache.bin", "data/cache.bin", "other/cache.bin",
                "data/a/b/keep.bin", "deep/x/y/tmp/t.txt", "tmp/t.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel)
    (tmp_path / ".sagepackignore").write_text("**/tmp/\n")
    files = {m.name for m in archive.collect(tmp_path, ("data/**/cache.bin",
                                                        IGNORE_FILE_NAME))
             if m.kind == "file"}
    assert files == {"other/cache.bin", "data/a/b/keep.bin"}


def test_anchored_pattern_star_stays_within_one_folder(tmp_path: Path) -> None:
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    (tmp_path / "sub" / "x.bin").write_text("1")
    (tmp_path / "sub" / "deeper" / "y.bin").write_text("2")
    files = {m.name for m in archive.collect(tmp_path, ("sub/*.bin",)) if m.kind == "file"}
    assert files == {"sub/deeper/y.bin"}


def test_invalid_pattern_names_its_file(tmp_path: Path) -> None:
    (tmp_path / ".sagepackignore").write_text("*.ckpt\n!\n")
    with pytest.raises(ArchiveError, match=r"\.sagepackignore: invalid pattern '!'"):
        archive.collect(tmp_path)


def test_executable_bit_is_kept_as_0755(tmp_path: Path) -> None:
    (tmp_path / "run.sh").write_text("#!/bin/sh\n")
    (tmp_path / "run.sh").chmod(0o700)
    (tmp_path / "data.bin").write_bytes(b"1")
    (tmp_path / "data.bin").chmod(0o600)
    modes = {m.name: m.mode for m in archive.collect(tmp_path)}
    assert modes == {"run.sh": 0o755, "data.bin": 0o644}


def test_symlink_leaving_folder_is_refused_and_named(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "secret").write_text("s")
    (tmp_path / "m" / "link").symlink_to(tmp_path / "secret")
    with pytest.raises(ArchiveError, match=r"refusing symlink .*m/link"):
        archive.collect(tmp_path / "m")


def test_symlink_inside_folder_is_packed_as_relative_link(tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(b"w")
    (tmp_path / "latest.bin").symlink_to(tmp_path / "weights.bin")
    members = {m.name: m for m in archive.collect(tmp_path)}
    assert members["latest.bin"].kind == "symlink"
    assert members["latest.bin"].link == "weights.bin"


def test_socket_is_refused_and_named(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
        with pytest.raises(ArchiveError, match=r"refusing socket: .*s\.sock"):
            archive.collect(tmp_path)


def test_fifo_is_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(ArchiveError, match="refusing FIFO"):
        archive.collect(tmp_path)


def test_interrupted_pack_leaves_previous_archive_intact(
        iris: config.ModelConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = archive.pack(iris, tmp_path, progress=False)
    before = first.archive.read_bytes()

    def boom(n: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(archive, "CHUNK", 16)
    with pytest.raises(KeyboardInterrupt):
        archive.write_archive(archive.collect(iris.root, iris.exclude), first.archive,
                              advance=boom)
    assert first.archive.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json", "model.tar.gz"]


def test_round_trip_through_safe_extract(iris: config.ModelConfig, tmp_path: Path) -> None:
    result = archive.pack(iris, tmp_path / "dist", progress=False)
    dest = archive.safe_extract(result.archive, tmp_path / "model")
    assert (dest / "model.onnx").read_bytes() == (iris.root / "model.onnx").read_bytes()
    assert (dest / "code" / "inference.py").is_file()


# --- crafted malicious archives --------------------------------------------------------


def craft(path: Path, *members: tarfile.TarInfo, data: bytes = b"x") -> Path:
    with tarfile.open(path, "w:gz", format=tarfile.GNU_FORMAT) as tar:
        for info in members:
            if info.isreg():
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return path


def entry(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


ATTACKS = {
    "absolute path": (entry("/etc/evil"), "/etc/evil", "absolute path"),
    "dot-dot": (entry("code/../../evil"), "code/../../evil", r"contains '\.\.'"),
    "symlink out": (entry("code/link", tarfile.SYMTYPE, "../../etc/passwd"), "code/link",
                    "symlink pointing outside"),
    "absolute symlink": (entry("link", tarfile.SYMTYPE, "/etc/passwd"), "link",
                         "symlink pointing outside"),
    "hard link out": (entry("hard", tarfile.LNKTYPE, "../outside"), "hard",
                      "hard link pointing outside"),
    "char device": (entry("dev/null", tarfile.CHRTYPE), "dev/null", "device"),
    "block device": (entry("sda", tarfile.BLKTYPE), "sda", "device"),
    "fifo": (entry("pipe", tarfile.FIFOTYPE), "pipe", "device or FIFO"),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_malicious_archive_is_refused_naming_member(attack: str, tmp_path: Path) -> None:
    info, member, reason = ATTACKS[attack]
    bad = craft(tmp_path / "bad.tar.gz", entry("ok.txt"), info)
    dest = tmp_path / "dest"
    with pytest.raises(UnsafeArchiveError, match=reason) as caught:
        archive.safe_extract(bad, dest)
    assert caught.value.member == member
    assert repr(member) in str(caught.value)
    assert not dest.exists(), "nothing may be extracted"
    assert [p.name for p in tmp_path.iterdir()] == ["bad.tar.gz"]


def test_gzip_bomb_refused_by_total_size(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.tar.gz"
    with gzip.open(bomb, "wb", compresslevel=9) as gz, tarfile.open(fileobj=gz, mode="w|") as tar:
        for i in range(3):
            info = entry(f"zeros{i}.bin")
            info.size = 4 * 1024 * 1024
            tar.addfile(info, io.BytesIO(bytes(info.size)))
    assert bomb.stat().st_size < 64 * 1024
    with pytest.raises(UnsafeArchiveError, match="uncompressed size exceeds") as caught:
        archive.safe_extract(bomb, tmp_path / "dest", max_bytes=10 * 1024 * 1024)
    assert caught.value.member == "zeros2.bin"
    assert not (tmp_path / "dest").exists()


def test_too_many_members_refused(tmp_path: Path) -> None:
    many = craft(tmp_path / "many.tar.gz", *(entry(f"f{i}") for i in range(20)))
    with pytest.raises(UnsafeArchiveError, match="more than 10 members") as caught:
        archive.safe_extract(many, tmp_path / "dest", max_members=10)
    assert caught.value.member == "f10"


def test_link_inside_destination_is_accepted(tmp_path: Path) -> None:
    ok = craft(tmp_path / "ok.tar.gz", entry("code/a.py"),
               entry("code/b.py", tarfile.SYMTYPE, "a.py"))
    dest = archive.safe_extract(ok, tmp_path / "dest")
    assert (dest / "code" / "b.py").read_bytes() == b"x"


def test_truncated_archive_leaves_nothing(tmp_path: Path) -> None:
    good = craft(tmp_path / "good.tar.gz", entry("a"), entry("b"), data=os.urandom(100_000))
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(good.read_bytes()[:-5000])
    with pytest.raises(ArchiveError, match=r"cut\.tar\.gz"):
        archive.safe_extract(cut, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()
    assert not any(p.name.startswith(".dest") for p in tmp_path.iterdir())


def test_non_empty_destination_refused(tmp_path: Path) -> None:
    ok = craft(tmp_path / "ok.tar.gz", entry("a"))
    (tmp_path / "dest").mkdir()
    (tmp_path / "dest" / "keep").write_text("k")
    with pytest.raises(ArchiveError, match="not an empty folder"):
        archive.safe_extract(ok, tmp_path / "dest")
    assert (tmp_path / "dest" / "keep").read_text() == "k"
