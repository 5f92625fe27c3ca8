"""How a build looks on the host: a rich progress bar per build step on a terminal, every
line of the engine's log with ``--verbose``, plain lines when not on a terminal."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from sagepack.images.build_stream import Step
from sagepack.progress import console as default_console
from sagepack.progress import is_interactive


def _short(text: str, width: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


class BuildDisplay:
    """Implements :class:`sagepack.images.build_stream.Display`."""

    def __init__(self, *, verbose: bool = False, console: Console | None = None,
                 interactive: bool | None = None) -> None:
        self.console = console or default_console()
        self.verbose = verbose
        self.interactive = is_interactive() if interactive is None else interactive
        self.progress: Progress | None = None
        self.task: TaskID | None = None
        self.tag = ""

    def begin(self, title: str) -> None:
        self.tag = title
        self.console.print(f"building {escape(title)}")
        if self.interactive:
            self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                     MofNCompleteColumn(), TimeElapsedColumn(),
                                     console=self.console, transient=True)
            self.progress.start()
            self.task = self.progress.add_task("starting", total=None)

    def step(self, step: Step) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, total=step.total, completed=step.number - 1,
                                 description=escape(f"Step {step.number}/{step.total} "
                                                    f"{_short(step.instruction, 50)}"))
        elif self.verbose:
            self.console.print(escape(f"Step {step.number}/{step.total} : {step.instruction}"))

    def step_done(self, step: Step) -> None:
        state = "cached" if step.cached else f"{step.seconds:.1f}s"
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, completed=step.number)
            self.progress.console.print(escape(
                f"  ✓ {step.number}/{step.total} {_short(step.instruction)} [{state}]"))
        elif not self.verbose:
            self.console.print(escape(
                f"  step {step.number}/{step.total} {_short(step.instruction)} [{state}]"))

    def line(self, text: str) -> None:
        if self.verbose:
            target = self.progress.console if self.progress is not None else self.console
            target.print(escape(text))

    def end(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
