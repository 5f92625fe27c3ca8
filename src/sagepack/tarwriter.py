"""A tar stream written straight into parallel gzip, hashing as it goes.

The bytes are those :mod:`tarfile` writes in GNU format (headers from
:meth:`tarfile.TarInfo.tobuf`, data padded to 512-byte blocks, two zero blocks and padding
to a 10 KiB record at the end), so archives stay byte-identical to ``tarfile``'s. What this
adds is speed: each file is read once into one reused buffer, hashed and handed to
python-isal's threaded igzip without the copies ``tarfile``'s stream mode makes, and the
compressed output is hashed while it is written, so the archive is never read back for
its checksum.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from sagepack.errors import ArchiveError

BLOCK = tarfile.BLOCKSIZE
RECORD = tarfile.RECORDSIZE
# The stream is compressed in blocks of this size, cut at fixed offsets of the tar stream
# (each primed with the previous block's last 32 KiB), so the gzip bytes depend on the tar
# bytes alone: not on how files are read nor on the number of threads.
GZIP_BLOCK = 1024 * 1024
# isal's level 3 is its best ratio (about gzip -6's on weights, a few percent larger on
# source code) at several times zlib's speed.
LEVEL = 3


class _HashingSink(io.RawIOBase):
    """The archive file: hashes every compressed byte written to it."""

    def __init__(self, fh: IO[bytes]) -> None:
        self.fh = fh
        self.digest = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.digest.update(data)
        return self.fh.write(data)

    def flush(self) -> None:
        self.fh.flush()


class TarGzWriter:
    """Write members to ``raw`` as one gzip'd tar stream; :meth:`close` gives its sha256."""

    def __init__(self, raw: IO[bytes], *, threads: int, chunk: int,
                 level: int = LEVEL) -> None:
        from isal import igzip_threaded

        self._sink = _HashingSink(raw)
        self._gz: IO[bytes] = igzip_threaded.open(  # type: ignore[no-untyped-call]
            self._sink, "wb", compresslevel=level, threads=threads, block_size=GZIP_BLOCK)
        self._buffer = bytearray(chunk)
        self._offset = 0
        self._stage = bytearray(GZIP_BLOCK)
        self._staged = 0

    def _write(self, data: bytes | memoryview) -> None:
        """Hand ``data`` on in whole blocks only (the last one goes at :meth:`close`)."""
        view = memoryview(data)
        self._offset += len(view)
        if self._staged:
            take = min(len(view), GZIP_BLOCK - self._staged)
            self._stage[self._staged:self._staged + take] = view[:take]
            self._staged += take
            view = view[take:]
            if self._staged < GZIP_BLOCK:
                return
            self._gz.write(self._stage)
            self._staged = 0
        whole = len(view) - len(view) % GZIP_BLOCK
        if whole:
            self._gz.write(view[:whole])
        rest = len(view) - whole
        self._stage[:rest] = view[whole:]
        self._staged = rest

    def add(self, info: tarfile.TarInfo) -> None:
        """A member without data: a folder or a link."""
        self._write(info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape"))

    def add_file(self, info: tarfile.TarInfo, path: Path,
                 advance: Callable[[int], None] = lambda n: None) -> str:
        """The file at ``path``, exactly ``info.size`` bytes of it; returns their sha256.

        A file that is shorter or longer than ``info.size`` (changed while packing) is an
        error naming it, never a corrupt member.
        """
        self.add(info)
        digest = hashlib.sha256()
        view = memoryview(self._buffer)
        left = info.size
        with path.open("rb", buffering=0) as fh:
            while left:
                n = fh.readinto(view[:min(left, len(view))])
                if not n:
                    raise ArchiveError(f"file changed while packing (shorter than "
                                       f"{info.size} bytes): {path}", path)
                digest.update(view[:n])
                self._write(view[:n])
                left -= n
                advance(n)
            if fh.read(1):
                raise ArchiveError(f"file changed while packing (longer than {info.size} "
                                   f"bytes): {path}", path)
        if info.size % BLOCK:
            self._write(bytes(BLOCK - info.size % BLOCK))
        return digest.hexdigest()

    def close(self) -> str:
        """End the archive as ``tarfile`` does and return the sha256 of the gzip file."""
        self._write(bytes(2 * BLOCK))
        if self._offset % RECORD:
            self._write(bytes(RECORD - self._offset % RECORD))
        if self._staged:
            self._gz.write(self._stage[:self._staged])
        self._gz.close()
        return self._sink.digest.hexdigest()

    def abort(self) -> None:
        """Stop the compression threads after an error (the output is discarded)."""
        with contextlib.suppress(Exception):  # the first error is the one to report
            self._gz.close()
