"""Batch transform benchmark: MultiRecord at 6 MB against SingleRecord, in the same run.

A CSV of iris-like rows (four floats each) of about ``size_mb`` goes through the endpoint
with ``BatchStrategy=MultiRecord`` and ``MaxPayloadInMB=6``, then with ``SingleRecord``.
SingleRecord sends one request per row, so on a large file it would take hours: it first
runs on a probe of the file's first rows; when the whole file would not finish within
``single_record_budget_s`` at the probe's rate, it runs on the larger sample that fits the
budget and its rate is extrapolated to the whole file (the report says so).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from sagepack.errors import TransformError
from sagepack.progress import console as project_console
from sagepack.transform import TransformJob, TransformReport, run_transform

__all__ = ["bench_transform", "generate_iris_csv"]

_PROBE_RECORDS = 500
_POOL_ROWS = 20_000


def generate_iris_csv(path: Path, size_mb: int, seed: int = 7) -> int:
    """Write about ``size_mb`` MB of rows like ``5.1,3.5,1.4,0.2``; returns the row count."""
    rng = random.Random(seed)
    centres = [(5.0, 3.4, 1.5, 0.2), (5.9, 2.8, 4.3, 1.3), (6.6, 3.0, 5.6, 2.0)]
    pool = []
    for _ in range(_POOL_ROWS):
        c = rng.choice(centres)
        pool.append(",".join(f"{max(0.1, rng.gauss(m, 0.35)):.1f}" for m in c) + "\n")
    block = "".join(pool).encode()
    target = size_mb * 1024 * 1024
    rows = written = 0
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tmp.open("wb") as fh:
        while written + len(block) <= target:
            fh.write(block)
            written += len(block)
            rows += _POOL_ROWS
        for line in pool:  # top up with whole rows
            if written + len(line) > target:
                break
            fh.write(line.encode())
            written += len(line)
            rows += 1
    tmp.replace(path)
    return rows


def _head(src: Path, dst: Path, rows: int) -> int:
    """Copy the first ``rows`` lines of ``src`` into ``dst``; returns how many there were."""
    count = 0
    with src.open("rb") as fin, dst.open("wb") as fout:
        for line in fin:
            if count >= rows:
                break
            fout.write(line)
            count += 1
    return count


def _run(endpoint: str, src: Path, out: Path, strategy: str, max_concurrent: int | None,
         progress: bool) -> TransformReport:
    shutil.rmtree(out, ignore_errors=True)
    job = TransformJob(input=src, output=out, content_type="text/csv", accept="text/csv",
                       split_type="Line", strategy=strategy, max_payload_mb=6,
                       max_concurrent=max_concurrent, assemble_with="Line")
    report = run_transform(job, endpoint, progress=progress)
    report.raise_for_failures()
    return report


def _figures(report: TransformReport) -> dict[str, Any]:
    return {
        "records": report.records,
        "bytes": report.input_bytes,
        "requests": report.requests,
        "seconds": round(report.seconds, 3),
        "records_per_s": round(report.records_per_s, 1),
        "bytes_per_s": round(report.bytes_per_s, 1),
        "max_payload_mb": report.parameters.max_payload_mb,
        "max_concurrent": report.parameters.max_concurrent,
    }


def bench_transform(endpoint: str, workdir: Path, out: Path, size_mb: int = 200, *,
                    max_concurrent: int | None = None, single_record_budget_s: float = 60.0,
                    progress: bool = True, console: Console | None = None) -> dict[str, Any]:
    """Measure records/s of MultiRecord (6 MB) and SingleRecord; write JSON to ``out``.

    ``max_concurrent`` (``None``: the container's ``/execution-parameters`` or 1) applies
    to both runs. Generated data and outputs under ``workdir`` are removed afterwards.
    """
    console = console or project_console()
    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / "iris.csv"
    t0 = time.perf_counter()
    total_rows = generate_iris_csv(data, size_mb)
    console.print(f"generated {data} ({data.stat().st_size:,} bytes, {total_rows:,} rows) in "
                  f"{time.perf_counter() - t0:.1f} s", highlight=False)
    try:
        multi = _run(endpoint, data, workdir / "out-multi", "MultiRecord", max_concurrent,
                     progress)
        if multi.records != total_rows:
            raise TransformError(f"MultiRecord run transformed {multi.records:,} records of "
                                 f"{total_rows:,}")
        concurrency = multi.parameters.max_concurrent

        sample = workdir / "single"
        sample.mkdir(exist_ok=True)
        probe_rows = _head(data, sample / "iris.csv", min(_PROBE_RECORDS, total_rows))
        single = _run(endpoint, sample, workdir / "out-single", "SingleRecord", concurrency,
                      progress)
        if probe_rows < total_rows:
            fit = int(single.records_per_s * single_record_budget_s)
            rows = total_rows if fit >= total_rows else max(probe_rows, fit)
            if rows > probe_rows:
                _head(data, sample / "iris.csv", rows)
                single = _run(endpoint, sample, workdir / "out-single", "SingleRecord",
                              concurrency, progress)
        sampled = single.records < total_rows
    finally:
        for name in ("iris.csv", "single", "out-multi", "out-single"):
            target = workdir / name
            if target.is_dir():
                shutil.rmtree(target, ignore_errors=True)
            else:
                target.unlink(missing_ok=True)

    single_figures = _figures(single)
    single_figures["sampled"] = sampled
    single_figures["note"] = (
        f"run on the first {single.records:,} of {total_rows:,} rows (time budget "
        f"{single_record_budget_s:g} s); whole-file time extrapolated" if sampled
        else "run on the whole file")
    single_figures["estimated_full_seconds"] = round(
        total_rows / single.records_per_s, 1) if single.records_per_s else None
    result: dict[str, Any] = {
        "benchmark": "transform",
        "endpoint": endpoint,
        "input_mb": size_mb,
        "input_bytes": multi.input_bytes,
        "records": total_rows,
        "multi_record": _figures(multi),
        "single_record": single_figures,
        "speedup_multi_over_single": round(multi.records_per_s / single.records_per_s, 2)
        if single.records_per_s else None,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.partial")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(out)
    _print_table(console, result)
    return result


def _print_table(console: Console, result: dict[str, Any]) -> None:
    table = Table(title=f"batch transform, {result['input_mb']} MB CSV, "
                        f"{result['records']:,} records")
    for col in ("strategy", "records", "requests", "seconds", "records/s", "MB/s"):
        table.add_column(col, justify="left" if col == "strategy" else "right", no_wrap=True)
    for name, key in (("MultiRecord 6 MB", "multi_record"), ("SingleRecord", "single_record")):
        f = result[key]
        table.add_row(name, f"{f['records']:,}", f"{f['requests']:,}", f"{f['seconds']:.2f}",
                      f"{f['records_per_s']:,.0f}", f"{f['bytes_per_s'] / 1e6:,.2f}")
    console.print(table)
    console.print(f"SingleRecord: {result['single_record']['note']}", highlight=False)
    console.print(f"MultiRecord is {result['speedup_multi_over_single']}x SingleRecord "
                  "in records/s", highlight=False)
