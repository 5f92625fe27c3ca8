"""Progress of pushes and uploads: bars on a terminal, one line per step otherwise."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import TaskID

from sagepack.progress import byte_bar as _bar

_DONE = ("Pushed", "Layer already exists", "Mounted from")


class PushProgress:
    """Shows a push stream: one bar per layer on a terminal, a line per finished layer
    otherwise. Used as a context manager around one push."""

    def __init__(self, console: Console, ref: str) -> None:
        self.console = console
        self.ref = ref
        self.interactive = console.is_terminal
        self._bar = _bar(console) if self.interactive else None
        self._tasks: dict[str, TaskID] = {}
        self.layers: dict[str, str] = {}

    def __enter__(self) -> PushProgress:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.stop()

    def update(self, chunk: Mapping[str, Any]) -> None:
        layer = chunk.get("id")
        status = str(chunk.get("status", ""))
        if not isinstance(layer, str) or not status:
            return
        previous = self.layers.get(layer)
        self.layers[layer] = status
        if self._bar is None:
            if status.startswith(_DONE) and previous != status:
                self.console.print(f"  {self.ref} layer {layer}: {status}")
            return
        detail = chunk.get("progressDetail") or {}
        task = self._tasks.get(layer)
        if task is None:
            task = self._bar.add_task(f"{layer} {status}", total=None)
            self._tasks[layer] = task
        current = detail.get("current") if isinstance(detail, dict) else None
        total = detail.get("total") if isinstance(detail, dict) else None
        if isinstance(current, int):
            usable_total = total if isinstance(total, int) and total >= current else None
            self._bar.update(task, completed=current, total=usable_total,
                             description=f"{layer} {status}")
        else:
            self._bar.update(task, description=f"{layer} {status}")


class UploadProgress:
    """A byte counter for boto3's transfer manager callback (called from its threads)."""

    def __init__(self, console: Console, label: str, total: int) -> None:
        self.console = console
        self.label = label
        self.total = total
        self.sent = 0
        self._lock = threading.Lock()
        self._bar = _bar(console) if console.is_terminal else None
        self._task: TaskID | None = None

    def __enter__(self) -> UploadProgress:
        if self._bar is not None:
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=self.total)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.stop()

    def __call__(self, sent: int) -> None:
        with self._lock:
            self.sent += sent
            if self._bar is not None and self._task is not None:
                self._bar.update(self._task, completed=self.sent)
