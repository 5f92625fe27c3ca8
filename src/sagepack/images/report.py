"""The build report of one image: a table on the host and ``dist/<name>/build-<variant>.json``."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import docker

from sagepack.checks import CheckResult
from sagepack.images.build_stream import EngineResult
from sagepack.progress import console, human_size


def _creates_layer(created_by: str, size: int) -> bool:
    if size > 0:
        return True
    nop = "#(nop) "
    if nop not in created_by:
        return True
    instruction = created_by.split(nop, 1)[1].strip().split(" ", 1)[0].upper()
    return instruction in ("COPY", "ADD")


_DIGEST = re.compile(r"\b(dir|file|multi):[0-9a-f]{64}")


def _instruction(created_by: str) -> str:
    text = _DIGEST.sub(r"\1", " ".join(created_by.split()))
    for prefix in ("/bin/sh -c #(nop) ", "/bin/sh -c "):
        if text.startswith(prefix):
            rest = text[len(prefix):]
            return rest if prefix.endswith("#(nop) ") else f"RUN {rest}"
    return text


def layers(client: docker.DockerClient, image_id: str) -> list[dict[str, Any]]:
    """The image's layers, base first: instruction and size."""
    out: list[dict[str, Any]] = []
    for entry in reversed(client.api.history(image_id)):
        created_by = str(entry.get("CreatedBy") or "")
        size = int(entry.get("Size") or 0)
        if _creates_layer(created_by, size):
            out.append({"instruction": _instruction(created_by) or "(imported base)",
                        "size": size})
    return out


def make_report(client: docker.DockerClient, *, model: str, variant: str, image_id: str,
                tags: Sequence[str], engine: EngineResult, seconds: float,
                checks: Sequence[CheckResult], labels: Mapping[str, str],
                extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    attrs = client.api.inspect_image(image_id)
    return {
        "model": model,
        "variant": variant,
        "image_id": image_id,
        "tags": list(tags),
        "size": int(attrs.get("Size") or 0),
        "architecture": attrs.get("Architecture"),
        "os": attrs.get("Os"),
        "manifest": "docker image manifest v2 schema 2 (classic builder, no attestations)",
        "layers": layers(client, image_id),
        "build_seconds": round(seconds, 2),
        "engine_seconds": round(engine.seconds, 2),
        "steps": len(engine.steps),
        "cache_hits": engine.cache_hits,
        "cacheable_steps": engine.cacheable_steps,
        "step_log": [{"step": s.number, "instruction": s.instruction, "cached": s.cached,
                      "seconds": round(s.seconds, 2)} for s in engine.steps],
        "checks": [c.as_dict() for c in checks],
        "labels": dict(labels),
        **dict(extra or {}),
    }


def describe_platform(report: Mapping[str, Any], vs: Mapping[str, Any] | None = None) -> str:
    """``linux/arm64, emulated 41.2 s (build steps 1.9 s, checks 39.3 s)``, and for a
    report compared with (``vs``) its size and build time."""
    spent = report.get("emulated_seconds") or {}
    text = str(report.get("platform"))
    if report.get("emulated"):
        text += (f", emulated {spent.get('total', 0):.1f} s (build steps "
                 f"{spent.get('build_steps', 0):.1f} s, checks {spent.get('checks', 0):.1f} s)")
    else:
        text += ", native"
    if vs is not None:
        text += (f": {human_size(int(report['size']))} (this one "
                 f"{human_size(int(vs['size']))}), built in {report['build_seconds']:.1f} s "
                 f"(this one {vs['build_seconds']:.1f} s)")
    return text


def compared_with(report: Mapping[str, Any], others: Sequence[Mapping[str, Any]]
                  ) -> dict[str, Any] | None:
    """What of another platform's build report of the same model goes beside ``report``
    (its first CPU variant of another platform): variant, platform, size, times."""
    for other in others:
        if other.get("platform") not in (None, report.get("platform")) and \
                other.get("model") == report.get("model") and not other.get("gpu"):
            return {key: other.get(key) for key in ("variant", "platform", "size",
                                                     "build_seconds", "emulated",
                                                     "emulated_seconds")}
    return None


def print_report(report: Mapping[str, Any]) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"{report['model']} / {report['variant']}", title_justify="left",
                  show_header=True)
    table.add_column("", style="bold")
    table.add_column("")
    table.add_row("tags", "\n".join(report["tags"]))
    table.add_row("image", str(report["image_id"])[:19])
    table.add_row("size", human_size(report["size"]))
    table.add_row("build time", f"{report['build_seconds']:.1f} s")
    if report.get("platform"):
        table.add_row("platform", describe_platform(report))
    other = report.get("compared_with")
    if other:
        table.add_row(f"vs {other['variant']}", describe_platform(other, vs=report))
    table.add_row("cache hits", f"{report['cache_hits']}/{report['cacheable_steps']} steps")
    check_table = Table(show_header=False, box=None, pad_edge=False)
    for c in report["checks"]:
        outcome = c.get("outcome", "passed" if c["passed"] else "failed")
        word = {"passed": "ok", "skipped": "skipped"}.get(outcome, "FAILED")
        check_table.add_row(Text(c["name"]), word, Text(c["detail"]))
    table.add_row("checks", check_table)
    layer_table = Table(show_header=True, box=None, pad_edge=False)
    layer_table.add_column("layer")
    layer_table.add_column("size", justify="right")
    for layer in report["layers"]:
        text = layer["instruction"]
        layer_table.add_row(text if len(text) <= 70 else text[:69] + "…",
                            human_size(layer["size"]))
    table.add_row("layers", layer_table)
    console().print(table)


def read_reports(folder: Path, but: str) -> list[dict[str, Any]]:
    """The build reports in ``folder`` (``build-<variant>.json``) of variants other than
    ``but``; unreadable ones are left out."""
    found = []
    for path in sorted(folder.glob("build-*.json")):
        if path.stem == f"build-{but}":
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            found.append(data)
    return found
