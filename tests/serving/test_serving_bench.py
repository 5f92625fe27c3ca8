"""The serving benchmark: its request body, and one short run against every server."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sagepack.bench.serve import bench_serve, sample_body
from sagepack.errors import SagepackError

IRIS = Path(__file__).resolve().parents[2] / "artifacts" / "iris"


def test_body_comes_from_the_first_csv_sample_row(tmp_path: Path) -> None:
    (tmp_path / "samples").mkdir()
    (tmp_path / "samples" / "request.csv").write_text("\n5.1,3.5,1.4,0.2\n6,2,4,1\n")
    assert json.loads(sample_body(tmp_path)) == [[5.1, 3.5, 1.4, 0.2]]
    (tmp_path / "samples" / "request.json").write_text('{"instances": [[1, 2, 3, 4]]}\n')
    assert sample_body(tmp_path) == b'{"instances": [[1, 2, 3, 4]]}'


def test_a_model_without_samples_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SagepackError, match="no samples"):
        sample_body(tmp_path)


@pytest.mark.slow
def test_short_run_reports_every_server(tmp_path: Path) -> None:
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed")
    if not (IRIS / "code" / "inference.py").is_file():
        pytest.skip("artifacts/iris is not there")
    for module in ("flask", "starlette", "gunicorn"):
        pytest.importorskip(module)
    out = tmp_path / "serve.json"
    result = bench_serve(IRIS, out, duration_s=1, connections=8, workers=2, rounds=1)
    assert json.loads(out.read_text()) == result
    assert list(result["servers"]) == ["sagepack", "uvicorn_starlette", "gunicorn_flask",
                                       "flask_dev"]
    for name, figures in result["servers"].items():
        assert figures["valid"], f"{name}: {figures['problems']}"
        assert figures["requests"] > 0 and figures["rps"] > 0
        assert figures["wrk"]["non_2xx"] == 0 and figures["wrk"]["socket_errors"] == 0
        assert figures["cold_start_ms"] > 0 and figures["rss_mib"] > 0
        assert figures["cpu_ms_per_request"] > 0
        assert figures["busy_pings"] >= 5
        assert figures["answer"] == result["servers"]["sagepack"]["answer"]
    assert result["servers"]["uvicorn_starlette"]["workers"] == 2
    assert result["servers"]["gunicorn_flask"]["workers"] == 2
    assert result["ratios"]["flask_dev"]["rps"] > 1
    assert result["strongest_baseline"] in ("uvicorn_starlette", "gunicorn_flask", "flask_dev")
    assert {"rps_vs_uvicorn_starlette", "p99_below_uvicorn_starlette"} <= set(result["goals"])
    assert all(goal["status"] in ("met", "missed") for goal in result["goals"].values())
