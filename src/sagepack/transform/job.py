"""Running a batch transform job on local files against a container's HTTP endpoint.

What it does, as SageMaker does, and where SageMaker's local mode falls short:

* The input is a file or a folder walked recursively like an S3 prefix (sorted by path).
  Each input file gives ``<output>/<relative path>.out``.
* Requests run concurrently, up to ``MaxConcurrentTransforms``, across files; responses
  are written in input order.
* A file is written under a temporary name and renamed only once every one of its records
  succeeded. A file that fails (an HTTP error after retries, a record over the limit, bad
  framing, a response that does not fit the data processing) gets no ``.out`` (a stale one
  from an earlier run is removed); the other files complete. An HTTP error body is never
  written as a result.
* ``AssembleWith=Line`` ends every response (or, with a join or an output filter, every
  record's output) with a newline, adding none when it already ends with one;
  ``AssembleWith=None`` concatenates responses as they are.
* An empty input file (zero records) sends no request and gets an empty ``.out``.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from rich.console import Console

from sagepack.errors import TransformError
from sagepack.progress import console as project_console
from sagepack.transform.batching import Batch, line_batches, pack
from sagepack.transform.client import Invoker, fetch_execution_parameters
from sagepack.transform.filters import DataProcessor
from sagepack.transform.params import JobParameters, TransformJob, resolve
from sagepack.transform.progress import JobProgress, make_progress
from sagepack.transform.records import iter_records, open_input
from sagepack.transform.report import FileResult, TransformReport

__all__ = ["list_inputs", "run_transform"]


def list_inputs(root: Path) -> list[tuple[Path, str]]:
    """Input files under ``root`` (or ``root`` itself) with their relative paths, sorted."""
    if root.is_file():
        return [(root, root.name)]
    found = [(p, p.relative_to(root).as_posix()) for p in root.rglob("*") if p.is_file()]
    return sorted(found, key=lambda item: item[1])


@dataclass
class _FileRun:
    """The state of one input file while its requests are in flight."""

    path: Path
    relative: str
    out: Path
    started: float = field(default_factory=time.perf_counter)
    records: int = 0
    input_bytes: int = 0
    requests: int = 0
    error: str | None = None
    status: int | None = None
    disk_ratio: float = 1.0
    _tmp: Path | None = None
    _fh: BinaryIO | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None

    def fail(self, message: str, status: int | None = None) -> None:
        if self.error is None:
            self.error, self.status = message, status

    def write(self, data: bytes) -> None:
        if self._fh is None:
            self._open()
        assert self._fh is not None
        self._fh.write(data)

    def _open(self) -> None:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.out.with_name(f".{self.out.name}.{os.getpid()}.partial")
        self._fh = self._tmp.open("wb")

    def discard(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
            self._tmp = None

    def finish(self) -> FileResult:
        if self.failed:
            self.discard()
            self.out.unlink(missing_ok=True)  # a stale .out must not pass for this run's
            output = None
        else:
            if self._fh is None:
                self._open()  # zero records: an empty .out
            assert self._fh is not None and self._tmp is not None
            self._fh.close()
            self._fh = None
            self._tmp.replace(self.out)
            self._tmp = None
            output = self.out
        return FileResult(
            input=self.path, relative=self.relative, output=output, records=self.records,
            input_bytes=self.input_bytes, requests=self.requests,
            seconds=time.perf_counter() - self.started, error=self.error, status=self.status,
        )


_Entry = tuple[_FileRun, Batch | None, "Future[bytes] | None"]


class _Runner:
    def __init__(self, params: JobParameters, invoker: Invoker, progress: JobProgress) -> None:
        self.params = params
        self.invoker = invoker
        self.progress = progress
        self.processor = DataProcessor(params) if params.processing else None
        self.results: list[FileResult] = []
        self.window = max(2, 2 * params.max_concurrent)

    def batches(self, data: bytes | mmap.mmap, path: Path) -> Iterator[Batch]:
        p = self.params
        if (p.split_type == "Line" and p.strategy == "MultiRecord"
                and self.processor is None):
            return line_batches(data, p.max_payload_bytes, path)
        keep = self.processor is not None and self.processor.per_record_output
        filt = None
        if self.processor is not None and not p.input_filter.is_identity:
            filt = self.processor.filter_input
        return pack(iter_records(data, p.split_type, path), strategy=p.strategy,
                    limit=p.max_payload_bytes, split_type=p.split_type, source=path,
                    transform=filt, keep_inputs=keep)

    def run(self, files: list[tuple[Path, str]], pool: ThreadPoolExecutor) -> None:
        pending: deque[_Entry] = deque()
        runs: list[_FileRun] = []
        try:
            for path, relative in files:
                run = _FileRun(path, relative, self.params.output / f"{relative}.out")
                runs.append(run)
                self._submit_file(run, pool, pending)
                pending.append((run, None, None))
                while len(pending) > self.window:
                    self._complete(pending.popleft())
            while pending:
                self._complete(pending.popleft())
        finally:
            for _, _, fut in pending:
                if fut is not None:
                    fut.cancel()
            for run in runs:
                run.discard()

    def _submit_file(self, run: _FileRun, pool: ThreadPoolExecutor,
                     pending: deque[_Entry]) -> None:
        try:
            disk_size = run.path.stat().st_size
            with open_input(run.path, self.params.compression) as data:
                if len(data):
                    run.disk_ratio = disk_size / len(data)
                for batch in self.batches(data, run.path):
                    if run.failed:
                        return
                    pending.append((run, batch, pool.submit(self.invoker.invoke, batch.body)))
                    while len(pending) > self.window:
                        self._complete(pending.popleft())
        except TransformError as exc:
            run.fail(str(exc).removeprefix(f"{run.path}: "))
        except OSError as exc:
            run.fail(f"cannot read: {exc}")

    def _complete(self, entry: _Entry) -> None:
        run, batch, fut = entry
        if batch is None or fut is None:
            result = run.finish()
            self.results.append(result)
            self.progress.file_done(run.relative, result.ok, result.records,
                                    result.error or "")
            return
        if run.failed:
            fut.cancel()
            return
        run.requests += 1
        try:
            body = fut.result()
            self._write(run, batch, body)
        except TransformError as exc:
            status = getattr(exc, "status", None)
            run.fail(f"{batch.describe()}: {exc}", status)
            return
        run.records += batch.count
        run.input_bytes += batch.source_bytes
        self.progress.advance(batch.count, batch.source_bytes * run.disk_ratio)

    def _write(self, run: _FileRun, batch: Batch, body: bytes) -> None:
        line = self.params.assemble_with == "Line"
        proc = self.processor
        if proc is not None and proc.per_record_output:
            predictions = proc.split_response(body, batch.count)
            outputs = [proc.finish(record, pred)
                       for record, pred in zip(batch.inputs, predictions, strict=True)]
            run.write(b"".join(o + b"\n" for o in outputs) if line else b"".join(outputs))
            return
        run.write(body)
        if line and not body.endswith(b"\n"):
            run.write(b"\n")


def run_transform(job: TransformJob, endpoint: str, *, progress: bool = True,
                  console: Console | None = None, backoff_s: float = 0.2) -> TransformReport:
    """Run ``job`` against the container at ``endpoint`` (a base URL like
    ``http://127.0.0.1:8080``) and return what happened to each file.

    Raises :class:`TransformError` for invalid parameters or an unreachable container.
    Failed files do not raise: they are in the report (``report.raise_for_failures()``).
    With ``progress``, shows a progress bar (plain lines when not on a terminal) and the
    summary on ``console`` (default: sagepack's console).
    """
    endpoint = endpoint.rstrip("/")
    container = None
    if job.strategy is None or job.max_payload_mb is None or not job.max_concurrent:
        container = fetch_execution_parameters(endpoint)
    params = resolve(job, container)
    files = list_inputs(params.input)
    if not files:
        raise TransformError(f"no input files under {params.input}")
    total_bytes = 0
    for path, _ in files:
        with contextlib.suppress(OSError):
            total_bytes += path.stat().st_size
    params.output.mkdir(parents=True, exist_ok=True)
    console = console or project_console()
    invoker = Invoker(
        endpoint, content_type=params.content_type, accept=params.accept,
        timeout_s=params.timeout_s, retries=params.retries, pool_size=params.max_concurrent,
        chunked=params.max_payload_mb == 0, backoff_s=backoff_s,
    )
    display = make_progress(progress, len(files), total_bytes, console)
    started = time.perf_counter()
    runner = _Runner(params, invoker, display)
    try:
        with display, ThreadPoolExecutor(params.max_concurrent,
                                         thread_name_prefix="transform") as pool:
            runner.run(files, pool)
    finally:
        invoker.close()
    report = TransformReport(endpoint=endpoint, parameters=params,
                             files=tuple(runner.results),
                             seconds=time.perf_counter() - started)
    if progress:
        console.print(report.summary(), markup=False, highlight=False, soft_wrap=True)
    return report
