"""The supply-chain keys of [tool.sagepack]: defaults, values, and every mistake named."""

from __future__ import annotations

from pathlib import Path

import pytest

from sagepack import config
from sagepack.errors import ConfigError


def load(tmp_path: Path, tool: str) -> config.Settings:
    (tmp_path / "artifacts").mkdir(exist_ok=True)
    (tmp_path / "pyproject.toml").write_text(f"[tool.sagepack]\n{tool}")
    return config.load(tmp_path, env={})


def test_defaults(tmp_path: Path) -> None:
    supply = load(tmp_path, "").project.supply
    assert supply.scan_fail_severity == "CRITICAL" and supply.base_max_age_days == 30
    assert supply.fails("CRITICAL") and not supply.fails("HIGH")
    assert not supply.fails("UNDEFINED")


def test_values_and_matching(tmp_path: Path) -> None:
    supply = load(tmp_path, """scan_fail_severity = "high"
scan_timeout = 60
base_max_age_days = 7
scan_ignore = [{finding = "CVE-1", reason = "fixed upstream, not exploitable here"}]
secret_allow = [{path = "opt/ml/model/tests/*.pem", rule = "private-key", reason = "test key"}]
""").project.supply
    assert supply.scan_fail_severity == "HIGH" and supply.fails("HIGH")
    assert supply.scan_timeout_s == 60 and supply.base_max_age_days == 7
    assert supply.ignored("CVE-1", "any") is not None and supply.ignored("CVE-2", "x") is None
    assert supply.allowed("/opt/ml/model/tests/k.pem", "private-key") is not None
    assert supply.allowed("/opt/ml/model/tests/k.pem", "aws-access-key") is None
    assert supply.allowed("/opt/ml/model/k.pem", "private-key") is None


def test_mistakes_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as bad:
        load(tmp_path, """scan_fail_severity = "SEVERE"
scan_timeout = 0
scan_ignore = [{finding = "CVE-1"}, "CVE-2", {finding = "CVE-3", reason = "x", why = "y"}]
secret_allow = [{rule = "private-key", reason = "r"}]
""")
    text = str(bad.value)
    assert "tool.sagepack.scan_fail_severity: expected one of LOW, MEDIUM, HIGH, CRITICAL" in text
    assert "tool.sagepack.scan_timeout: expected a whole number above 0" in text
    assert "tool.sagepack.scan_ignore[0].reason: required" in text
    assert "tool.sagepack.scan_ignore[1]: expected a table" in text
    assert "tool.sagepack.scan_ignore[2].why: unknown key" in text
    assert "tool.sagepack.secret_allow[0].path: required" in text
