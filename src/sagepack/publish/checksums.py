"""Archive digests, including the checksum S3 stores for a multipart upload.

S3 keeps a SHA-256 per part of a multipart upload and reports, for the object, the
SHA-256 of the concatenated part digests (a *composite* checksum, ``<base64>-<parts>``).
To verify what S3 stored, the same parts are hashed locally, with the part size the
transfer manager will use.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path

MIB = 1024 * 1024
READ_SIZE = 4 * MIB


@dataclass(frozen=True)
class UploadSettings:
    """How archives go to S3 (the transfer manager's multipart settings)."""

    multipart_threshold: int = 64 * MIB
    part_size: int = 64 * MIB
    concurrency: int = 8

    def part_size_for(self, size: int) -> int:
        """The part size s3transfer really uses for ``size`` bytes."""
        from s3transfer.utils import ChunksizeAdjuster

        return int(ChunksizeAdjuster().adjust_chunksize(self.part_size, size))

    def is_multipart(self, size: int) -> bool:
        return size >= self.multipart_threshold


@dataclass(frozen=True)
class FileDigest:
    """A file's size, SHA-256 and the checksum S3 will report once it is uploaded."""

    size: int
    sha256: str
    s3_checksum: str  # base64; composite ones end in ``-<parts>``

    @property
    def sha256_b64(self) -> str:
        return base64.b64encode(bytes.fromhex(self.sha256)).decode()


def digest_file(path: Path, upload: UploadSettings) -> FileDigest:
    """Hash ``path`` once: whole-file SHA-256 and per-part SHA-256 for S3's checksum."""
    size = path.stat().st_size
    multipart = upload.is_multipart(size)
    part_size = upload.part_size_for(size)
    whole = hashlib.sha256()
    parts: list[bytes] = []
    part = hashlib.sha256()
    in_part = 0
    with path.open("rb") as fh:
        while chunk := fh.read(READ_SIZE):
            whole.update(chunk)
            view = memoryview(chunk)
            while view:
                take = min(len(view), part_size - in_part)
                part.update(view[:take])
                in_part += take
                view = view[take:]
                if in_part == part_size:
                    parts.append(part.digest())
                    part, in_part = hashlib.sha256(), 0
    if in_part or not parts:
        parts.append(part.digest())
    if multipart:
        composite = hashlib.sha256(b"".join(parts)).digest()
        checksum = f"{base64.b64encode(composite).decode()}-{len(parts)}"
    else:
        checksum = base64.b64encode(whole.digest()).decode()
    return FileDigest(size=size, sha256=whole.hexdigest(), s3_checksum=checksum)


def same_checksum(expected: str, reported: str | None) -> bool:
    """Compare S3 checksums; some endpoints leave the ``-<parts>`` suffix off."""
    if not reported:
        return False
    return expected.partition("-")[0] == reported.partition("-")[0]
