"""The multi-model benchmark's verdict: the invocation overhead against the single-model
server, the memory growth over the load/unload cycles, the goals and the tables.

A goal is ``met``, ``missed`` or ``invalid``. Any problem in the run (a load, unload or
invocation not answered 200, differing answers, a wrk run with errors) makes every goal
invalid: a run that failed somewhere is never counted as meeting a goal.
"""

from __future__ import annotations

from typing import Any

from sagepack.bench.serve_report import BUSY_PCT_MAX
from sagepack.progress import say, table

MULTI, MULTI_ONE, SINGLE = "multi_model", "multi_model_one", "single_model"
LABELS = {MULTI: "multi-model, 100 models in turn", MULTI_ONE: "multi-model, one model",
          SINGLE: "single-model"}
GOALS = {"rps_ratio_min": 0.9, "p50_ratio_max": 1.1, "rss_growth_pct_max": 5.0}


def _goal(target: str, value: Any, baseline: Any, ratio: float | None,
          met: bool | None) -> dict[str, Any]:
    status = "invalid" if met is None else "met" if met else "missed"
    return {"target": target, "value": value, "baseline": baseline, "ratio": ratio,
            "status": status, "met": bool(met)}


def _growth(memory: dict[str, Any], cycles: int) -> list[float] | None:
    """RSS growth (%) after each cycle over the first load; None unless all cycles ran."""
    done = memory.get("cycles") or []
    if "loaded" not in memory or len(done) != cycles:
        return None
    base = memory["loaded"]["rss_mib"]
    return [round((c["loaded"]["rss_mib"] - base) * 100 / base, 2) for c in done]


def _ratios(ours: dict[str, Any], single: dict[str, Any]) -> dict[str, Any]:
    return {"rps": round(ours["rps"] / max(single["rps"], 0.1), 3),
            "p50": round(ours["p50_ms"] / max(single["p50_ms"], 0.001), 3),
            "p99": round(ours["p99_ms"] / max(single["p99_ms"], 0.001), 3),
            "cpu_per_request": round(ours["cpu_ms_per_request"]
                                     / max(single["cpu_ms_per_request"], 1e-6), 3)}


def evaluate(result: dict[str, Any]) -> dict[str, Any]:
    """``valid``, ``ratios`` (multi- over single-model; ``one_model``: the first model
    alone over single-model), ``rss_growth_pct`` and ``goals``."""
    servers: dict[str, dict[str, Any]] = result["servers"]
    multi, single = servers.get(MULTI, {}), servers.get(SINGLE, {})
    growth = _growth(result["memory"], result["cycles"])
    runs_valid = all(servers.get(name, {}).get("valid") for name in (MULTI, MULTI_ONE, SINGLE))
    valid = not result["problems"] and runs_valid and growth is not None
    ratios = None
    if valid:
        ratios = _ratios(multi, single)
        ratios["one_model"] = _ratios(servers[MULTI_ONE], single)
    goals = {
        "invoke_rps": _goal(
            f">= {GOALS['rps_ratio_min']:g}x single-model req/s (within 10%)",
            multi.get("rps"), single.get("rps"), ratios["rps"] if ratios else None,
            ratios["rps"] >= GOALS["rps_ratio_min"] if ratios else None),
        "invoke_p50": _goal(
            f"<= {GOALS['p50_ratio_max']:g}x single-model p50 (within 10%)",
            multi.get("p50_ms"), single.get("p50_ms"), ratios["p50"] if ratios else None,
            ratios["p50"] <= GOALS["p50_ratio_max"] if ratios else None),
        "rss_growth": _goal(
            f"< {GOALS['rss_growth_pct_max']:g}% RSS growth after {result['cycles']} "
            f"unload/load cycles of {result['models']} models",
            growth[-1] if valid and growth else None,
            result["memory"]["loaded"]["rss_mib"] if valid else None, None,
            growth[-1] < GOALS["rss_growth_pct_max"] if valid and growth else None),
    }
    return {"valid": valid, "ratios": ratios,
            "rss_growth_pct": growth if valid else None, "goals": goals}


def _cell(figures: dict[str, Any], key: str) -> str:
    if key in {"rps", "p50_ms", "p99_ms", "cpu_ms_per_request"}:
        if "valid" not in figures:
            return "not run"
        if not figures["valid"]:
            return "INVALID"
    value = figures.get(key)
    return "" if value is None else f"{value:,}" if key == "rps" else str(value)


def _memory_rows(result: dict[str, Any]) -> list[tuple[str, ...]]:
    memory = result["memory"]
    growth = result["rss_growth_pct"] or []
    rows: list[tuple[str, ...]] = [("no model loaded", str(memory["empty"]["rss_mib"]),
             str(memory["empty"]["pss_mib"]), "")]
    if "loaded" in memory:
        rows.append((f"{result['models']} loaded and invoked", str(memory["loaded"]["rss_mib"]),
                     str(memory["loaded"]["pss_mib"]), "baseline"))
    for index, cycle in enumerate(memory.get("cycles") or [], start=1):
        rows.append((f"cycle {index}: all unloaded", str(cycle["unloaded"]["rss_mib"]),
                     str(cycle["unloaded"]["pss_mib"]), ""))
        rows.append((f"cycle {index}: all loaded again", str(cycle["loaded"]["rss_mib"]),
                     str(cycle["loaded"]["pss_mib"]),
                     f"{growth[index - 1]:+}%" if len(growth) >= index else ""))
    return rows


def print_report(result: dict[str, Any]) -> None:
    loading = result["loading"]
    table(f"multi-model endpoint: loading {result['models']} models, {result['workers']} "
          "workers", ["", "ms"], [
              ("first load (imports the handler's libraries)", str(loading["first_load_ms"])),
              ("load p50 / p99 / max (client)", f"{loading['load_p50_ms']} / "
               f"{loading['load_p99_ms']} / {loading['load_max_ms']}"),
              ("load p50 (server's loadTimeMs)", str(loading["server_load_p50_ms"])),
              ("unload p50 / p99", f"{loading['unload_p50_ms']} / {loading['unload_p99_ms']}"),
              ("loads / unloads", f"{loading['loads']} / {loading['unloads']}")])
    table("multi-model endpoint: memory of the server's processes",
          ["", "RSS (MiB)", "PSS (MiB)", "RSS growth"], _memory_rows(result))
    servers: dict[str, dict[str, Any]] = result["servers"]
    names = (MULTI, MULTI_ONE, SINGLE)
    figures = [servers.get(n, {}) for n in names]
    ratios = result["ratios"]
    against = [ratios, ratios["one_model"], None] if ratios else [None, None, None]
    rows = [
        ("requests/s", *(_cell(f, "rps") for f in figures)),
        ("req/s and CPU per request, x single-model",
         *(f"{r['rps']}x / {r['cpu_per_request']}x" if r else "" for r in against)),
        ("p50 latency (ms)", *(_cell(f, "p50_ms") for f in figures)),
        ("p99 latency (ms)", *(_cell(f, "p99_ms") for f in figures)),
        ("CPU per request (ms)", *(_cell(f, "cpu_ms_per_request") for f in figures)),
        ("RSS / PSS after (MiB)", *(f"{f['rss_mib']} / {f['pss_mib']}" if "rss_mib" in f
                                    else "" for f in figures)),
        ("cold start (ms)", *(_cell(f, "cold_start_ms") for f in figures)),
        ("wrk problems", *("not run" if "valid" not in f else "; ".join(f["problems"]) or "none"
                           for f in figures)),
        ("CPU busy before (%)", *(_cell(f, "cpu_busy_before_pct") for f in figures)),
        ("others' CPU during (%)", *(_cell(f, "others_cpu_during_pct") for f in figures)),
    ]
    wrk = result["wrk"]
    table(f"invocations with {result['models']} models loaded: wrk -t{wrk['threads']} "
          f"-c{wrk['connections']} -d{wrk['duration_s']:g}s, best of {wrk['rounds']} rounds",
          ["", *(LABELS[n] for n in names)], rows)
    table("multi-model goals", ["goal", "multi-model", "baseline", "ratio", "target", "result"],
          [(name, "" if g["value"] is None else str(g["value"]),
            "" if g["baseline"] is None else str(g["baseline"]),
            "" if g["ratio"] is None else f"{g['ratio']}x", g["target"], g["status"].upper())
           for name, g in result["goals"].items()])
    for problem in result["problems"]:
        say(f"INVALID run: {problem}")
    busy = [f[key] for f in figures for key in ("cpu_busy_before_pct", "others_cpu_during_pct")
            if isinstance(f.get(key), int | float)]
    memory = result["memory"]
    busy += [v for v in (memory.get("busy_before_pct"), memory.get("others_cpu_during_pct"))
             if isinstance(v, int | float)]
    if busy and max(busy) > BUSY_PCT_MAX:
        say(f"the machine was busy (other processes used up to {max(busy):.0f}% of the CPUs "
            "around a run): its figures are understated; re-run on an idle machine")
