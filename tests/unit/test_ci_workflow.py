"""The GitHub workflow runs .ci/run's steps, with CI=true kept through sudo."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
README_TEST_COMMAND = "scripts/bootstrap.sh && .venv/bin/invoke check"


def _run_lines(text: str) -> list[str]:
    return [m.group(1).strip() for m in re.finditer(r"^\s+run:\s*(.+)$", text, re.MULTILINE)]


def test_ci_runs_the_readme_test_command() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    assert README_TEST_COMMAND in script.splitlines()
    assert README_TEST_COMMAND in (ROOT / "README.md").read_text()


def test_workflow_runs_ci_run_and_nothing_else() -> None:
    runs = _run_lines(WORKFLOW.read_text())
    assert len(runs) == 1 and runs[0].endswith("bash .ci/run"), runs


def _keeps_ci(line: str) -> bool:
    """A command line that runs nothing under sudo, or keeps CI=true through it."""
    if not line.startswith("sudo"):
        return True
    return bool(re.search(r"--preserve-env=\S*\bCI\b", line)
                or re.search(r"\benv\b.*\bCI=true\b", line))


def test_ci_survives_sudo() -> None:
    for line in _run_lines(WORKFLOW.read_text()):
        assert _keeps_ci(line), f"sudo drops CI in: {line}"


def test_a_sudo_dropping_ci_is_caught() -> None:
    assert not _keeps_ci("sudo --preserve-env=PATH .venv/bin/invoke check --only pytest")
    assert _keeps_ci("sudo --preserve-env=CI,PATH bash .ci/run")
