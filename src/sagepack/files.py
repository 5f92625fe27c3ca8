"""Writing files so that nothing is ever half-written: a temporary name, then a rename."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: Path, mode: int = 0o644) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed to ``path``.

    On any exception the temporary file is removed and ``path`` is left as it was.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        tmp.chmod(mode)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write(path: Path, data: bytes | str, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` through a temporary name."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_path(path, mode) as tmp:
        tmp.write_bytes(raw)


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON (sorted keys, trailing newline) through a temp name."""
    atomic_write(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def file_sha256(path: Path, chunk: int = 4 * 1024 * 1024) -> str:
    """The hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
