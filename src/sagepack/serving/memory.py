"""Memory, as a multi-model server needs it: the container's limit, what the workers use,
and giving freed memory back to the system.

* The limit is the cgroup's: v2 ``memory.max``, else v1 ``memory/memory.limit_in_bytes``.
  ``max``, a missing file or a value at least the host's memory (v1 writes a huge number
  when unlimited) means no limit of its own: the host's ``MemTotal`` from ``/proc/meminfo``.
* What the server uses is the sum of the proportional set size (``Pss`` of
  ``/proc/<pid>/smaps_rollup``) of the supervisor and its workers: pages the workers share
  since the fork (libraries, the interpreter) count once, not once per worker, so the sum
  is what the processes really hold. Where ``smaps_rollup`` cannot be read, the resident
  size of ``/proc/<pid>/statm`` stands in (an overestimate with many workers).
* :func:`trim` asks glibc to return freed heap pages (``malloc_trim(0)``), so unloading a
  model shrinks the worker instead of keeping its memory for later.

No psutil: the image has only the standard library.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import stat
from collections.abc import Iterable
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
MEMINFO = Path("/proc/meminfo")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def host_total(meminfo: Path = MEMINFO) -> int:
    """The host's memory in bytes (``MemTotal``); 0 if it cannot be read."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return 0
    return 0


def container_limit(cgroup_root: Path = CGROUP_ROOT, meminfo: Path = MEMINFO) -> tuple[int, str]:
    """The container's memory limit in bytes, and where it was read."""
    total = host_total(meminfo)
    for relative in ("memory.max", "memory/memory.limit_in_bytes"):
        path = cgroup_root / relative
        try:
            raw = path.read_text().strip()
        except OSError:
            continue
        if raw == "max":
            break
        try:
            value = int(raw)
        except ValueError:
            continue
        if value <= 0 or (total and value >= total):
            break
        return value, str(path)
    return total, f"{meminfo} MemTotal (no cgroup limit)"


def used_by(pid: int) -> int:
    """Bytes process ``pid`` holds: its Pss, else its resident size; 0 if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return resident(pid)


def resident(pid: int) -> int:
    """Resident bytes of process ``pid`` (``/proc/<pid>/statm``); 0 if it is gone."""
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


def used(pids: Iterable[int]) -> int:
    """Bytes the processes ``pids`` hold together (see the module's docstring)."""
    return sum(used_by(pid) for pid in pids)


def size_on_disk(folder: Path) -> int:
    """Bytes of the regular files under ``folder`` (symlinks not followed)."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                info = (Path(root) / name).lstat()
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                total += info.st_size
    return total


def trim() -> bool:
    """Give freed heap memory back to the system (glibc ``malloc_trim``); False elsewhere."""
    name = ctypes.util.find_library("c")
    if name is None:  # pragma: no cover - every Linux image has a libc
        return False
    try:
        ctypes.CDLL(name).malloc_trim(0)
        return True
    except (OSError, AttributeError):  # musl has no malloc_trim
        return False


def mib(value: int) -> str:
    """``value`` bytes as MiB, for messages."""
    return f"{value / 1048576:.1f} MiB"
