"""Supply-chain settings of ``[tool.sagepack]``: the vulnerability gate, the secret scan's
allow-list and the age a base image may reach.

Keys (all optional)::

    scan_fail_severity = "CRITICAL"   # LOW, MEDIUM, HIGH or CRITICAL: fail from this up
    scan_timeout = 1800               # seconds to wait for ECR's scan of each image
    scan_ignore = [{finding = "CVE-2024-1234", package = "openssl", reason = "..."}]
    secret_allow = [{path = "opt/model/tests/*", rule = "private-key", reason = "..."}]
    base_max_age_days = 30            # `invoke build` warns about an older base
    package_wait_timeout = 14400      # seconds `invoke publish --wait` follows a package

Every ignore and allow entry needs a reason: it is printed whenever the entry is used.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from sagepack.problems import Reader

SEVERITIES = ("INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL")
FAIL_SEVERITIES = SEVERITIES[1:]


@dataclass(frozen=True)
class IgnoredFinding:
    """A scan finding that does not fail the gate (``package`` empty: in any package)."""

    finding: str
    reason: str
    package: str = ""

    def matches(self, finding: str, package: str) -> bool:
        return self.finding == finding and (not self.package or self.package == package)


@dataclass(frozen=True)
class AllowedSecret:
    """A file (glob on its path inside the image) a secret rule (empty: any) may match."""

    path: str
    reason: str
    rule: str = ""

    def matches(self, path: str, rule: str) -> bool:
        return fnmatch.fnmatchcase(path.lstrip("/"), self.path.lstrip("/")) and \
            (not self.rule or self.rule == rule)


@dataclass(frozen=True)
class SupplyConfig:
    scan_fail_severity: str = "CRITICAL"
    scan_timeout_s: int = 1800
    scan_ignore: tuple[IgnoredFinding, ...] = ()
    secret_allow: tuple[AllowedSecret, ...] = ()
    base_max_age_days: int = 30
    package_wait_timeout_s: int = 4 * 3600

    def fails(self, severity: str) -> bool:
        """Whether a finding of ``severity`` reaches the configured threshold."""
        rank = {s: i for i, s in enumerate(SEVERITIES)}
        return rank.get(severity.upper(), -1) >= rank[self.scan_fail_severity]

    def ignored(self, finding: str, package: str) -> IgnoredFinding | None:
        return next((i for i in self.scan_ignore if i.matches(finding, package)), None)

    def allowed(self, path: str, rule: str) -> AllowedSecret | None:
        return next((a for a in self.secret_allow if a.matches(path, rule)), None)


def _entries(t: Reader, name: str) -> list[tuple[Reader, int]]:
    value = t.get(name, list, None, label="list of tables")
    if value is None:
        return []
    out = []
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            t.problem(f"{name}[{index}]", f"expected a table, got {item!r}")
            continue
        out.append((Reader(item, t.file, f"{t.key(name)}[{index}].", t.problems), index))
    return out


def _positive(t: Reader, name: str, default: int) -> int:
    value = t.get(name, int, default)
    if value is None or value <= 0:
        t.problem(name, f"expected a whole number above 0, got {value!r}")
        return default
    return value


def load_supply(t: Reader) -> SupplyConfig:
    """Read the supply-chain keys of ``[tool.sagepack]`` (problems go to ``t``)."""
    severity = t.get("scan_fail_severity", str, "CRITICAL") or "CRITICAL"
    if severity.upper() not in FAIL_SEVERITIES:
        t.problem("scan_fail_severity",
                  f"expected one of {', '.join(FAIL_SEVERITIES)}, got {severity!r}")
        severity = "CRITICAL"
    ignores = []
    for r, _ in _entries(t, "scan_ignore"):
        finding = r.get("finding", str, None, required=True)
        reason = r.get("reason", str, None, required=True)
        package = r.get("package", str, "") or ""
        r.finish()
        if finding and reason:
            ignores.append(IgnoredFinding(finding=finding, reason=reason, package=package))
        elif reason == "":
            r.problem("reason", "must say why the finding is ignored")
    allows = []
    for r, _ in _entries(t, "secret_allow"):
        path = r.get("path", str, None, required=True)
        reason = r.get("reason", str, None, required=True)
        rule = r.get("rule", str, "") or ""
        r.finish()
        if path and reason:
            allows.append(AllowedSecret(path=path, reason=reason, rule=rule))
        elif reason == "":
            r.problem("reason", "must say why the file is allowed")
    return SupplyConfig(
        scan_fail_severity=severity.upper(),
        scan_timeout_s=_positive(t, "scan_timeout", 1800),
        scan_ignore=tuple(ignores),
        secret_allow=tuple(allows),
        base_max_age_days=_positive(t, "base_max_age_days", 30),
        package_wait_timeout_s=_positive(t, "package_wait_timeout", 4 * 3600),
    )
