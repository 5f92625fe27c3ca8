"""The result of one check, whichever stage ran it: the checks on a built image
(:mod:`sagepack.images.checks`, :mod:`sagepack.images.cuda`) and the image test suite
(:mod:`sagepack.smoke.report`). No Docker and no rendering here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PASSED, FAILED, SKIPPED, ERROR = "passed", "failed", "skipped", "error"
OUTCOMES = (PASSED, FAILED, SKIPPED, ERROR)


@dataclass(frozen=True)
class CheckResult:
    name: str
    outcome: str  # one of OUTCOMES
    seconds: float = 0.0
    detail: str = ""  # what was measured
    message: str = ""  # why it failed or was skipped
    label: str = ""  # what a skip leaves out, in a few words: "egress (bridge network)"

    @classmethod
    def of(cls, name: str, passed: bool, detail: str) -> CheckResult:
        """A check that either passed or failed, with what it found."""
        return cls(name, PASSED if passed else FAILED, detail=detail)

    @property
    def passed(self) -> bool:
        return self.outcome == PASSED

    @property
    def failed(self) -> bool:
        return self.outcome in (FAILED, ERROR)

    def as_dict(self) -> dict[str, Any]:
        """As a build report lists it: ``{"name", "passed", "outcome", "detail"}``."""
        return {"name": self.name, "passed": self.passed, "outcome": self.outcome,
                "detail": self.detail}
