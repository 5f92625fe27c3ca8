"""Results of one image's checks: read from the JUnit XML pytest wrote, shown as a table."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from sagepack.checks import ERROR, FAILED, PASSED, SKIPPED, CheckResult
from sagepack.progress import console as default_console
from sagepack.progress import make_table

_STYLE = {PASSED: "green", FAILED: "red", ERROR: "red", SKIPPED: "yellow"}


@dataclass(frozen=True)
class SmokeReport:
    """What ``invoke test`` found for one image."""

    image: str
    model: str
    variant: str
    no_network: bool
    checks: tuple[CheckResult, ...]
    junit: Path | None
    exit_code: int  # pytest's
    log: Path | None = None
    emulated: str | None = None  # the platform, when the image ran under emulation

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if c.failed)

    @property
    def skipped(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if c.outcome == SKIPPED)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.failures and bool(self.checks)

    def summary(self) -> str:
        """``all checks passed``, ``2 of 17 checks failed``, each followed by what was
        skipped (``, 1 skipped: egress (bridge network)``)."""
        if self.ok:
            verdict = "all checks passed"
        elif not self.checks:
            verdict = "no checks ran"
        else:
            verdict = f"{len(self.failures)} of {len(self.checks)} checks failed"
        if self.skipped:
            labels = ", ".join(c.label or c.name for c in self.skipped)
            verdict += f", {len(self.skipped)} skipped: {labels}"
        return verdict


def _message(case: ET.Element, tag: str) -> str:
    element = case.find(tag)
    if element is None:
        return ""
    text = (element.get("message") or "").strip()
    body = (element.text or "").strip()
    return text if text and len(text) > 20 else (text + "\n" + body).strip()


def read_junit(path: Path) -> tuple[CheckResult, ...]:
    """The checks in a pytest JUnit XML file, in the order they ran."""
    root = ET.parse(path).getroot()
    results: list[CheckResult] = []
    for case in root.iter("testcase"):
        props = {p.get("name"): p.get("value") or "" for p in case.iter("property")}
        if case.find("failure") is not None:
            outcome, message = FAILED, _message(case, "failure")
        elif case.find("error") is not None:
            outcome, message = ERROR, _message(case, "error")
        elif case.find("skipped") is not None:
            outcome, message = SKIPPED, _message(case, "skipped")
        else:
            outcome, message = PASSED, ""
        results.append(CheckResult(
            name=props.get("check") or case.get("name") or "?", outcome=outcome,
            seconds=float(case.get("time") or 0), detail=props.get("detail", ""),
            message=message, label=props.get("skipped_as", "") if outcome == SKIPPED else ""))
    return tuple(results)


def _first_line(text: str, limit: int = 160) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    line = line.removeprefix("Skipped: ").removeprefix("Failed: ")
    return line if len(line) <= limit else line[:limit - 1] + "…"


def render(report: SmokeReport, console: Console | None = None) -> None:
    """A table of checks (check, result, time, detail), then why each failure failed."""
    out = console or default_console()
    where = "no network" if report.no_network else "bridge network, port on 127.0.0.1"
    if report.emulated:
        where += f", {report.emulated} emulated"
    table = make_table(f"{report.image} ({where})", ("check", "result", "time", "detail"),
                       right=("time",))
    for c in report.checks:
        detail = c.detail if c.outcome == PASSED else (_first_line(c.message) or c.detail)
        # Names and details are the checks' own text ("[json]", "no [validation]"): never
        # markup.
        table.add_row(Text(c.name), f"[{_STYLE[c.outcome]}]{c.outcome}[/]",
                      f"{c.seconds:.2f} s", Text(detail))
    out.print(table)
    for c in report.failures:
        out.print(f"[red]{c.outcome}[/]: {escape(c.name)}", highlight=False)
        out.print(c.message, markup=False, highlight=False)
    if not report.checks:
        out.print(f"[red]no checks ran[/] (pytest exit code {report.exit_code}; "
                  f"see {report.log})")
    colour = "green" if report.ok else "red"
    out.print(f"{report.image}: [{colour}]{escape(report.summary())}[/]; JUnit XML: {report.junit}; "
              f"log: {report.log}", highlight=False)
