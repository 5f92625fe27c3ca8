"""S3: archive uploads through the transfer manager, verified against what S3 stored.

Uploads carry a SHA-256 checksum (S3 checks every part as it arrives) and server-side
encryption; the archive's whole-file SHA-256 travels as ``x-amz-meta-sha256``. A multipart
upload only becomes visible when it completes, so an interrupted upload leaves no partial
object; its stale parts are aborted before the next attempt.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from sagepack.errors import PublishError
from sagepack.publish.checksums import FileDigest, UploadSettings, same_checksum
from sagepack.publish.plan import ArchiveTarget
from sagepack.publish.progress import UploadProgress

SHA256_METADATA = "sha256"


def bucket_region(s3: Any, bucket: str) -> str:
    """The region ``bucket`` lives in (``GetBucketLocation``)."""
    from botocore.exceptions import ClientError

    try:
        location = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint")
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        raise PublishError(f"S3 bucket {bucket}: cannot read its region ({code}: "
                           f"{exc.response.get('Error', {}).get('Message', exc)})") from exc
    if not location:
        return "us-east-1"
    return "eu-west-1" if location == "EU" else str(location)


def encryption_args(kms_key_id: str | None) -> dict[str, str]:
    if kms_key_id:
        return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_id}
    return {"ServerSideEncryption": "AES256"}


@dataclass(frozen=True)
class RemoteObject:
    size: int
    sha256: str | None  # from our metadata
    checksum: str | None  # S3's ChecksumSHA256
    encryption: str | None
    version_id: str | None

    def holds(self, digest: FileDigest) -> bool:
        """True when this object is the file ``digest`` describes."""
        if self.size != digest.size:
            return False
        if self.sha256 is not None:
            return self.sha256 == digest.sha256
        return self.checksum is not None and same_checksum(digest.s3_checksum, self.checksum)

    def describe(self) -> str:
        if self.sha256:
            return f"sha256 {self.sha256}, {self.size} bytes"
        return f"no sha256 metadata, checksum {self.checksum or 'none'}, {self.size} bytes"


def head(s3: Any, bucket: str, key: str) -> RemoteObject | None:
    """What is stored at ``bucket/key``, or ``None``."""
    from botocore.exceptions import ClientError

    try:
        resp = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise PublishError(f"s3://{bucket}/{key}: cannot read it: {exc}") from exc
    meta = {k.lower(): v for k, v in resp.get("Metadata", {}).items()}
    return RemoteObject(size=int(resp["ContentLength"]), sha256=meta.get(SHA256_METADATA),
                        checksum=resp.get("ChecksumSHA256"),
                        encryption=resp.get("ServerSideEncryption"),
                        version_id=resp.get("VersionId"))


def abort_stale_uploads(s3: Any, bucket: str, key: str) -> int:
    """Abort unfinished multipart uploads to ``key`` (left by an interrupted run)."""
    aborted = 0
    paginator = s3.get_paginator("list_multipart_uploads")
    for page in paginator.paginate(Bucket=bucket, Prefix=key):
        for upload in page.get("Uploads", []):
            if upload.get("Key") == key:
                s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload["UploadId"])
                aborted += 1
    return aborted


def upload(s3: Any, target: ArchiveTarget, *, kms_key_id: str | None,
           settings: UploadSettings, console: Console) -> RemoteObject:
    """Upload ``target`` (multipart, concurrent, with progress) and verify it."""
    from boto3.exceptions import S3UploadFailedError
    from boto3.s3.transfer import TransferConfig
    from botocore.exceptions import BotoCoreError, ClientError

    config = TransferConfig(multipart_threshold=settings.multipart_threshold,
                            multipart_chunksize=settings.part_size,
                            max_concurrency=settings.concurrency, use_threads=True)
    extra = {"ChecksumAlgorithm": "SHA256", "ContentType": "application/gzip",
             "Metadata": {SHA256_METADATA: target.digest.sha256},
             **encryption_args(kms_key_id)}
    try:
        with UploadProgress(console, f"upload {target.s3_uri}", target.digest.size) as bar:
            s3.upload_file(str(target.path), target.bucket, target.key, ExtraArgs=extra,
                           Config=config, Callback=bar)
    except (S3UploadFailedError, ClientError, BotoCoreError, OSError) as exc:
        raise PublishError(f"uploading {target.path} to {target.s3_uri} failed: {exc}; "
                           "nothing partial is visible there; re-run to retry") from exc
    return verify(s3, target, kms_key_id=kms_key_id)


def verify(s3: Any, target: ArchiveTarget, *, kms_key_id: str | None) -> RemoteObject:
    """The stored object must have the archive's size, SHA-256 and S3 checksum."""
    stored = head(s3, target.bucket, target.key)
    where = target.s3_uri
    if stored is None:
        raise PublishError(f"{where}: not found right after uploading it")
    problems = []
    if stored.size != target.digest.size:
        problems.append(f"size {stored.size} instead of {target.digest.size}")
    if stored.sha256 != target.digest.sha256:
        problems.append(f"sha256 metadata {stored.sha256} instead of {target.digest.sha256}")
    if not same_checksum(target.digest.s3_checksum, stored.checksum):
        problems.append(f"S3 checksum {stored.checksum} instead of {target.digest.s3_checksum}")
    wanted = encryption_args(kms_key_id)["ServerSideEncryption"]
    if stored.encryption is not None and stored.encryption != wanted:
        problems.append(f"encryption {stored.encryption} instead of {wanted}")
    if problems:
        raise PublishError(f"{where} does not match {target.path}: " + "; ".join(problems))
    return stored


def put_small(s3: Any, path: Path, bucket: str, key: str, *, kms_key_id: str | None) -> bool:
    """Put a small file (validation input) unless the same bytes are already there.

    Returns True when it was uploaded."""
    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    stored = head(s3, bucket, key)
    if stored is not None and stored.sha256 == sha and stored.size == len(data):
        return False
    s3.put_object(Bucket=bucket, Key=key, Body=data, ChecksumAlgorithm="SHA256",
                  Metadata={SHA256_METADATA: sha}, **encryption_args(kms_key_id))
    return True
