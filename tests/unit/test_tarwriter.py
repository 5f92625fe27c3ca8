"""The tar.gz writer: tarfile's bytes, one gzip stream whatever the threads or read size,
the archive's checksum computed while writing, and files that change refused."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest

from sagepack import archive, tarwriter
from sagepack.errors import ArchiveError


def _folder(root: Path) -> Path:
    (root / "code").mkdir(parents=True)
    (root / "code" / "inference.py").write_text("def model_fn(d):\n    return d\n")
    (root / "weights.bin").write_bytes(os.urandom(3 * tarwriter.GZIP_BLOCK + 777))
    (root / "zeros.bin").write_bytes(bytes(2 * tarwriter.GZIP_BLOCK))
    (root / ("long-" * 30 + ".txt")).write_text("a name over 100 characters\n")
    (root / "link").symlink_to("weights.bin")
    return root


def _tarfile_bytes(members: list[archive.Member]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.GNU_FORMAT) as tar:
        for m in members:
            info = archive._tarinfo(m, 0)
            if m.kind == "file":
                with m.path.open("rb") as fh:
                    tar.addfile(info, fh)
            else:
                tar.addfile(info)
    return out.getvalue()


def test_same_tar_as_tarfile_and_same_gzip_for_any_threads_or_chunk(tmp_path: Path) -> None:
    members = archive.collect(_folder(tmp_path / "model"))
    made = []
    for threads, chunk in ((1, 64 * 1024), (2, 4 * 1024 * 1024), (3, 1000)):
        dest = tmp_path / f"out-{threads}.tar.gz"
        with dest.open("wb") as fh:
            writer = tarwriter.TarGzWriter(fh, threads=threads, chunk=chunk)
            for m in members:
                info = archive._tarinfo(m, 0)
                if m.kind == "file":
                    assert writer.add_file(info, m.path) == \
                        hashlib.sha256(m.path.read_bytes()).hexdigest()
                else:
                    writer.add(info)
            digest = writer.close()
        data = dest.read_bytes()
        assert digest == hashlib.sha256(data).hexdigest()
        made.append(data)
    assert made[0] == made[1] == made[2]
    assert gzip.decompress(made[0]) == _tarfile_bytes(members)


@pytest.mark.parametrize("change", ["grew", "shrank"])
def test_a_file_that_changed_size_is_refused_by_name(tmp_path: Path, change: str) -> None:
    members = archive.collect(_folder(tmp_path / "model"))
    weights = next(m for m in members if m.name == "weights.bin")
    with weights.path.open("ab" if change == "grew" else "r+b") as fh:
        if change == "grew":
            fh.write(b"more")
        else:
            fh.truncate(10)
    with pytest.raises(ArchiveError, match=r"changed while packing.*weights\.bin"):
        archive.write_archive(members, tmp_path / "model.tar.gz")
    assert not (tmp_path / "model.tar.gz").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
