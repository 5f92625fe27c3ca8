"""S3: uncompressed model data, one object per file under the model's prefix.

SageMaker loads *every* object below the prefix into ``/opt/ml/model``, so the prefix must
hold exactly the listed files. Before anything is sent, the prefix is listed and each
existing object is read (in parallel): one holding the same bytes is skipped, one holding
other bytes or not in the listing is a conflict, replaced or deleted only with
``--force``. The files go up concurrently through one boto3 transfer manager (multipart
for large ones, a SHA-256 checksum on each part, the file's sha256 as
``x-amz-meta-sha256``), then each stored object is verified as an archive is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from rich.console import Console

from sagepack.errors import PublishError
from sagepack.publish.checksums import UploadSettings
from sagepack.publish.plan import ArchiveTarget, FilesTarget
from sagepack.publish.progress import UploadProgress
from sagepack.publish.report import FilesResult
from sagepack.publish.s3 import (
    SHA256_METADATA,
    RemoteObject,
    encryption_args,
    head,
    verify,
)

T = TypeVar("T")
R = TypeVar("R")
SHOWN = 5  # keys named in a conflict, at most
DELETE_BATCH = 1000  # DeleteObjects' limit


def _parallel(call: Callable[[T], R], items: Sequence[T], concurrency: int) -> list[R]:
    with ThreadPoolExecutor(max(1, concurrency)) as pool:
        return list(pool.map(call, items))


def stored_keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    """Every key below ``prefix``."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [obj["Key"] for page in pages for obj in page.get("Contents", [])]


@dataclass(frozen=True)
class FilesStep:
    """What publishing one set of files does: each file is uploaded or skipped, and the
    objects not in the listing are deleted (``--force`` only)."""

    target: FilesTarget
    upload: tuple[ArchiveTarget, ...]
    skip: tuple[ArchiveTarget, ...]
    replace: tuple[ArchiveTarget, ...]  # in ``upload``: an object with other bytes is there
    extra: tuple[str, ...]  # keys below the prefix that are not listed
    refused: bool = False


def _names(keys: Sequence[str], prefix: str) -> str:
    shown = ", ".join(k[len(prefix):] for k in keys[:SHOWN])
    return shown + (f" and {len(keys) - SHOWN} more" if len(keys) > SHOWN else "")


def files_steps(s3: Any, targets: Sequence[FilesTarget], *, force: bool,
                settings: UploadSettings, conflicts: list[str]) -> list[FilesStep]:
    """Look at each prefix; a conflict is appended to ``conflicts`` unless ``force``."""
    steps = []
    for target in targets:
        existing = set(stored_keys(s3, target.bucket, target.prefix))
        listed = {f.key for f in target.files}
        present = [f for f in target.files if f.key in existing]
        remote: list[RemoteObject | None] = _parallel(
            lambda f: head(s3, f.bucket, f.key), present, settings.concurrency)
        same = {f.key for f, r in zip(present, remote, strict=True)
                if r is not None and r.holds(f.digest)}
        differ = [f for f, r in zip(present, remote, strict=True) if f.key not in same]
        extra = tuple(sorted(existing - listed))
        refused = False
        if differ and not force:
            refused = True
            conflicts.append(
                f"{target.s3_uri} already holds other bytes for {len(differ)} of the "
                f"{len(target.files)} files listed in {target.manifest} "
                f"({_names([f.key for f in differ], target.prefix)}); re-run with --force to "
                "replace them")
        if extra and not force:
            refused = True
            conflicts.append(
                f"{target.s3_uri} holds {len(extra)} object(s) not listed in "
                f"{target.manifest} ({_names(list(extra), target.prefix)}), which SageMaker "
                "would load into /opt/ml/model; re-run with --force to delete them")
        steps.append(FilesStep(target=target,
                               upload=tuple(f for f in target.files if f.key not in same),
                               skip=tuple(f for f in target.files if f.key in same),
                               replace=tuple(differ), extra=extra, refused=refused))
    return steps


def _abort_stale_uploads(s3: Any, bucket: str, prefix: str, keys: set[str]) -> int:
    """Abort unfinished multipart uploads of ``keys`` (left by an interrupted run)."""
    aborted = 0
    for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket,
                                                                    Prefix=prefix):
        for upload in page.get("Uploads", []):
            if upload.get("Key") in keys:
                s3.abort_multipart_upload(Bucket=bucket, Key=upload["Key"],
                                          UploadId=upload["UploadId"])
                aborted += 1
    return aborted


def _delete(s3: Any, bucket: str, keys: Sequence[str]) -> None:
    for start in range(0, len(keys), DELETE_BATCH):
        batch = keys[start:start + DELETE_BATCH]
        answer = s3.delete_objects(Bucket=bucket, Delete={
            "Objects": [{"Key": k} for k in batch], "Quiet": True})
        errors = answer.get("Errors") or []
        if errors:
            first = errors[0]
            raise PublishError(f"s3://{bucket}: could not delete {len(errors)} object(s) "
                               f"(first: {first.get('Key')}: {first.get('Code')}: "
                               f"{first.get('Message')})")


def upload_files(s3: Any, files: Sequence[ArchiveTarget], *, kms_key_id: str | None,
                 settings: UploadSettings, console: Console, label: str) -> None:
    """Upload ``files`` concurrently through one transfer manager, with one progress bar."""
    from boto3.exceptions import S3UploadFailedError
    from boto3.s3.transfer import ProgressCallbackInvoker, TransferConfig, create_transfer_manager
    from botocore.exceptions import BotoCoreError, ClientError

    config = TransferConfig(multipart_threshold=settings.multipart_threshold,
                            multipart_chunksize=settings.part_size,
                            max_concurrency=settings.concurrency, use_threads=True)
    failures: list[str] = []
    with UploadProgress(console, label, sum(f.digest.size for f in files)) as bar, \
            create_transfer_manager(s3, config) as manager:
        futures = [(f, manager.upload(
            str(f.path), f.bucket, f.key, subscribers=[ProgressCallbackInvoker(bar)],
            extra_args={"ChecksumAlgorithm": "SHA256",
                        "Metadata": {SHA256_METADATA: f.digest.sha256},
                        **encryption_args(kms_key_id)})) for f in files]
        for file, future in futures:
            try:
                future.result()
            except (S3UploadFailedError, ClientError, BotoCoreError, OSError) as exc:
                # every failure is named; the other uploads still finish
                failures.append(f"{file.path} -> {file.s3_uri}: {exc}")
    if failures:
        raise PublishError(f"{len(failures)} of {len(files)} uploads failed (an unfinished "
                           "object is never visible; re-run to upload what is missing):\n  "
                           + "\n  ".join(failures[:SHOWN]))


def publish_files(s3: Any, step: FilesStep, *, kms_key_id: str | None,
                  settings: UploadSettings, console: Console) -> FilesResult:
    """Delete the unlisted objects (``--force``), upload the missing and differing files,
    verify each uploaded object."""
    target = step.target
    if step.extra:
        _delete(s3, target.bucket, step.extra)
        console.print(f"force  deleted {len(step.extra)} unlisted object(s) below "
                      f"{target.s3_uri}")
    if step.upload:
        aborted = _abort_stale_uploads(s3, target.bucket, target.prefix,
                                       {f.key for f in step.upload})
        if aborted:
            console.print(f"aborted {aborted} unfinished upload(s) below {target.s3_uri}")
        size = sum(f.digest.size for f in step.upload)
        console.print(f"upload {len(step.upload)} file(s) of {target.model} -> "
                      f"{target.s3_uri} ({size} bytes; {len(step.skip)} already there)")
        upload_files(s3, step.upload, kms_key_id=kms_key_id, settings=settings,
                     console=console, label=f"upload {target.s3_uri}")
        _parallel(lambda f: verify(s3, f, kms_key_id=kms_key_id), step.upload,
                  settings.concurrency)
        console.print(f"uploaded {target.s3_uri}: {len(step.upload)} file(s), each size and "
                      "checksum verified")
    else:
        console.print(f"skip   {target.s3_uri}: already holds the {len(step.skip)} listed "
                      "file(s)")
    action = ("replaced" if step.replace or step.extra else
              "uploaded" if step.upload else "skipped")
    return FilesResult(model=target.model, s3_uri=target.s3_uri, sha256=target.digest,
                       size=target.size, files=len(target.files), uploaded=len(step.upload),
                       skipped=len(step.skip), deleted=len(step.extra), action=action)
