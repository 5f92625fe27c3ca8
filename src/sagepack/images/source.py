"""What the project's git checkout says about the source of an image."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SourceInfo:
    """The commit an image is built from (empty strings outside a git checkout)."""

    revision: str
    short: str
    commit_time: int | None
    remote: str


def _git(root: Path, *args: str) -> str:
    git = shutil.which("git")
    if git is None:
        return ""
    proc = subprocess.run([git, "-C", str(root), *args], capture_output=True, text=True,
                          check=False)
    return proc.stdout.strip() if proc.returncode == 0 else ""


def source_info(root: Path) -> SourceInfo:
    revision = _git(root, "rev-parse", "HEAD")
    short = _git(root, "rev-parse", "--short=12", "HEAD")
    when = _git(root, "log", "-1", "--format=%ct")
    remote = _git(root, "remote", "get-url", "origin")
    return SourceInfo(revision=revision, short=short,
                      commit_time=int(when) if when.isdigit() else None, remote=remote)
