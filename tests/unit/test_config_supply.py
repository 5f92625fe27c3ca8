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


def test_the_base_age_limit_comes_from_the_environment_too(tmp_path: Path) -> None:
    (tmp_path / "artifacts").mkdir()
    (tmp_path / "pyproject.toml").write_text("[tool.sagepack]\nbase_max_age_days = 7\n")
    env = {"SAGEPACK_BASE_MAX_AGE_DAYS": "90"}
    assert config.load(tmp_path, env=env).project.supply.base_max_age_days == 90
    with pytest.raises(ConfigError, match=r"\$SAGEPACK_BASE_MAX_AGE_DAYS: expected a whole "
                                          r"number of days above 0, got '0'"):
        config.load(tmp_path, env={"SAGEPACK_BASE_MAX_AGE_DAYS": "0"})


@pytest.mark.parametrize(("mirror", "security"), [
    ("http://deb.debian.org/debian", "http://deb.debian.org/debian-security"),
    ("http://deb.debian.org/debian/", "http://deb.debian.org/debian-security"),
    ("http://snapshot.debian.org/archive/debian/20250520T000000Z",
     "http://snapshot.debian.org/archive/debian-security/20250520T000000Z"),
    ("http://apt-cache:3142/debian", "http://apt-cache:3142/debian-security"),
])
def test_the_security_mirror_is_derived_from_the_debian_mirror(tmp_path: Path, mirror: str,
                                                               security: str) -> None:
    project = load(tmp_path, f'debian_mirror = "{mirror}"\n').project
    assert (project.debian_mirror, project.debian_security_mirror) == (mirror, security)


def test_the_security_mirror_can_be_set_and_must_be_when_it_cannot_be_derived(
        tmp_path: Path) -> None:
    project = load(tmp_path, 'debian_mirror = "http://mirror.example/deb"\n'
                   'debian_security_mirror = "http://mirror.example/sec"\n').project
    assert project.debian_security_mirror == "http://mirror.example/sec"
    (tmp_path / "pyproject.toml").write_text("[tool.sagepack]\n")
    env = {"SAGEPACK_DEBIAN_MIRROR": "http://mirror.example/deb",
           "SAGEPACK_DEBIAN_SECURITY_MIRROR": "http://mirror.example/security"}
    assert config.load(tmp_path, env=env).project.debian_security_mirror == \
        "http://mirror.example/security"
    with pytest.raises(ConfigError, match=r"tool\.sagepack\.debian_security_mirror: cannot "
                                          r"derive .* 'http://mirror\.example/deb'"):
        load(tmp_path, 'debian_mirror = "http://mirror.example/deb"\n')
