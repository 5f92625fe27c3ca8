"""``invoke check``: the project's own quality gates, in the order CI runs them."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sagepack.errors import SagepackError
from sagepack.progress import say

# pytest's exit code when no test was selected: treated as a failure, never as green.
PYTEST_NO_TESTS = 5


@dataclass(frozen=True)
class Gate:
    name: str
    argv: tuple[str, ...]


def gates(root: Path, pytest_args: Sequence[str] = ()) -> list[Gate]:
    py = sys.executable
    return [
        Gate("ruff", (py, "-m", "ruff", "check", "src", "tests", "tasks.py")),
        Gate("mypy", (py, "-m", "mypy", "src/sagepack", "tasks.py")),
        Gate("pytest", (py, "-m", "pytest", *pytest_args)),
    ]


def run_checks(root: Path, *, only: str | None = None,
               pytest_args: Sequence[str] = ()) -> None:
    """Run every gate (or ``only`` one); raise on the first that fails."""
    for gate in gates(root, pytest_args):
        if only and gate.name != only:
            continue
        say(f"[bold]== {gate.name}[/bold]: {' '.join(gate.argv[1:])}")
        code = subprocess.run(gate.argv, cwd=root, check=False).returncode
        if gate.name == "pytest" and code == PYTEST_NO_TESTS:
            raise SagepackError("pytest selected no tests: check the -k/-m arguments")
        if code != 0:
            raise SagepackError(f"{gate.name} failed (exit code {code})")
    say("all checks passed")
