"""What a publish did: ``dist/<model>/publish.json`` and the tables printed for humans."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from sagepack.errors import PublishError
from sagepack.files import write_json
from sagepack.progress import make_table
from sagepack.progress import print_table as _show
from sagepack.publish.index import IndexResult
from sagepack.publish.model_package import PackageResult
from sagepack.publish.plan import REPORT_NAME, PublishPlan
from sagepack.publish.scan import ScanVerdict, findings_table

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class ImageResult:
    model: str
    variant: str
    tag: str
    uri: str  # <registry>/<repository>:<tag>
    digest: str  # the manifest digest
    image_id: str
    action: str  # "pushed", "skipped" or "replaced"
    platform: str = "linux/amd64"

    @property
    def reference(self) -> str:
        """``<registry>/<repository>@<digest>``: what SageMaker should run."""
        return f"{self.uri.rpartition(':')[0]}@{self.digest}"


@dataclass(frozen=True)
class ArchiveResult:
    model: str
    s3_uri: str
    sha256: str
    size: int
    action: str  # "uploaded", "skipped" or "replaced"
    version_id: str | None = None
    variant: str | None = None  # an SBOM's variant


@dataclass(frozen=True)
class FilesResult:
    """Uncompressed model data published below one prefix."""

    model: str
    s3_uri: str  # the prefix, ending with "/"
    sha256: str  # of the listing
    size: int
    files: int
    uploaded: int
    skipped: int
    deleted: int
    action: str  # "uploaded", "skipped" or "replaced"

    def as_dict(self) -> dict[str, Any]:
        return {"type": "uncompressed", "s3_uri": self.s3_uri, "sha256": self.sha256,
                "size": self.size, "files": self.files}


@dataclass
class PublishReport:
    """The outcome of :func:`sagepack.publish.publish` (or its plan, on a dry run)."""

    plan: PublishPlan
    dry_run: bool
    account_id: str | None = None
    registry: str | None = None
    images: list[ImageResult] = field(default_factory=list)
    archives: list[ArchiveResult] = field(default_factory=list)
    packages: list[PackageResult] = field(default_factory=list)
    sboms: list[ArchiveResult] = field(default_factory=list)
    file_sets: list[FilesResult] = field(default_factory=list)
    scans: dict[str, ScanVerdict] = field(default_factory=dict)  # by manifest digest
    indexes: list[IndexResult] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        actions = [r.action for r in self.images] + [r.action for r in self.archives] + \
            [r.action for r in self.packages] + [r.action for r in self.file_sets] + \
            [r.action for r in self.indexes]
        return any(a != "skipped" for a in actions)

    def model_record(self, model: str, version: str) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "model": model,
            "version": version,
            "region": self.plan.region,
            "account_id": self.account_id,
            "registry": self.registry,
            "images": [{"variant": r.variant, "tag": r.tag, "uri": r.uri,
                        "digest": r.digest, "reference": r.reference,
                        "image_id": r.image_id, "platform": r.platform,
                        "scan": self.scans[r.digest].as_dict()
                        if r.digest in self.scans else None}
                       for r in self.images if r.model == model],
            "sboms": [{"variant": r.variant, "s3_uri": r.s3_uri, "sha256": r.sha256,
                       "size": r.size} for r in self.sboms if r.model == model],
            "archive": next(({"s3_uri": r.s3_uri, "sha256": r.sha256, "size": r.size,
                              "version_id": r.version_id}
                             for r in self.archives if r.model == model), None),
            "model_data": next((r.as_dict() for r in self.file_sets if r.model == model),
                               None),
            "model_packages": [{"variant": p.variant, "name": p.name, "arn": p.arn}
                               for p in self.packages if p.model == model],
            "index": next((r.as_dict() for r in self.indexes if r.model == model), None),
        }

    def write(self, versions: dict[str, str]) -> list[Path]:
        """Write ``publish.json`` for every model, keeping variants published earlier."""
        for model, dist in self.plan.dist.items():
            record = self.model_record(model, versions[model])
            path = dist / REPORT_NAME
            record = _merge(_read(path), record)
            write_json(path, record)
            self.written.append(path)
        return self.written


def read_record(path: Path) -> dict[str, Any]:
    """The ``publish.json`` at ``path``, refused with a clear message when it is missing,
    unreadable or written by another version of this format."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise PublishError(f"{path}: not found; publish first (invoke publish)") from None
    except (OSError, ValueError) as exc:
        raise PublishError(f"{path}: unreadable publish record: {exc}") from exc
    if not isinstance(data, dict) or data.get("schema") != SCHEMA_VERSION:
        got = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise PublishError(f"{path}: expected a publish record of schema {SCHEMA_VERSION}, "
                           f"got {got!r}; publish again (invoke publish)")
    return data


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return None  # unreadable: replaced by the new record
    return data if isinstance(data, dict) else None


def _merge(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """Keep the other variants' entries of an earlier publish of the same release."""
    same = old is not None and all(old.get(k) == new.get(k) for k in
                                   ("model", "version", "region", "registry"))
    if not same or old is None:
        return new
    variants = {i["variant"] for i in new["images"]} | \
        {p["variant"] for p in new["model_packages"]}
    merged = dict(new)
    merged["images"] = [i for i in old.get("images", []) if i.get("variant") not in variants] \
        + new["images"]
    merged["model_packages"] = [p for p in old.get("model_packages", [])
                                if p.get("variant") not in variants] + new["model_packages"]
    merged["sboms"] = [b for b in old.get("sboms", []) if b.get("variant") not in variants] \
        + new.get("sboms", [])
    merged["index"] = new.get("index") or old.get("index")
    # One model data per release: an archive, or the uncompressed files' prefix.
    merged["archive"] = new["archive"] or (None if new.get("model_data")
                                           else old.get("archive"))
    merged["model_data"] = new.get("model_data") or (None if new["archive"]
                                                     else old.get("model_data"))
    return merged


# --- printing ---------------------------------------------------------------------------


def _table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> Table:
    return make_table(title, columns, rows, overflow="fold")


def print_plan(console: Console, plan: PublishPlan, *, force: bool) -> None:
    """The plan: where things go, with local digests."""
    registry = plan.registry_label()
    head = (f"Publish plan: region {plan.region}, account {plan.account_id or '(from STS)'}, "
            f"registry {registry}, bucket s3://{plan.bucket}"
            + (" [--force: differing tags/objects will be replaced]" if force else ""))
    console.print(head)
    _show(console, _table("Images", ("image", "platform", "local id", "push to"), [
        (i.local_ref, i.platform, i.image_id, f"{registry}/{i.repository}:{i.tag}")
        for i in plan.images]
        + [(f"index of {', '.join(m.variant for m in x.members)}",
            " + ".join(m.platform.docker for m in x.members), "(OCI image index)",
            f"{registry}/{x.repository}:{x.tag}") for x in plan.indexes]))
    _show(console, _table("Model data", ("archive or listing", "sha256", "size", "upload to"), [
        (str(a.path), a.digest.sha256, str(a.digest.size), a.s3_uri) for a in plan.archives]
        + [(f"{f.manifest} ({len(f.files)} files, uncompressed)", f"listing {f.digest}",
            str(f.size), f.s3_uri) for f in plan.file_sets]))
    for note in plan.notes:
        console.print(f"note: {note}")
    if plan.packages:
        _show(console, _table("Model packages", ("model", "variant", "package"), [
            (p.model.name, p.variant, f"{p.group} (new version)" if p.group else p.name)
            for p in plan.packages]))


def print_report(console: Console, report: PublishReport) -> None:
    """What was done, as a table."""
    rows = [(r.action, "image", r.uri, r.digest) for r in report.images]
    rows += [(r.action, "image index", r.uri,
              f"{r.digest} ({', '.join(sorted(r.platforms))})") for r in report.indexes]
    rows += [(r.action, "archive", r.s3_uri, f"sha256:{r.sha256}") for r in report.archives]
    rows += [(r.action, "SBOM", r.s3_uri, f"sha256:{r.sha256}") for r in report.sboms]
    rows += [(r.action, "model data", r.s3_uri,
              f"{r.files} files ({r.uploaded} uploaded, {r.skipped} skipped, {r.deleted} "
              f"deleted), listing sha256:{r.sha256}") for r in report.file_sets]
    rows += [(p.action, "model package", p.name, p.arn) for p in report.packages]
    _show(console, _table("Published", ("action", "kind", "where", "digest / ARN"), rows))
    for path in report.written:
        console.print(f"wrote {path}")


def print_findings(console: Console, verdicts: Sequence[ScanVerdict], threshold: str, *,
                   allowed: bool) -> None:
    """The findings that fail the vulnerability gate, and the scans with no verdict."""
    rows = findings_table(verdicts)
    if rows:
        _show(console, _table(f"Findings at or above {threshold}",
                              ("image", "package", "version", "finding", "severity"), rows))
    for v in verdicts:
        if not v.failing:
            console.print(f"scan   {v.repository}@{v.digest}: no verdict: {v.status} "
                          f"({v.detail})")
    if allowed:
        console.print("--allow-vulnerable: publishing these images anyway")
