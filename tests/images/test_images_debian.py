"""Patched bases without Docker: apt sources, package sets, upgrades, labels, a base's age."""

from __future__ import annotations

import time

import pytest

from sagepack.errors import ImageError
from sagepack.images.base import (
    RECIPES,
    base_labels,
    describe_updates,
    stale_base_warning,
)
from sagepack.images.debian import (
    DebPackage,
    Updates,
    changes,
    kept_back,
    not_upgraded,
    package_set,
    package_set_sha256,
    parse_dpkg_status,
    parse_package_set,
    sources_list,
)

NAME = "sagepack/base:bookworm-python3.11"
DAY = 86400.0
NOW = 1_800_000_000.0

STATUS = """Package: libssl3
Status: install ok installed
Architecture: amd64
Version: 3.0.15-1~deb12u1
Source: openssl
Description: Secure Sockets Layer toolkit
 multi-line description

Package: base-files
Status: install ok installed
Architecture: amd64
Version: 12.4+deb12u10

Package: removed-one
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0

Package: tzdata
Status: install ok installed
Architecture: all
Version: 2024a-0+deb12u1
"""

UPGRADE_OUTPUT = """Reading package lists...
Calculating upgrade...
The following packages have been kept back:
  libfoo1 libbar2
The following packages will be upgraded:
  libssl3 tzdata
2 upgraded, 0 newly installed, 0 to remove and 2 not upgraded.
"""


def test_sources_name_the_release_its_updates_and_its_security_suite() -> None:
    text = sources_list("bookworm", "http://deb.debian.org/debian",
                        "http://deb.debian.org/debian-security")
    assert text.splitlines() == [
        "deb http://deb.debian.org/debian bookworm main",
        "deb http://deb.debian.org/debian bookworm-updates main",
        "deb http://deb.debian.org/debian-security bookworm-security main"]


def test_the_package_set_is_sorted_lines_that_parse_back() -> None:
    packages = parse_dpkg_status(STATUS)
    text = package_set(reversed(packages))
    assert text == ("base-files 12.4+deb12u10 amd64\nlibssl3 3.0.15-1~deb12u1 amd64\n"
                    "tzdata 2024a-0+deb12u1 all\n")
    assert [(p.name, p.version, p.architecture) for p in parse_package_set(text, "f")] == \
        [(p.name, p.version, p.architecture) for p in packages]
    assert package_set_sha256(text) != package_set_sha256(text.replace("u10", "u11"))


def test_a_malformed_package_set_line_is_named() -> None:
    with pytest.raises(ImageError, match=r"base:/usr/share/x: line 2: expected 'name version "
                                         r"architecture', got 'libssl3 3.0'"):
        parse_package_set("a 1 amd64\nlibssl3 3.0\n", "base:/usr/share/x")


def test_changes_between_package_sets_are_upgrades_additions_and_removals() -> None:
    before = [DebPackage("libssl3", "3.0.11-1~deb12u2", "amd64"),
              DebPackage("tzdata", "2024a-0+deb12u1", "all"),
              DebPackage("gone", "1", "amd64")]
    after = [DebPackage("libssl3", "3.0.15-1~deb12u1", "amd64"),
             DebPackage("tzdata", "2024a-0+deb12u1", "all"),
             DebPackage("libnew1", "2", "amd64")]
    found = changes(before, after)
    assert [c.describe() for c in found] == ["gone 1 -> (removed)", "libnew1 (new) -> 2",
                                             "libssl3 3.0.11-1~deb12u2 -> 3.0.15-1~deb12u1"]
    updates = Updates(suites=("bookworm", "bookworm-updates", "bookworm-security"),
                      changes=tuple(found), kept_back=(), packages=tuple(after))
    assert [c.name for c in updates.upgraded] == ["libssl3"]
    lines = describe_updates(updates)
    assert lines[0] == ("bookworm-updates and bookworm-security upgraded 1 packages: "
                        "libssl3 3.0.11-1~deb12u2 -> 3.0.15-1~deb12u1")
    assert lines[1] == "newly installed with them: libnew1 (new) -> 2"


def test_kept_back_packages_are_read_from_apt_output() -> None:
    assert kept_back(UPGRADE_OUTPUT) == ["libfoo1", "libbar2"]
    assert not_upgraded(UPGRADE_OUTPUT) == 2
    assert kept_back("0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.") == []


def test_the_base_labels_record_suites_upgrades_and_the_package_set_digest() -> None:
    packages = tuple(parse_dpkg_status(STATUS))
    listing = package_set(packages)
    upgraded = changes([DebPackage("libssl3", "3.0.11", "amd64")], packages[1:2])
    updates = Updates(("bookworm", "bookworm-updates", "bookworm-security"),
                      tuple(upgraded), (), packages)
    labels = base_labels(RECIPES[NAME], f"{NAME}-20270115", updates, listing, NOW)
    assert labels["sagepack.base.suites"] == "bookworm bookworm-updates bookworm-security"
    assert labels["sagepack.base.upgraded"] == "1"
    assert labels["sagepack.base.package-set.count"] == "3"
    assert labels["sagepack.base.package-set.sha256"] == package_set_sha256(listing)
    assert labels["sagepack.base.updated"] == time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                            time.gmtime(NOW))


def _attrs(updated: float | None, created: float = NOW - 400 * DAY,
           patched: bool = True) -> dict[str, object]:
    labels = {"sagepack.base.package-set.sha256": "ab" * 32} if patched else {}
    if updated is not None:
        labels["sagepack.base.updated"] = time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                        time.gmtime(updated))
    return {"Created": time.strftime("%Y-%m-%dT%H:%M:%S.123456789Z", time.gmtime(created)),
            "Config": {"Labels": labels}}


def test_a_base_older_than_the_limit_is_named_with_its_age_and_the_refresh_command() -> None:
    warning = stale_base_warning(NAME, _attrs(NOW - 45 * DAY), 30, now=NOW)
    assert warning is not None
    assert f"base image {NAME} is 45 days old" in warning
    assert "base_max_age_days = 30" in warning
    assert warning.endswith(f"invoke base --refresh --name {NAME}")
    assert stale_base_warning(NAME, _attrs(NOW - 29 * DAY), 30, now=NOW) is None
    assert stale_base_warning(NAME, _attrs(NOW - 29 * DAY), 14, now=NOW) is not None


def test_the_age_counts_from_the_update_label_else_the_creation_time() -> None:
    # Created long ago, but its packages were updated yesterday: not stale.
    assert stale_base_warning(NAME, _attrs(NOW - DAY), 30, now=NOW) is None
    warning = stale_base_warning(NAME, _attrs(None, created=NOW - 60 * DAY), 30, now=NOW)
    assert warning is not None and "is 60 days old" in warning


def test_a_base_built_without_the_suites_is_flagged_and_pulled_bases_are_not() -> None:
    warning = stale_base_warning(NAME, _attrs(NOW, patched=False), 30, now=NOW)
    assert warning is not None
    assert "without Debian's updates and security suites" in warning
    assert f"invoke base --refresh --name {NAME}" in warning
    assert stale_base_warning("python:3.11-slim-bookworm", _attrs(NOW - 400 * DAY), 30,
                              now=NOW) is None
