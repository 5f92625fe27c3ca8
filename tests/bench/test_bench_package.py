"""The package benchmark: sagepack, tar | pigz and tar -czf on the same folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sagepack.bench.package import bench_package


@pytest.mark.slow
def test_small_run_compares_against_pigz_with_the_same_threads(tmp_path: Path) -> None:
    if shutil.which("pigz") is None:
        pytest.skip("pigz is not installed (scripts/bootstrap.sh installs it)")
    out = tmp_path / "package.json"
    result = bench_package(out, size_mib=128, workdir=tmp_path)
    assert json.loads(out.read_text()) == result
    assert result["tar_pigz"]["command"].endswith(f"pigz -p {result['threads']}")
    for tool in ("sagepack", "tar_pigz", "tar_czf"):
        assert result[tool]["seconds"] > 0 and result[tool]["bytes"] > 0
    speedup = result["tar_pigz"]["seconds"] / result["sagepack"]["seconds"]
    assert result["vs_pigz"]["speedup"] == round(speedup, 2)
    assert result["goals"]["speedup_vs_pigz_at_least_2.5x"] == (result["vs_pigz"]["speedup"]
                                                                >= 2.5)
    assert result["goals"]["size_within_1pct_of_pigz"] == (result["vs_pigz"]["size_ratio"]
                                                           <= 1.01)
    assert list(tmp_path.glob("sagepack-bench-*")) == []  # cleaned up
