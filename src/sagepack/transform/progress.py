"""Progress display of a transform job: a rich bar on a terminal, plain lines otherwise."""

from __future__ import annotations

from types import TracebackType
from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)

from sagepack.progress import console as project_console

__all__ = ["JobProgress", "make_progress"]


class JobProgress(Protocol):
    def __enter__(self) -> JobProgress: ...

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...

    def advance(self, records: int, disk_bytes: float) -> None:
        """``records`` more records done, worth ``disk_bytes`` of input as stored."""

    def file_done(self, name: str, ok: bool, records: int, detail: str) -> None:
        """A file finished (``detail``: the error when not ``ok``)."""


class _Silent:
    def __enter__(self) -> _Silent:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        return None

    def advance(self, records: int, disk_bytes: float) -> None:
        return None

    def file_done(self, name: str, ok: bool, records: int, detail: str) -> None:
        return None


class _Plain(_Silent):
    """One line per finished file, for logs and CI."""

    def __init__(self, console: Console, total_files: int) -> None:
        self._console = console
        self._total = total_files
        self._done = 0

    def file_done(self, name: str, ok: bool, records: int, detail: str) -> None:
        self._done += 1
        line = f"[{self._done}/{self._total}] " + (
            f"ok {name}: {records:,} records" if ok else f"FAILED {name}: {detail}")
        self._console.print(line, markup=False, highlight=False, soft_wrap=True)


class _Bar:
    def __init__(self, console: Console, total_files: int, total_bytes: int) -> None:
        self._console = console
        self._progress = Progress(
            TextColumn("[bold]transform"),
            BarColumn(),
            TextColumn("files {task.fields[files]}/{task.fields[total_files]}"),
            TextColumn("records {task.fields[records]:,}"),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._task: TaskID = self._progress.add_task(
            "transform", total=max(total_bytes, 1), files=0, total_files=total_files,
            records=0,
        )
        self._records = 0
        self._files = 0

    def __enter__(self) -> _Bar:
        self._progress.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._progress.stop()

    def advance(self, records: int, disk_bytes: float) -> None:
        self._records += records
        self._progress.update(self._task, advance=disk_bytes, records=self._records)

    def file_done(self, name: str, ok: bool, records: int, detail: str) -> None:
        self._files += 1
        self._progress.update(self._task, files=self._files)
        if not ok:
            self._progress.console.print(f"[red]FAILED[/] {name}: {detail}", highlight=False)


def make_progress(enabled: bool, total_files: int, total_bytes: int,
                  console: Console | None = None) -> JobProgress:
    """A rich bar on a terminal, plain lines when not, nothing when disabled."""
    if not enabled:
        return _Silent()
    console = console or project_console()
    if console.is_terminal:
        return _Bar(console, total_files, total_bytes)
    return _Plain(console, total_files)
