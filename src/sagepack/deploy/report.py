"""The deploy plan and what a deploy did, as tables (like publish's)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from sagepack.deploy.endpoint import Step
from sagepack.deploy.plan import DeployPlan
from sagepack.deploy.samples import SampleResult
from sagepack.progress import make_table, print_table


def _table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> Table:
    """Long cells (ARNs, digests) fold instead of being cut."""
    return make_table(title, columns, rows, overflow="fold")


def _flatten(prefix: str, value: Any) -> Iterable[tuple[str, str]]:
    """``{"A": {"B": 1}}`` -> ``("A.B", "1")``; lists are indexed; tags are skipped."""
    if isinstance(value, dict):
        for key in value:
            if key != "Tags":
                yield from _flatten(f"{prefix}.{key}" if prefix else key, value[key])
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for i, item in enumerate(value):
            yield from _flatten(f"{prefix}[{i}]", item)
    else:
        text = value if isinstance(value, str) else json.dumps(value)
        yield prefix, text


def plan_rows(plan: DeployPlan) -> list[tuple[str, str, str]]:
    rows = [("model", k, v) for k, v in _flatten("", plan.model_request)]
    rows += [("endpoint config", k, v) for k, v in _flatten("", plan.config_request)]
    rows += [("endpoint", k, v) for k, v in _flatten("", plan.endpoint_request())]
    if plan.deployment_config is not None:
        rows += [("endpoint (on update)", k, v)
                 for k, v in _flatten("DeploymentConfig", plan.deployment_config)]
    tags = ", ".join(f"{k}={v}" for k, v in sorted(plan.tags.items()))
    rows.append(("every resource", "Tags", tags))
    return rows


def print_plan(console: Console, plan: DeployPlan, notes: Sequence[str]) -> None:
    console.print(f"Deploy plan: {plan.model.name} {plan.model.version} variant "
                  f"{plan.variant.name} to endpoint {plan.endpoint_name} in {plan.region} "
                  f"(from {plan.release.record})")
    print_table(console, _table("Resources and parameters", ("resource", "parameter", "value"),
                          plan_rows(plan)))
    for note in notes:
        console.print(f"checked: {note}")


def print_steps(console: Console, steps: Sequence[Step],
                samples: Sequence[SampleResult] = ()) -> None:
    rows = [(s.action, s.kind, s.name, s.arn) for s in steps]
    print_table(console, _table("Deployed", ("action", "kind", "name", "ARN"), rows))
    if samples:
        print_table(console, _table("Samples", ("sample", "result", "latency", "detail"), [
            (r.name, r.status, "-" if r.latency_ms is None else f"{r.latency_ms:.0f} ms",
             r.detail) for r in samples]))
