"""What a transform job did: per-file results and a summary."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from sagepack.errors import TransformError
from sagepack.progress import make_table
from sagepack.transform.params import JobParameters

__all__ = ["FileResult", "TransformReport"]


@dataclass(frozen=True)
class FileResult:
    """One input file: its ``.out`` when every record succeeded, else ``error``."""

    input: Path
    relative: str
    output: Path | None
    records: int
    input_bytes: int
    requests: int
    seconds: float
    error: str | None = None  # what failed, e.g. "record 2: HTTP 422: ..." (file not named)
    status: int | None = None  # HTTP status of the failed invocation, when there was one

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class TransformReport:
    endpoint: str
    parameters: JobParameters
    files: tuple[FileResult, ...]
    seconds: float

    @property
    def records(self) -> int:
        return sum(f.records for f in self.files)

    @property
    def input_bytes(self) -> int:
        return sum(f.input_bytes for f in self.files)

    @property
    def requests(self) -> int:
        return sum(f.requests for f in self.files)

    @property
    def records_per_s(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0

    @property
    def bytes_per_s(self) -> float:
        return self.input_bytes / self.seconds if self.seconds > 0 else 0.0

    @property
    def failures(self) -> tuple[FileResult, ...]:
        return tuple(f for f in self.files if not f.ok)

    @property
    def ok(self) -> bool:
        return not self.failures

    def raise_for_failures(self) -> None:
        """Raise :class:`TransformError` listing every failed file, if any failed."""
        failed = self.failures
        if failed:
            lines = [f"{f.relative}: {f.error}" for f in failed]
            raise TransformError(
                f"{len(failed)} of {len(self.files)} input file(s) failed "
                "(no .out written for them):\n  " + "\n  ".join(lines)
            )

    def summary(self) -> str:
        """A few plain lines: totals, rates, then each failure."""
        p = self.parameters
        lines = [
            f"transform: {len(self.files)} file(s), {len(self.failures)} failed, "
            f"{self.records:,} records, {self.input_bytes:,} bytes, {self.requests:,} requests "
            f"in {self.seconds:.2f} s",
            f"  {self.records_per_s:,.0f} records/s, {self.bytes_per_s / 1e6:,.2f} MB/s "
            f"({p.strategy}, MaxPayloadInMB {p.max_payload_mb}, "
            f"MaxConcurrentTransforms {p.max_concurrent}, SplitType {p.split_type})",
        ]
        lines += [f"  FAILED {f.relative}: {f.error}" for f in self.failures]
        return "\n".join(lines)

    def render(self, console: Console, max_rows: int = 40) -> None:
        """The summary as a rich table (failures first, at most ``max_rows`` files)."""
        p = self.parameters
        table = make_table("batch transform", ("file", "records", "bytes", "requests", "result"),
                           right=("records", "bytes", "requests"), show_header=True,
                           header_style="bold", title_justify="center")
        shown = sorted(self.files, key=lambda f: f.ok)[:max_rows]
        for f in shown:
            result = "[green]ok[/]" if f.ok else f"[red]FAILED[/] {f.error}"
            table.add_row(f.relative, f"{f.records:,}", f"{f.input_bytes:,}", f"{f.requests:,}",
                          result)
        if len(self.files) > len(shown):
            table.caption = f"{len(self.files) - len(shown)} more file(s) not listed"
        console.print(table)
        console.print(
            f"{self.records:,} records in {self.seconds:.2f} s: "
            f"{self.records_per_s:,.0f} records/s, {self.bytes_per_s / 1e6:,.2f} MB/s "
            f"({p.strategy}, MaxPayloadInMB {p.max_payload_mb}, "
            f"MaxConcurrentTransforms {p.max_concurrent})",
            highlight=False,
        )
