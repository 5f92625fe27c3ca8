"""The transform benchmark against a local fake model (one prediction per line)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console
from transform_helpers import FakeContainer, Reply, serve

from sagepack.bench.transform import bench_splitting, bench_transform, generate_iris_csv


def predict(body: bytes, headers: dict[str, str]) -> Reply:
    return 200, b"setosa\n" * max(1, body.count(b"\n"))


def test_generated_csv_has_four_floats_per_row(tmp_path: Path) -> None:
    rows = generate_iris_csv(tmp_path / "iris.csv", 1)
    data = (tmp_path / "iris.csv").read_bytes()
    assert len(data) <= 1024 * 1024 and len(data) > 1000 * 1000
    lines = data.decode().splitlines()
    assert len(lines) == rows
    assert all(len(line.split(",")) == 4 for line in lines[:1000])
    assert all(float(v) > 0 for v in lines[0].split(","))


def test_bench_reports_both_strategies_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "results" / "transform.json"
    buffer = io.StringIO()
    console = Console(file=buffer, width=120)
    with serve(FakeContainer(model=predict)) as fake:
        result = bench_transform(fake.url, tmp_path / "work", out, size_mb=1,
                                 max_concurrent=2, single_record_budget_s=0.5,
                                 progress=False, console=console, split_size_mb=1)
    assert json.loads(out.read_text()) == result
    multi, single = result["multi_record"], result["single_record"]
    assert multi["records"] == result["records"] > 60_000
    assert multi["requests"] == 1 and multi["max_payload_mb"] == 6
    assert single["requests"] == single["records"] >= 500
    assert single["sampled"] is True and "extrapolated" in single["note"]
    assert single["max_concurrent"] == multi["max_concurrent"] == 2
    assert result["speedup_multi_over_single"] > 1
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == []  # data cleaned up
    assert "MultiRecord 6 MB" in buffer.getvalue()
    assert result["splitting"]["TFRecord"]["records"] > 0
    assert "splitting on the host" in buffer.getvalue()


def test_splitting_bench_measures_recordio_and_tfrecord_without_a_container(
        tmp_path: Path) -> None:
    rows = generate_iris_csv(tmp_path / "rows.csv", 1)
    result = bench_splitting(tmp_path / "work", 1, rows_per_record=64, repeats=2)
    assert result["crc32c"] == "c"
    for split_type in ("RecordIO", "TFRecord"):
        figures = result[split_type]
        assert figures["records"] == -(-rows // 64)
        assert figures["bytes"] > 1000 * 1000
        assert figures["seconds"] > 0
        assert figures["records_per_s"] == pytest.approx(
            figures["records"] / figures["seconds"], rel=0.01)
    # TFRecord framing is 16 bytes a record; RecordIO framing 8 plus padding to 4 bytes.
    assert result["TFRecord"]["bytes"] > result["RecordIO"]["bytes"]
    assert list((tmp_path / "work").iterdir()) == []
