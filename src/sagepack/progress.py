"""Progress and tables on the builder's terminal (rich), plain lines when not on a terminal."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

# Below this, a progress bar is noise.
PROGRESS_THRESHOLD = 256 * 1024 * 1024

_console: Console | None = None


def console() -> Console:
    """The one console sagepack writes to (stdout; plain when not a terminal)."""
    global _console
    if _console is None:
        _console = Console(highlight=False, soft_wrap=True)
    return _console


def is_interactive() -> bool:
    return console().is_terminal and sys.stdout.isatty()


@contextlib.contextmanager
def byte_progress(label: str, total: int, *, enabled: bool = True,
                  threshold: int = PROGRESS_THRESHOLD) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n_bytes)``; shows a bar when ``total`` is large and on a terminal."""
    if not enabled or total < threshold or not is_interactive():
        yield lambda n: None
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                  TransferSpeedColumn(), TimeRemainingColumn(), console=console(),
                  transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print a table (rich on a terminal, aligned text otherwise)."""
    t = Table(title=title, title_justify="left")
    for col in columns:
        t.add_column(col)
    for row in rows:
        t.add_row(*(str(v) for v in row))
    console().print(t)


def say(message: str) -> None:
    console().print(message)
