"""Progress and tables on the builder's terminal (rich), plain lines when not on a terminal.

The shared pieces of every stage's display: the one console, byte progress bars, tables,
human sizes. What a stage shows (a build's steps, a transform's files, a push's layers)
stays in its own module; JSON reports are written with :func:`sagepack.files.write_json`.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import Any

from rich.console import Console, OverflowMethod
from rich.measure import Measurement
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


def byte_bar(console: Console) -> Progress:
    """A transient bar of bytes: label, bar, bytes done, speed, time left."""
    return Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                    TransferSpeedColumn(), TimeRemainingColumn(), console=console,
                    transient=True)


@contextlib.contextmanager
def byte_progress(label: str, total: int, *, enabled: bool = True,
                  threshold: int = PROGRESS_THRESHOLD) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n_bytes)``; shows a bar when ``total`` is large and on a terminal."""
    if not enabled or total < threshold or not is_interactive():
        yield lambda n: None
        return
    with byte_bar(console()) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def make_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]] = (), *,
               right: Collection[str] = (), overflow: OverflowMethod | None = None,
               **options: Any) -> Table:
    """A table titled on the left; ``right``: the columns aligned right (numbers);
    ``overflow``: what a cell too long for its column does (rich's default: ellipsis)."""
    t = Table(title=title, **{"title_justify": "left", **options})
    for col in columns:
        if overflow is None:
            t.add_column(col, justify="right" if col in right else "left")
        else:
            t.add_column(col, justify="right" if col in right else "left", overflow=overflow)
    for row in rows:
        t.add_row(*(v if isinstance(v, str) else str(v) for v in row))
    return t


def print_table(out: Console, t: Table) -> None:
    """Print ``t``; when the output is a log, not a terminal, cells keep one line (full
    digests, ARNs) instead of wrapping at 80 columns."""
    if not out.is_terminal:
        wide = out.options.update(width=1000)
        t.width = Measurement.get(out, wide, t).maximum
    out.print(t, crop=out.is_terminal)


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print a table (rich on a terminal, aligned text otherwise)."""
    console().print(make_table(title, columns, rows))


def human_size(size: float) -> str:
    """``512 B``, ``1.5 kB``, ``12.3 MB``, ``1.2 GB`` (powers of 1000)."""
    for unit in ("B", "kB", "MB", "GB"):
        if abs(size) < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


def say(message: str) -> None:
    console().print(message)
