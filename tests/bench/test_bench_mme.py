"""The multi-model benchmark: real servers with a few models; a run in which a load, an
invocation or a wrk round fails is INVALID, with no figure and no goal met."""

from __future__ import annotations

import json
import shutil
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import pytest

from sagepack.bench.mme import bench_mme, bench_mme_of, lay_out
from sagepack.bench.mme_report import evaluate
from sagepack.config import load

ROOT = Path(__file__).resolve().parents[2]
BODY = b'[[1, 2, 3, 4]]'

# model-001 does not load; the others do.
LOAD_FAILS = """
import os

def model_fn(model_dir):
    if os.path.basename(os.path.dirname(model_dir)) == "model-001":
        raise RuntimeError("the weights are corrupt (marker 5ca1e)")
    return model_dir

def predict_fn(data, model):
    return data
"""

# model-002 loads but answers 500 to every invocation.
INVOKE_FAILS = """
def model_fn(model_dir):
    return model_dir

def predict_fn(data, model):
    if "model-002" in model:
        raise RuntimeError("model-002 cannot predict")
    return data
"""

# Every worker answers its first 300 invocations, then fails: wrk's rounds see 500s.
FAILS_UNDER_LOAD = """
import itertools

CALLS = itertools.count(1)

def model_fn(model_dir):
    return model_dir

def predict_fn(data, model):
    if next(CALLS) > 300:
        raise RuntimeError("worn out")
    return data
"""


def model_folder(tmp_path: Path, source: str) -> Path:
    folder = tmp_path / "extracted"
    (folder / "code").mkdir(parents=True)
    (folder / "code" / "inference.py").write_text(textwrap.dedent(source))
    return folder


def needs_wrk() -> None:
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed")


def run(tmp_path: Path, source: str, **options: Any) -> dict[str, Any]:
    needs_wrk()
    out = tmp_path / "report" / "mme.json"
    out.parent.mkdir()
    settings = {"models": 3, "cycles": 1, "duration_s": 1, "connections": 4, "rounds": 1,
                **options}
    scratch = Path(tempfile.gettempdir())
    before = set(scratch.glob("sagepack-bench-mme-*"))
    result = bench_mme(model_folder(tmp_path, source), BODY, out, **settings)
    assert set(scratch.glob("sagepack-bench-mme-*")) <= before  # the copies are gone
    assert json.loads(out.read_text()) == result
    return result


def assert_invalid(result: dict[str, Any]) -> None:
    assert result["valid"] is False and result["ratios"] is None
    assert result["rss_growth_pct"] is None
    for name, goal in result["goals"].items():
        assert goal["status"] == "invalid" and goal["met"] is False, name
        assert goal["ratio"] is None


def test_copies_of_the_model_lie_where_sagemaker_puts_archives(tmp_path: Path) -> None:
    folder = model_folder(tmp_path, "def model_fn(model_dir):\n    return 1\n")
    urls = lay_out(folder, tmp_path / "models", 3)
    assert list(urls) == ["model-000", "model-001", "model-002"]
    for name, url in urls.items():
        assert Path(url) == tmp_path / "models" / name / "model"
        assert (Path(url) / "code" / "inference.py").read_text() == \
            (folder / "code" / "inference.py").read_text()


def test_a_model_that_does_not_load_makes_the_run_invalid(tmp_path: Path) -> None:
    result = run(tmp_path, LOAD_FAILS)
    assert_invalid(result)
    assert len(result["problems"]) == 1
    assert "model-001" in result["problems"][0] and "500" in result["problems"][0]
    assert "5ca1e" in result["problems"][0]
    assert result["loading"]["loads"] == 1  # model-000 loaded, then model-001 failed
    assert "cycles" not in result["memory"]
    assert "valid" not in result["servers"]["multi_model"]  # wrk never ran
    assert "single_model" not in result["servers"]


def test_a_model_that_answers_500_makes_the_run_invalid(tmp_path: Path) -> None:
    result = run(tmp_path, INVOKE_FAILS)
    assert_invalid(result)
    assert any("/models/model-002/invoke answered 500" in problem
               for problem in result["problems"])
    assert result["loading"]["loads"] == 3


def test_evaluate_judges_the_goals_on_the_figures() -> None:
    def result(multi_rps: float, multi_p50: float, reloaded_rss: float) -> dict[str, Any]:
        server = {"valid": True, "rps": 1000.0, "p50_ms": 2.0, "p99_ms": 8.0,
                  "cpu_ms_per_request": 0.5}
        return {"problems": [], "cycles": 2, "models": 100,
                "memory": {"loaded": {"rss_mib": 200.0},
                           "cycles": [{"loaded": {"rss_mib": 202.0}},
                                      {"loaded": {"rss_mib": reloaded_rss}}]},
                "servers": {"multi_model": {**server, "rps": multi_rps, "p50_ms": multi_p50},
                            "multi_model_one": {**server, "rps": 990.0},
                            "single_model": server}}

    verdict = evaluate(result(950, 2.1, 209))
    assert verdict["valid"] and verdict["rss_growth_pct"] == [1.0, 4.5]
    assert verdict["ratios"]["rps"] == 0.95 and verdict["ratios"]["p50"] == 1.05
    assert verdict["ratios"]["one_model"]["rps"] == 0.99
    assert [g["status"] for g in verdict["goals"].values()] == ["met", "met", "met"]
    verdict = evaluate(result(850, 2.4, 211))
    assert [g["status"] for g in verdict["goals"].values()] == ["missed", "missed", "missed"]
    assert verdict["goals"]["rss_growth"]["value"] == 5.5
    broken = result(950, 2.1, 209)
    broken["memory"]["cycles"].pop()  # a cycle did not complete
    assert_invalid(evaluate(broken))
    failed = {**result(950, 2.1, 209), "problems": ["DELETE /models/model-003 answered 500"]}
    assert_invalid(evaluate(failed))
    one_failed = result(950, 2.1, 209)
    one_failed["servers"]["multi_model_one"] = {"valid": False, "problems": ["3 non-2xx"]}
    assert_invalid(evaluate(one_failed))


@pytest.mark.slow
def test_errors_under_wrk_make_the_round_and_the_run_invalid(tmp_path: Path) -> None:
    result = run(tmp_path, FAILS_UNDER_LOAD)
    assert_invalid(result)
    assert result["problems"] == []  # loads and the first invocations were fine
    for name in ("multi_model", "multi_model_one", "single_model"):
        figures = result["servers"][name]
        assert figures["valid"] is False and "rps" not in figures, name
        assert any("non-2xx" in problem for problem in figures["problems"]), name


@pytest.mark.slow
def test_a_short_run_with_the_iris_archive_reports_every_figure(tmp_path: Path) -> None:
    needs_wrk()
    iris = load(ROOT).select("iris")[0]
    out = tmp_path / "mme.json"
    result = bench_mme_of(iris, out, models=4, cycles=2, duration_s=1, connections=4,
                          rounds=2)
    assert json.loads(out.read_text()) == result
    assert result["valid"], result["problems"]
    assert result["models"] == 4 and result["workers"] == 2
    loading = result["loading"]
    assert loading["loads"] == 4 * 3 and loading["unloads"] == 4 * 2
    assert 0 < loading["load_p50_ms"] <= loading["load_p99_ms"] <= loading["load_max_ms"]
    assert loading["first_load_ms"] > 0 and loading["server_load_p50_ms"] is not None
    memory = result["memory"]
    assert memory["loaded"]["rss_mib"] > memory["empty"]["rss_mib"] > 0
    assert len(memory["cycles"]) == 2 and len(result["rss_growth_pct"]) == 2
    servers = result["servers"]
    assert list(servers) == ["multi_model", "multi_model_one", "single_model"]
    for name, figures in servers.items():
        assert figures["valid"], (name, figures["problems"])
        assert figures["wrk"]["non_2xx"] == 0 and figures["requests"] > 0
        assert figures["rps"] > 0 and 0 < figures["p50_ms"] <= figures["p99_ms"]
        assert figures["cpu_ms_per_request"] > 0 and len(figures["rounds"]) == 2
    assert servers["multi_model"]["cold_start_ms"] > 0
    assert servers["single_model"]["cold_start_ms"] > 0
    assert result["ratios"]["rps"] == round(servers["multi_model"]["rps"]
                                            / servers["single_model"]["rps"], 3)
    assert result["ratios"]["one_model"]["rps"] == round(servers["multi_model_one"]["rps"]
                                                         / servers["single_model"]["rps"], 3)
    assert {g["status"] for g in result["goals"].values()} <= {"met", "missed"}
    assert json.loads(result["request_body"]) == json.loads(
        (iris.root / "samples" / "request.json").read_text())
