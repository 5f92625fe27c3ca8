"""The streaming benchmark's verdict: ratios against the baseline, the goals, the tables.

The goals (issue 11): the first body byte within 1 ms of the handler's first yield (p50),
and a p99 overhead under 5 ms. A goal is ``met``, ``missed`` or ``invalid`` (sagepack's run
was invalid): an invalid run is never counted as met. Ratios are > 1 when sagepack does
better (lower overhead and CPU, more chunks per second).
"""

from __future__ import annotations

from typing import Any

from sagepack.bench.baselines import LABELS, SAGEPACK
from sagepack.bench.serve_report import BUSY_PCT_MAX
from sagepack.progress import say, table

GOALS = {"ttfb_overhead_p50_ms_max": 1.0, "ttfb_overhead_p99_ms_max": 5.0}

# (figure, lower is better) for each ratio against the baseline
_RATIOS = {"ttfb_p50": ("ttfb_p50_ms", True), "ttfb_p99": ("ttfb_p99_ms", True),
           "ttfb_overhead_p50": ("ttfb_overhead_p50_ms", True),
           "ttfb_overhead_p99": ("ttfb_overhead_p99_ms", True),
           "chunk_overhead_p99": ("chunk_overhead_p99_ms", True),
           "chunks_per_s": ("chunks_per_s", False),
           "cpu_per_chunk": ("cpu_us_per_chunk", True)}


def _ratios(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, float] | None:
    if not (ours["valid"] and theirs["valid"]):
        return None
    ratios = {}
    for name, (key, lower_better) in _RATIOS.items():
        mine, other = ours[key], theirs[key]
        ratio = (max(other, 1e-3) / max(mine, 1e-3) if lower_better
                 else mine / max(other, 1e-3))
        ratios[name] = float(f"{ratio:.3g}")  # 3 significant digits: never rounded to 0
    return ratios


def _goal(target: str, key: str, ours: dict[str, Any], base: dict[str, Any] | None,
          ratio: float | None, limit: float, inclusive: bool) -> dict[str, Any]:
    value = ours.get(key) if ours["valid"] else None
    met = None if value is None else value <= limit if inclusive else value < limit
    status = "invalid" if met is None else "met" if met else "missed"
    return {"target": target, "sagepack": value,
            "baseline": base.get(key) if base and base["valid"] else None, "ratio": ratio,
            "status": status, "met": bool(met)}


def evaluate(servers: dict[str, dict[str, Any]], goal_baseline: str) -> dict[str, Any]:
    """``ratios`` (per baseline) and ``goals``."""
    ours = servers[SAGEPACK]
    ratios = {name: _ratios(ours, figures) for name, figures in servers.items()
              if name != SAGEPACK}
    base = servers.get(goal_baseline)
    pair = ratios.get(goal_baseline)
    p50, p99 = GOALS["ttfb_overhead_p50_ms_max"], GOALS["ttfb_overhead_p99_ms_max"]
    goals = {
        "ttfb_overhead_p50_ms": _goal(
            f"first byte <= {p50:g} ms after the first yield (p50)", "ttfb_overhead_p50_ms",
            ours, base, pair["ttfb_overhead_p50"] if pair else None, p50, inclusive=True),
        "ttfb_overhead_p99_ms": _goal(
            f"overhead p99 < {p99:g} ms", "ttfb_overhead_p99_ms", ours, base,
            pair["ttfb_overhead_p99"] if pair else None, p99, inclusive=False),
    }
    return {"ratios": ratios, "goals": goals}


def _cell(figures: dict[str, Any], *keys: str) -> str:
    if not figures["valid"]:
        return "INVALID"
    return " / ".join(f"{figures[key]:,}" for key in keys)


def print_report(result: dict[str, Any]) -> None:
    servers: dict[str, dict[str, Any]] = result["servers"]
    names = list(servers)
    plan = result["plan"]
    rows = [
        ("time to first byte, p50 / p99 (ms)",
         *(_cell(servers[n], "ttfb_p50_ms", "ttfb_p99_ms") for n in names)),
        ("request to first yield, p50 / p99 (ms)",
         *(_cell(servers[n], "first_yield_p50_ms", "first_yield_p99_ms") for n in names)),
        ("first yield to first byte, p50 / p99 / max (ms)",
         *(_cell(servers[n], "ttfb_overhead_p50_ms", "ttfb_overhead_p99_ms",
                 "ttfb_overhead_max_ms") for n in names)),
        ("later chunks, yield to arrival, p50 / p99 (ms)",
         *(_cell(servers[n], "chunk_overhead_p50_ms", "chunk_overhead_p99_ms")
           for n in names)),
        ("arrival gap vs yield gap, p99 (ms)",
         *(_cell(servers[n], "gap_jitter_p99_ms") for n in names)),
        (f"chunks/s, {plan['rate_chunks']}-chunk streams, median / slowest",
         *(_cell(servers[n], "chunks_per_s", "chunks_per_s_min") for n in names)),
        ("server CPU per chunk (us)", *(_cell(servers[n], "cpu_us_per_chunk") for n in names)),
        ("RSS / PSS (MiB)", *(f"{servers[n].get('rss_mib')} / {servers[n].get('pss_mib')}"
                              for n in names)),
        ("cold start (ms)", *(str(servers[n].get("cold_start_ms")) for n in names)),
        ("problems", *("; ".join(servers[n]["problems"]) or "none" for n in names)),
        ("CPU busy before (%)", *(str(servers[n]["cpu_busy_before_pct"]) for n in names)),
        ("others' CPU during (%)",
         *(str(servers[n].get("others_cpu_during_pct")) for n in names)),
    ]
    table(f"streaming: {plan['latency_requests']} streams of {plan['latency_chunks']} chunks "
          f"{plan['interval_us']} us apart, {plan['rate_requests']} of {plan['rate_chunks']} "
          f"back to back, {plan['size']} B chunks, {result['workers']} worker(s); generator "
          f"alone {result['generator_alone_chunks_per_s']:,} chunks/s",
          ["", *(LABELS.get(n, n) for n in names)], rows)
    table("streaming goals", ["goal", "sagepack", "baseline", "ratio", "target", "result"],
          [(name, str(g["sagepack"]), "" if g["baseline"] is None else str(g["baseline"]),
            "" if g["ratio"] is None else f"{g['ratio']}x", g["target"], g["status"].upper())
           for name, g in result["goals"].items()])
    busy = max(max(f["cpu_busy_before_pct"], f.get("others_cpu_during_pct") or 0.0)
               for f in servers.values())
    if busy > BUSY_PCT_MAX:
        say(f"the machine was busy (other processes used up to {busy:.0f}% of the CPUs "
            "around a reported run): its figures are understated; re-run on an idle machine")
    ours = servers[SAGEPACK]
    for name, ratio in result["ratios"].items():
        label, theirs = LABELS.get(name, name), servers[name]
        if ratio is None:
            say(f"against {label}: no valid pair of runs, no ratio")
            continue
        say(f"against {label} (ratios > 1 favour sagepack): time to first byte p50 "
            f"{ours['ttfb_p50_ms']} vs {theirs['ttfb_p50_ms']} ms ({ratio['ttfb_p50']}x); "
            f"first-byte overhead p50 "
            f"{ours['ttfb_overhead_p50_ms']} vs {theirs['ttfb_overhead_p50_ms']} ms "
            f"({ratio['ttfb_overhead_p50']}x), p99 {ours['ttfb_overhead_p99_ms']} vs "
            f"{theirs['ttfb_overhead_p99_ms']} ms ({ratio['ttfb_overhead_p99']}x); "
            f"{ratio['chunks_per_s']}x the chunks/s; {ratio['cpu_per_chunk']}x less CPU "
            "per chunk")
