"""Debian inside a local base: its package set, and the security and updates suites applied.

A base is debootstrapped from the release (``bookworm``) alone; :func:`apply_updates` then
writes the release, ``<suite>-updates`` and ``<suite>-security`` into the root file
system's ``/etc/apt/sources.list`` and runs ``apt-get update`` and ``apt-get upgrade`` in a
chroot (on the host, so with the host's network and name servers), and says which packages
the two suites upgraded. The resulting package set (name, version, architecture; the same
lines as ``dpkg-query -W -f '${Package} ${Version} ${Architecture}\\n'``) is written into
the base (:data:`PACKAGE_SET_PATH`) and its sha256 into the base's labels.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from sagepack.errors import ImageError

DPKG_STATUS = "var/lib/dpkg/status"
#: The package set inside a local base (relative to its root).
PACKAGE_SET_PATH = "usr/share/sagepack/base-packages.txt"
CHROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
APT_OPTIONS = ("-o", "Acquire::Retries=3", "-o", "DPkg::Use-Pty=0",
               "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold")
#: Passed on from the host to debootstrap and apt, which fetch through the same proxy.
PROXY_VARIABLES = ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                   "NO_PROXY")
_SUMMARY = re.compile(r"(\d+) upgraded, (\d+) newly installed, (\d+) to remove and "
                      r"(\d+) not upgraded")

Log = Callable[[str], None]


def tool_env(source_date_epoch: int | None) -> dict[str, str]:
    """The environment of debootstrap and apt: a fixed PATH and locale, non-interactive,
    the host's proxy settings, and ``SOURCE_DATE_EPOCH`` for the scripts that honour it."""
    env = {"PATH": CHROOT_PATH, "LANG": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive"}
    env.update({k: v for k, v in os.environ.items() if k in PROXY_VARIABLES})
    if source_date_epoch is not None:
        env["SOURCE_DATE_EPOCH"] = str(source_date_epoch)
    return env


@dataclass(frozen=True)
class DebPackage:
    name: str
    version: str
    architecture: str
    source: str = ""

    @property
    def line(self) -> str:
        return f"{self.name} {self.version} {self.architecture}"


def parse_dpkg_status(text: str) -> list[DebPackage]:
    """The installed packages of a dpkg status file (``install ok installed`` only)."""
    packages = []
    for paragraph in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in paragraph.splitlines():
            if line[:1] in (" ", "\t"):
                continue  # continuation of a multi-line field
            key, sep, value = line.partition(":")
            if sep:
                fields[key] = value.strip()
        if fields.get("Package") and fields.get("Status", "").endswith(" installed"):
            packages.append(DebPackage(fields["Package"], fields.get("Version", ""),
                                       fields.get("Architecture", ""),
                                       fields.get("Source", "").split(" ")[0]))
    return sorted(packages, key=lambda p: (p.name, p.architecture))


def package_set(packages: Iterable[DebPackage]) -> str:
    """The package-set file: one ``name version architecture`` line each, sorted."""
    return "".join(f"{p.line}\n" for p in sorted(packages, key=lambda p: (p.name,
                                                                           p.architecture)))


def package_set_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def parse_package_set(text: str, where: str) -> list[DebPackage]:
    """The packages of a package-set file; a malformed line is an error naming ``where``."""
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 3:
            raise ImageError(f"{where}: line {number}: expected 'name version architecture', "
                             f"got {line!r}")
        out.append(DebPackage(*fields))
    return out


@dataclass(frozen=True)
class Change:
    """One package whose version differs between two package sets (``""``: absent)."""

    name: str
    architecture: str
    old: str
    new: str

    def describe(self) -> str:
        return f"{self.name} {self.old or '(new)'} -> {self.new or '(removed)'}"


def changes(before: Iterable[DebPackage], after: Iterable[DebPackage]) -> list[Change]:
    """What differs from ``before`` to ``after``, by (name, architecture), sorted."""
    old = {(p.name, p.architecture): p.version for p in before}
    new = {(p.name, p.architecture): p.version for p in after}
    return [Change(name, arch, old.get((name, arch), ""), new.get((name, arch), ""))
            for name, arch in sorted(old.keys() | new.keys())
            if old.get((name, arch)) != new.get((name, arch))]


def sources_list(suite: str, mirror: str, security_mirror: str) -> str:
    """``/etc/apt/sources.list`` of a patched base: the release, updates and security."""
    return (f"deb {mirror} {suite} main\n"
            f"deb {mirror} {suite}-updates main\n"
            f"deb {security_mirror} {suite}-security main\n")


def suites(suite: str) -> tuple[str, ...]:
    return (suite, f"{suite}-updates", f"{suite}-security")


def kept_back(output: str) -> list[str]:
    """The packages ``apt-get upgrade`` names as kept back (not upgraded)."""
    names: list[str] = []
    lines = output.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("The following packages have been kept back"):
            for more in lines[index + 1:]:
                if not more.startswith(" "):
                    break
                names.extend(more.split())
    return names


def not_upgraded(output: str) -> int:
    """The ``N not upgraded`` of ``apt-get upgrade``'s summary line (0 when absent)."""
    match = _SUMMARY.search(output)
    return int(match.group(4)) if match else 0


@dataclass(frozen=True)
class Updates:
    """What applying the updates and security suites did to a root file system."""

    suites: tuple[str, ...]
    changes: tuple[Change, ...]
    kept_back: tuple[str, ...]
    packages: tuple[DebPackage, ...]  # the package set afterwards

    @property
    def upgraded(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.old and c.new)


def _chroot(rootfs: Path, argv: list[str], env: Mapping[str, str], what: str) -> str:
    chroot = shutil.which("chroot") or "/usr/sbin/chroot"
    proc = subprocess.run([chroot, str(rootfs), *argv], capture_output=True, text=True,
                          env=dict(env), check=False)
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        tail = "\n".join(output.strip().splitlines()[-15:])
        raise ImageError(f"{what} in the base's root file system failed "
                         f"(exit {proc.returncode}):\n{tail}")
    return output


def _read_status(rootfs: Path) -> list[DebPackage]:
    return parse_dpkg_status((rootfs / DPKG_STATUS).read_text(encoding="utf-8",
                                                               errors="replace"))


def apply_updates(rootfs: Path, suite: str, mirror: str, security_mirror: str, *,
                  source_date_epoch: int | None = None, log: Log) -> Updates:
    """Point apt at the release, updates and security suites and upgrade every package.

    Runs as root on the host (``chroot``, with ``/proc`` mounted for the maintainer scripts
    and the host's ``/etc/resolv.conf``, both removed again). apt's lists and downloaded
    packages are cleaned afterwards.
    """
    (rootfs / "etc/apt/sources.list").write_text(sources_list(suite, mirror, security_mirror))
    resolv = rootfs / "etc/resolv.conf"
    resolv.unlink(missing_ok=True)
    host_resolv = Path("/etc/resolv.conf")
    resolv.write_bytes(host_resolv.read_bytes() if host_resolv.exists() else b"")
    policy = rootfs / "usr/sbin/policy-rc.d"  # no service starts during the upgrade
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    env = tool_env(source_date_epoch)
    before = _read_status(rootfs)
    proc_dir = rootfs / "proc"
    proc_dir.mkdir(exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "proc", "proc", str(proc_dir)],
                             capture_output=True, check=False).returncode == 0
    try:
        log(f"apt-get update ({', '.join(suites(suite))})")
        _chroot(rootfs, ["apt-get", *APT_OPTIONS, "update"], env, "apt-get update")
        log("apt-get upgrade")
        output = _chroot(rootfs, ["apt-get", *APT_OPTIONS, "-y", "--with-new-pkgs",
                                  "--no-install-recommends", "upgrade"], env,
                         "apt-get upgrade")
        _chroot(rootfs, ["apt-get", "clean"], env, "apt-get clean")
    finally:
        if mounted:
            subprocess.run(["umount", "--lazy", str(proc_dir)], capture_output=True,
                           check=False)
        policy.unlink(missing_ok=True)
        resolv.unlink(missing_ok=True)
    after = _read_status(rootfs)
    held = kept_back(output)
    if not held and not_upgraded(output):
        held = [f"({not_upgraded(output)} packages)"]
    return Updates(suites=suites(suite), changes=tuple(changes(before, after)),
                   kept_back=tuple(held), packages=tuple(after))
