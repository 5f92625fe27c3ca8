"""Helpers of the image tests: a throw-away project holding the tiny model, and a tracker
of the images a test creates."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from sagepack import config
from sagepack.config import Settings

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
TEST_REPOSITORY = "sagepack-test/{model}"

PYPROJECT = f"""
[tool.sagepack]
ecr_repository = "{TEST_REPOSITORY}"
dist_dir = "dist"
source_url = "https://example.com/sagepack-test"
"""


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), "-c", "user.name=test", "-c",
                    "user.email=test@example.com", *args], check=True, capture_output=True)


def make_project(root: Path, *, git: bool = True) -> Settings:
    """A project at ``root``: the tiny model, this checkout's containers/ folder."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    shutil.copytree(FIXTURES / "tiny", root / "artifacts" / "tiny")
    (root / "containers").symlink_to(REPO / "containers")
    if git:
        _git(root, "init", "-q")
        _git(root, "add", "pyproject.toml", "artifacts")
        _git(root, "commit", "-q", "-m", "tiny")
    return config.load(root, env={})


class Tracker:
    """Remembers images by tag or id; removes them (and stray check containers) at the end."""

    def __init__(self, client: object, stages: list[str]) -> None:
        self.client = client
        self.images: list[str] = []
        self.stages = stages

    def add(self, *refs: str) -> None:
        self.images.extend(refs)

    def add_stages(self, *ids: str) -> None:
        """Builder-stage images: shared by the session's builds, removed at its end."""
        self.stages.extend(i for i in ids if i not in self.stages)
