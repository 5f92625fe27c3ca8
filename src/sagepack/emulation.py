"""Running another CPU architecture's code on this machine: qemu-user through binfmt_misc.

An arm64 image is built and tested on x86_64 machines under emulation: the kernel hands
every aarch64 executable to ``qemu-aarch64-static`` (Debian's qemu-user-static), which it
finds through a ``binfmt_misc`` handler. The handler needs the ``F`` (fix-binary) flag:
the kernel then opens the emulator when the handler is registered, so it also runs
executables inside containers and chroots, where the emulator's path does not exist.
``scripts/bootstrap.sh`` registers it (as root); :func:`require` refuses, naming what to
run, a build or a run that would need it when it is absent.

Emulated code runs several times slower than native: :data:`SLOWDOWN` scales the
deadlines of what runs emulated (the image tests' readiness deadline).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sagepack.errors import EmulationUnavailable
from sagepack.platforms import Platform, host

BINFMT_DIR = Path("/proc/sys/fs/binfmt_misc")
#: How much longer emulated code may take than native code before a deadline fails it.
SLOWDOWN = 5
SETUP = ("as root: scripts/bootstrap.sh (or: apt-get install qemu-user-static; "
         "mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc; "
         "cat /usr/lib/binfmt.d/qemu-{arch}.conf > /proc/sys/fs/binfmt_misc/register)")


@dataclass(frozen=True)
class Handler:
    """What ``/proc/sys/fs/binfmt_misc/qemu-<arch>`` says."""

    name: str
    enabled: bool
    interpreter: str
    flags: str

    @property
    def works_in_containers(self) -> bool:
        return self.enabled and "F" in self.flags


def parse_handler(name: str, text: str) -> Handler:
    """A binfmt_misc entry's file (``enabled``, ``interpreter ...``, ``flags: POF``...)."""
    lines = [line.strip() for line in text.splitlines()]
    fields = dict(line.split(" ", 1) for line in lines if " " in line)
    return Handler(name=name, enabled="enabled" in lines,
                   interpreter=fields.get("interpreter", ""),
                   flags=fields.get("flags:", "").strip())


def handler(platform: Platform, binfmt_dir: Path = BINFMT_DIR) -> Handler | None:
    """The registered handler for ``platform``'s executables (None: none registered)."""
    entry = binfmt_dir / f"qemu-{platform.arch}"
    try:
        return parse_handler(entry.name, entry.read_text(encoding="utf-8"))
    except OSError:
        return None


def emulated(platform: Platform) -> bool:
    """Whether ``platform``'s code runs emulated here (this machine has another CPU)."""
    return host() != platform


def require(platform: Platform, what: str, binfmt_dir: Path = BINFMT_DIR) -> bool:
    """Make sure ``what`` (a build, a run) of a ``platform`` image can run here; return
    whether it runs emulated. Raises :class:`EmulationUnavailable` naming what to run."""
    if not emulated(platform):
        return False
    machine = host()
    found = handler(platform, binfmt_dir)
    here = machine.arch if machine else "this"
    setup = SETUP.format(arch=platform.arch)
    if found is None:
        mounted = (binfmt_dir / "register").exists()
        why = ("no qemu-" + platform.arch + " binfmt_misc handler is registered" if mounted
               else f"binfmt_misc is not mounted at {binfmt_dir}")
        raise EmulationUnavailable(f"{what} needs {platform.arch} emulation on this {here} "
                                   f"machine, and {why}; set it up {setup}")
    if not found.works_in_containers:
        state = "disabled" if not found.enabled else f"flags {found.flags or 'none'}"
        raise EmulationUnavailable(
            f"{what} needs {platform.arch} emulation inside containers: the {found.name} "
            f"handler is registered ({state}) without the F (fix-binary) flag; remove it "
            f"(echo -1 > {binfmt_dir / found.name}) and register it again {setup}")
    return True
