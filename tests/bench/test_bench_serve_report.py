"""The serving verdict: an invalid run is never a figure nor a met goal."""

from __future__ import annotations

from typing import Any

from sagepack.bench.serve import pick
from sagepack.bench.serve_report import evaluate


def figures(rps: float, p99: float, *, valid: bool = True) -> dict[str, Any]:
    base: dict[str, Any] = {"valid": valid, "problems": [] if valid else ["3 non-2xx responses"],
                            "cold_start_ms": 300.0, "busy_ping_max_ms": 5.0,
                            "busy_ping_failures": 0}
    if valid:
        base.update({"rps": rps, "p99_ms": p99, "cpu_ms_per_request": 0.2})
    return base


def test_goals_against_uvicorn_are_judged_on_both_req_s_and_p99() -> None:
    verdict = evaluate({"sagepack": figures(3000, 5), "uvicorn_starlette": figures(1900, 6)},
                       goal_baseline="uvicorn_starlette")
    goals = verdict["goals"]
    assert goals["rps_vs_uvicorn_starlette"]["status"] == "met"
    assert goals["rps_vs_uvicorn_starlette"]["ratio"] == round(3000 / 1900, 2)
    assert goals["p99_below_uvicorn_starlette"]["status"] == "met"
    verdict = evaluate({"sagepack": figures(3000, 7), "uvicorn_starlette": figures(2100, 6)},
                       goal_baseline="uvicorn_starlette")
    assert verdict["goals"]["rps_vs_uvicorn_starlette"]["status"] == "missed"
    assert verdict["goals"]["p99_below_uvicorn_starlette"]["status"] == "missed"


def test_an_invalid_baseline_makes_its_goals_invalid_and_is_not_the_strongest() -> None:
    verdict = evaluate({"sagepack": figures(3000, 5),
                        "uvicorn_starlette": figures(0, 0, valid=False),
                        "gunicorn_flask": figures(2000, 9), "flask_dev": figures(800, 40)},
                       goal_baseline="uvicorn_starlette")
    goal = verdict["goals"]["rps_vs_uvicorn_starlette"]
    assert goal["status"] == "invalid" and goal["met"] is False and goal["ratio"] is None
    assert verdict["goals"]["p99_below_uvicorn_starlette"]["status"] == "invalid"
    assert verdict["ratios"]["uvicorn_starlette"] is None
    assert verdict["strongest_baseline"] == "gunicorn_flask"
    assert verdict["vs_strongest"]["rps"] == 1.5


def test_an_invalid_sagepack_run_meets_no_comparison() -> None:
    verdict = evaluate({"sagepack": figures(0, 0, valid=False),
                        "uvicorn_starlette": figures(2000, 6)},
                       goal_baseline="uvicorn_starlette")
    assert all(verdict["goals"][name]["status"] == "invalid"
               for name in ("rps_vs_uvicorn_starlette", "p99_below_uvicorn_starlette", "p99_ms"))
    assert verdict["strongest_baseline"] == "uvicorn_starlette"
    assert verdict["vs_strongest"] == {"baseline": "uvicorn_starlette"}


def test_a_failed_busy_ping_misses_the_ping_goal_even_when_fast() -> None:
    ours = {**figures(3000, 5), "busy_ping_failures": 1}
    verdict = evaluate({"sagepack": ours, "uvicorn_starlette": figures(2000, 6)},
                       goal_baseline="uvicorn_starlette")
    assert verdict["goals"]["busy_ping_max_ms"]["status"] == "missed"


def test_an_invalid_round_is_reported_even_when_another_round_was_better() -> None:
    rounds = [{**figures(3000, 5), "cpu_busy_before_pct": 1.0, "others_cpu_during_pct": 0.0},
              {**figures(0, 0, valid=False), "cpu_busy_before_pct": 2.0, "others_cpu_during_pct": 0.0},
              {**figures(4000, 4), "cpu_busy_before_pct": 3.0, "others_cpu_during_pct": 0.0}]
    chosen = pick(rounds)
    assert chosen["valid"] is False and chosen["cpu_busy_before_pct"] == 2.0
    assert [r["valid"] for r in chosen["rounds"]] == [True, False, True]


def test_of_valid_rounds_the_one_with_most_requests_is_reported() -> None:
    rounds = [{**figures(3000, 5), "cpu_busy_before_pct": 40.0, "others_cpu_during_pct": 0.0},
              {**figures(4000, 4), "cpu_busy_before_pct": 1.0, "others_cpu_during_pct": 0.0}]
    chosen = pick(rounds)
    assert chosen["rps"] == 4000 and len(chosen["rounds"]) == 2
