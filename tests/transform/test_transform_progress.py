"""What a user sees: a progress bar on a terminal, plain lines otherwise, and the summary."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console
from transform_helpers import FakeContainer

from sagepack.transform import TransformJob, run_transform


def job(tmp_path: Path) -> TransformJob:
    for name, text in (("a.csv", "1\n2\n"), ("b.csv", "x\n")):
        (tmp_path / "in").mkdir(exist_ok=True)
        (tmp_path / "in" / name).write_text(text)
    return TransformJob(input=tmp_path / "in", output=tmp_path / "out", content_type="text/csv",
                        split_type="Line", strategy="SingleRecord", retries=0)


def fail_x(container: FakeContainer) -> None:
    container.model = lambda body, h: (500, b"model crashed") if body == b"x" else (200, body)


def test_plain_lines_when_not_a_terminal(container: FakeContainer, tmp_path: Path) -> None:
    fail_x(container)
    buffer = io.StringIO()
    run_transform(job(tmp_path), container.url, console=Console(file=buffer, width=200))
    lines = buffer.getvalue().splitlines()
    assert lines[0] == "[1/2] ok a.csv: 2 records"
    assert lines[1] == "[2/2] FAILED b.csv: record 1: HTTP 500: model crashed"
    assert lines[2].startswith("transform: 2 file(s), 1 failed, 2 records")
    assert lines[-1] == "  FAILED b.csv: record 1: HTTP 500: model crashed"


def test_progress_bar_on_a_terminal(container: FakeContainer, tmp_path: Path) -> None:
    fail_x(container)
    buffer = io.StringIO()
    console = Console(file=buffer, width=200, force_terminal=True)
    run_transform(job(tmp_path), container.url, console=console)
    text = buffer.getvalue()
    assert "files 2/2" in text and "records 2" in text
    assert "FAILED" in text and "model crashed" in text


def test_no_output_without_progress(container: FakeContainer, tmp_path: Path) -> None:
    buffer = io.StringIO()
    run_transform(job(tmp_path), container.url, progress=False,
                  console=Console(file=buffer))
    assert buffer.getvalue() == ""


def test_render_lists_failures_first(container: FakeContainer, tmp_path: Path) -> None:
    fail_x(container)
    report = run_transform(job(tmp_path), container.url, progress=False)
    buffer = io.StringIO()
    report.render(Console(file=buffer, width=200), max_rows=1)
    text = buffer.getvalue()
    assert "b.csv" in text and "a.csv" not in text and "1 more file(s) not listed" in text
