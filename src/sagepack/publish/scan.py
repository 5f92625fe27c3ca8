"""The vulnerability gate: ECR's scan of each pushed digest, waited for and judged.

Repositories scan on push; when ECR has no scan of a digest (``ScanNotFoundException``)
one is started. Each digest is polled until its scan is ``COMPLETE`` (or ``ACTIVE`` for
enhanced scanning) or the time limit passes; a status change is printed as it happens.
A finding at or above ``scan_fail_severity`` fails the gate unless the configuration
ignores it (with a reason) or the publish runs with ``--allow-vulnerable``. A scan that
ends without findings to judge (``FAILED``, ``UNSUPPORTED_IMAGE``...) is a failure too:
an image nobody could scan is not known to be clean.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console

from sagepack.config.supply import SupplyConfig

DONE = ("COMPLETE", "ACTIVE")
UNJUDGEABLE = ("FAILED", "UNSUPPORTED_IMAGE", "FINDINGS_UNAVAILABLE",
               "SCAN_ELIGIBILITY_EXPIRED")
POLL_INTERVAL_S = 5.0


@dataclass(frozen=True)
class Finding:
    name: str
    severity: str
    package: str
    version: str
    ignored_because: str = ""


@dataclass(frozen=True)
class ScanVerdict:
    """The gate's judgement of one digest."""

    repository: str
    digest: str
    status: str
    findings: tuple[Finding, ...] = ()
    failing: tuple[Finding, ...] = ()
    counts: Mapping[str, int] = field(default_factory=dict)
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.status in DONE and not self.failing

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "passed": self.passed, "counts": dict(self.counts),
                "failing": [{"name": f.name, "severity": f.severity, "package": f.package,
                             "version": f.version} for f in self.failing],
                "ignored": [{"name": f.name, "package": f.package,
                             "reason": f.ignored_because}
                            for f in self.findings if f.ignored_because],
                "detail": self.detail}


def _attributes(raw: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    return {str(a.get("key")): str(a.get("value", "")) for a in raw}


def parse_findings(pages: Iterable[Mapping[str, Any]]) -> list[Finding]:
    """Basic and enhanced findings of ``DescribeImageScanFindings`` pages, one per package."""
    found: list[Finding] = []
    for page in pages:
        body = page.get("imageScanFindings") or {}
        for item in body.get("findings") or []:
            attrs = _attributes(item.get("attributes") or [])
            found.append(Finding(name=str(item.get("name", "?")),
                                 severity=str(item.get("severity", "UNDEFINED")).upper(),
                                 package=attrs.get("package_name", ""),
                                 version=attrs.get("package_version", "")))
        for item in body.get("enhancedFindings") or []:
            details = item.get("packageVulnerabilityDetails") or {}
            name = str(details.get("vulnerabilityId") or item.get("title") or "?")
            packages = details.get("vulnerablePackages") or [{}]
            for pkg in packages:
                found.append(Finding(name=name,
                                     severity=str(item.get("severity", "UNDEFINED")).upper(),
                                     package=str(pkg.get("name", "")),
                                     version=str(pkg.get("version", ""))))
    return found


def judge(repository: str, digest: str, status: str, pages: Sequence[Mapping[str, Any]],
          supply: SupplyConfig, detail: str = "") -> ScanVerdict:
    """Apply the threshold and the ignore list to a finished scan's findings."""
    findings = []
    for f in parse_findings(pages):
        ignored = supply.ignored(f.name, f.package)
        findings.append(Finding(f.name, f.severity, f.package, f.version,
                                ignored.reason if ignored else ""))
    failing = tuple(f for f in findings if supply.fails(f.severity) and not f.ignored_because)
    counts: dict[str, int] = {}
    for page in pages[:1]:
        counts = dict((page.get("imageScanFindings") or {}).get("findingSeverityCounts") or {})
    return ScanVerdict(repository=repository, digest=digest, status=status,
                       findings=tuple(findings), failing=failing, counts=counts,
                       detail=detail)


@dataclass
class ScanWaiter:
    """Waits for the scans of several digests, printing each status change."""

    ecr: Any
    account_id: str
    console: Console
    supply: SupplyConfig
    interval_s: float = POLL_INTERVAL_S
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    def _describe(self, repository: str, digest: str) -> list[dict[str, Any]]:
        paginator = self.ecr.get_paginator("describe_image_scan_findings")
        return [dict(p) for p in paginator.paginate(
            registryId=self.account_id, repositoryName=repository,
            imageId={"imageDigest": digest})]

    def _start(self, repository: str, digest: str) -> None:
        # One scan a day: when ECR refuses another, one is under way or done; read it.
        with contextlib.suppress(self.ecr.exceptions.LimitExceededException):
            self.ecr.start_image_scan(registryId=self.account_id, repositoryName=repository,
                                      imageId={"imageDigest": digest})
        self.console.print(f"scan   {repository}@{digest}: none found, started one")

    def wait(self, repository: str, digest: str) -> ScanVerdict:
        """Poll until the scan of ``repository@digest`` is final, or the time limit."""
        deadline = self.clock() + self.supply.scan_timeout_s
        started = False
        last = ""
        while True:
            try:
                pages = self._describe(repository, digest)
            except self.ecr.exceptions.ScanNotFoundException:
                if started:
                    pages = []
                else:
                    self._start(repository, digest)
                    started = True
                    continue
            except self.ecr.exceptions.ImageNotFoundException:
                return ScanVerdict(repository=repository, digest=digest, status="NO_IMAGE",
                                   detail="ECR's API does not know the image the registry "
                                          "took; nothing to scan")
            scan = (pages[0].get("imageScanStatus") or {}) if pages else {}
            status = str(scan.get("status") or "PENDING").upper()
            detail = str(scan.get("description") or "")
            if status != last:
                self.console.print(f"scan   {repository}@{digest}: {status}"
                                   + (f" ({detail})" if detail else ""))
                last = status
            if status in DONE:
                return judge(repository, digest, status, pages, self.supply, detail)
            if status in UNJUDGEABLE:
                return ScanVerdict(repository=repository, digest=digest, status=status,
                                   detail=detail or "the scan ended without findings")
            if self.clock() >= deadline:
                return ScanVerdict(
                    repository=repository, digest=digest, status="TIMED_OUT",
                    detail=f"ECR's scan was still {status} after "
                           f"{self.supply.scan_timeout_s} s (tool.sagepack.scan_timeout); "
                           "re-run to wait again")
            self.sleep(self.interval_s)


def verdict_problem(verdict: ScanVerdict, threshold: str) -> str:
    """The sentence naming why ``verdict`` fails the gate."""
    where = f"{verdict.repository}@{verdict.digest}"
    if verdict.status not in DONE:
        return f"{where}: no scan verdict ({verdict.status}: {verdict.detail})"
    worst = ", ".join(sorted({f.severity for f in verdict.failing}))
    return (f"{where}: {len(verdict.failing)} finding(s) at or above {threshold} "
            f"({worst})")


def findings_table(verdicts: Iterable[ScanVerdict]) -> list[tuple[str, str, str, str, str]]:
    """Rows (image, package, version, finding, severity) of every failing finding."""
    return [(f"{v.repository}@{v.digest[:19]}", f.package or "?", f.version or "?", f.name,
             f.severity) for v in verdicts for f in v.failing]


def run_gate(waiter: ScanWaiter, images: Iterable[tuple[str, str]]) -> dict[str, ScanVerdict]:
    """The verdict of each distinct ``(repository, digest)``, keyed by digest."""
    verdicts: dict[str, ScanVerdict] = {}
    for repository, digest in images:
        if digest not in verdicts:
            verdicts[digest] = waiter.wait(repository, digest)
    for verdict in verdicts.values():
        for f in verdict.findings:
            if f.ignored_because and waiter.supply.fails(f.severity):
                waiter.console.print(f"note: {f.name} ({f.severity}) in {f.package} "
                                     f"{f.version} ignored: {f.ignored_because}")
    return verdicts
