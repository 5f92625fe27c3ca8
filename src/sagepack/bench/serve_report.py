"""The serving benchmark's verdict: ratios against each baseline, the goals, the tables.

A goal is ``met``, ``missed`` or ``invalid`` (a run it depends on was invalid, or was not
made): an invalid comparison is never counted as met.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sagepack.bench.baselines import FLASK_DEV, LABELS, SAGEPACK
from sagepack.progress import say, table

GOALS = {"rps_ratio_min": 1.5, "rps_ratio_vs_flask_dev_min": 10.0, "p99_ms_max": 15.0,
         "cold_start_ms_max": 500.0, "busy_ping_ms_max": 50.0}
BUSY_PCT_MAX = 20.0  # CPU use by others, before a run, above which figures are suspect


def _goal(target: str, ours: Any, theirs: Any, ratio: float | None,
          met: bool | None) -> dict[str, Any]:
    status = "invalid" if met is None else "met" if met else "missed"
    return {"target": target, "sagepack": ours, "baseline": theirs, "ratio": ratio,
            "status": status, "met": bool(met)}


def _ratios(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, float] | None:
    if not (ours["valid"] and theirs["valid"]):
        return None
    return {"rps": round(ours["rps"] / max(theirs["rps"], 0.1), 2),
            "p99": round(theirs["p99_ms"] / max(ours["p99_ms"], 0.001), 2),
            "cpu_per_request": round(theirs["cpu_ms_per_request"]
                                     / max(ours["cpu_ms_per_request"], 1e-6), 2)}


def evaluate(servers: dict[str, dict[str, Any]], goal_baseline: str) -> dict[str, Any]:
    """``ratios`` (per baseline), ``strongest_baseline`` (valid, most req/s) and ``goals``."""
    ours = servers[SAGEPACK]
    others = {name: figures for name, figures in servers.items() if name != SAGEPACK}
    ratios = {name: _ratios(ours, figures) for name, figures in others.items()}
    valid = [name for name, figures in others.items() if figures["valid"]]
    strongest = max(valid, key=lambda name: others[name]["rps"]) if valid else None
    goals: dict[str, Any] = {}
    base = others.get(goal_baseline)
    pair = ratios.get(goal_baseline)
    label = LABELS[goal_baseline]
    goals[f"rps_vs_{goal_baseline}"] = _goal(
        f">= {GOALS['rps_ratio_min']:g}x {label} req/s", ours.get("rps"),
        base.get("rps") if base else None, pair["rps"] if pair else None,
        pair["rps"] >= GOALS["rps_ratio_min"] if pair else None)
    goals[f"p99_below_{goal_baseline}"] = _goal(
        f"p99 below {label}'s", ours.get("p99_ms"), base.get("p99_ms") if base else None,
        pair["p99"] if pair else None,
        ours["p99_ms"] < base["p99_ms"] if pair and base else None)
    if FLASK_DEV in others:
        flask = ratios[FLASK_DEV]
        goals[f"rps_vs_{FLASK_DEV}"] = _goal(
            f">= {GOALS['rps_ratio_vs_flask_dev_min']:g}x {LABELS[FLASK_DEV]} req/s",
            ours.get("rps"), others[FLASK_DEV].get("rps"), flask["rps"] if flask else None,
            flask["rps"] >= GOALS["rps_ratio_vs_flask_dev_min"] if flask else None)
    goals["p99_ms"] = _goal(f"< {GOALS['p99_ms_max']:g} ms", ours.get("p99_ms"), None, None,
                            ours["p99_ms"] < GOALS["p99_ms_max"] if ours["valid"] else None)
    goals["cold_start_ms"] = _goal(f"< {GOALS['cold_start_ms_max']:g} ms",
                                   ours["cold_start_ms"], None, None,
                                   ours["cold_start_ms"] < GOALS["cold_start_ms_max"])
    ping = ours["busy_ping_max_ms"]
    goals["busy_ping_max_ms"] = _goal(f"< {GOALS['busy_ping_ms_max']:g} ms, none failed",
                                      ping, None, None,
                                      None if ping is None else
                                      ping < GOALS["busy_ping_ms_max"]
                                      and ours["busy_ping_failures"] == 0)
    return {"ratios": ratios, "strongest_baseline": strongest,
            "vs_strongest": {"baseline": strongest, **(ratios[strongest] or {})}
            if strongest else None,
            "goals": goals}


def _cell(figures: dict[str, Any], key: str) -> str:
    if not figures["valid"] and key in {"rps", "p50_ms", "p99_ms", "cpu_ms_per_request"}:
        return "INVALID"
    value = figures.get(key)
    return "" if value is None else f"{value:,}" if key == "rps" else str(value)


def print_report(result: dict[str, Any]) -> None:
    servers: dict[str, dict[str, Any]] = result["servers"]
    names = list(servers)
    rows = [
        ("requests/s", *(_cell(servers[n], "rps") for n in names)),
        ("p50 latency (ms)", *(_cell(servers[n], "p50_ms") for n in names)),
        ("p99 latency (ms)", *(_cell(servers[n], "p99_ms") for n in names)),
        ("CPU per request (ms)", *(_cell(servers[n], "cpu_ms_per_request") for n in names)),
        ("RSS / PSS (MiB)", *(f"{servers[n]['rss_mib']} / {servers[n]['pss_mib']}"
                              for n in names)),
        ("cold start (ms)", *(_cell(servers[n], "cold_start_ms") for n in names)),
        ("/ping while busy, p50 / max (ms)",
         *(f"{servers[n]['busy_ping_p50_ms']} / {servers[n]['busy_ping_max_ms']}"
           for n in names)),
        ("/ping failures (at 2 s)", *(str(servers[n]["busy_ping_failures"]) for n in names)),
        ("wrk problems", *("; ".join(servers[n]["problems"]) or "none" for n in names)),
        ("CPU busy before (%)", *(str(servers[n]["cpu_busy_before_pct"]) for n in names)),
        ("others' CPU during (%)", *(str(servers[n]["others_cpu_during_pct"]) for n in names)),
    ]
    wrk = result["wrk"]
    table(f"serving {Path(result['model_dir']).name}: wrk -t{wrk['threads']} "
          f"-c{wrk['connections']} -d{wrk['duration_s']:g}s, "
          f"{servers[SAGEPACK]['workers']} workers",
          ["", *(LABELS[n] for n in names)], rows)
    table("serving goals", ["goal", "sagepack", "baseline", "ratio", "target", "result"],
          [(name, str(g["sagepack"]), "" if g["baseline"] is None else str(g["baseline"]),
            "" if g["ratio"] is None else f"{g['ratio']}x", g["target"], g["status"].upper())
           for name, g in result["goals"].items()])
    busy = max(max(f["cpu_busy_before_pct"], f["others_cpu_during_pct"])
               for f in servers.values())
    if busy > BUSY_PCT_MAX:
        say(f"the machine was busy (other processes used up to {busy:.0f}% of the CPUs "
            "around a reported run): its figures are understated; re-run on an idle machine")
    strongest = result["vs_strongest"]
    if strongest:
        say(f"against the strongest baseline ({LABELS[strongest['baseline']]}): "
            f"{strongest['rps']}x req/s, {strongest['p99']}x lower p99")
    else:
        say("no baseline run was valid: no ratio to report")
