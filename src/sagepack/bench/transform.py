"""Batch transform benchmark: MultiRecord at 6 MB against SingleRecord, in the same run.

A CSV of iris-like rows (four floats each) of about ``size_mb`` goes through the endpoint
with ``BatchStrategy=MultiRecord`` and ``MaxPayloadInMB=6``, then with ``SingleRecord``.
SingleRecord sends one request per row, so on a large file it would take hours: it first
runs on a probe of the file's first rows; when the whole file would not finish within
``single_record_budget_s`` at the probe's rate, it runs on the larger sample that fits the
budget and its rate is extrapolated to the whole file (the report says so).

The same report measures splitting on the host, with no container: how fast RecordIO and
TFRecord files of the same rows (``split_rows_per_record`` rows a record) are read back into
records, TFRecord's CRC-32C checks included (:func:`bench_splitting`).
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
from sagepack.transform.records import (
    CRC32C_IMPLEMENTATION,
    encode_recordio,
    encode_tfrecord,
    iter_records,
    open_input,
)

__all__ = ["bench_splitting", "bench_transform", "generate_iris_csv"]

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


def _framed_file(src: Path, dst: Path, split_type: str, rows_per_record: int) -> int:
    """Write the rows of ``src`` into ``dst`` as ``split_type`` records; the record count."""
    encode = encode_recordio if split_type == "RecordIO" else encode_tfrecord
    lines = src.read_bytes().splitlines(keepends=True)
    records = 0
    with dst.open("wb") as fh:
        for start in range(0, len(lines), rows_per_record):
            fh.write(encode(b"".join(lines[start:start + rows_per_record])))
            records += 1
    return records


def bench_splitting(workdir: Path, size_mb: int = 32, *, rows_per_record: int = 64,
                    repeats: int = 3) -> dict[str, Any]:
    """Records/s and MB/s of splitting RecordIO and TFRecord files on the host.

    About ``size_mb`` MB of iris rows are framed ``rows_per_record`` rows to a record; each
    file is split ``repeats`` times and the fastest run counts. Every run must give back
    every record, or this raises. The files under ``workdir`` are removed afterwards.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    csv = workdir / "split-rows.csv"
    figures: dict[str, Any] = {"crc32c": CRC32C_IMPLEMENTATION, "input_mb": size_mb,
                               "rows_per_record": rows_per_record}
    try:
        generate_iris_csv(csv, size_mb)
        for split_type in ("RecordIO", "TFRecord"):
            framed = workdir / f"split.{split_type.lower()}"
            expected = _framed_file(csv, framed, split_type, rows_per_record)
            best = float("inf")
            for _ in range(repeats):
                started = time.perf_counter()
                with open_input(framed, "None") as content:
                    count = sum(1 for _ in iter_records(content, split_type, framed))
                best = min(best, time.perf_counter() - started)
                if count != expected:
                    raise TransformError(f"splitting {framed} gave {count:,} records of "
                                         f"{expected:,}")
            size = framed.stat().st_size
            figures[split_type] = {"records": expected, "bytes": size,
                                   "seconds": round(best, 6),
                                   "records_per_s": round(expected / best, 1),
                                   "bytes_per_s": round(size / best, 1)}
            framed.unlink()
    finally:
        csv.unlink(missing_ok=True)
        for split_type in ("recordio", "tfrecord"):
            (workdir / f"split.{split_type}").unlink(missing_ok=True)
    return figures


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
                    progress: bool = True, console: Console | None = None,
                    split_size_mb: int = 32) -> dict[str, Any]:
    """Measure records/s of MultiRecord (6 MB) and SingleRecord, and splitting RecordIO and
    TFRecord on the host (``split_size_mb``); write JSON to ``out``.

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
        splitting = bench_splitting(workdir, split_size_mb)
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
        "splitting": splitting,
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
    print_splitting(console, result["splitting"])


def print_splitting(console: Console, figures: dict[str, Any]) -> None:
    """The table of :func:`bench_splitting`'s figures."""
    table = Table(title=f"splitting on the host, {figures['input_mb']} MB of rows, "
                        f"{figures['rows_per_record']} rows a record, CRC-32C: "
                        f"{figures['crc32c']}")
    for col in ("SplitType", "records", "seconds", "records/s", "MB/s"):
        table.add_column(col, justify="left" if col == "SplitType" else "right", no_wrap=True)
    for split_type in ("RecordIO", "TFRecord"):
        f = figures[split_type]
        table.add_row(split_type, f"{f['records']:,}", f"{f['seconds']:.3f}",
                      f"{f['records_per_s']:,.0f}", f"{f['bytes_per_s'] / 1e6:,.1f}")
    console.print(table)
