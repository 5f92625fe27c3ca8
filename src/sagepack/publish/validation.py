"""Following a model package until SageMaker's verdict: its validation transform and image
scans, as Marketplace runs them.

``ModelPackageStatus`` is final at ``Completed``, ``Failed`` or ``Deleting``. While it is
not, the package is described every few seconds and each change of a validation or image
scan status is printed. A failed package raises :class:`PublishError` listing every
``FailureReason``. ``invoke publish --status`` reads the packages of ``publish.json``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console

from sagepack.config import ModelConfig, Settings
from sagepack.errors import PublishError
from sagepack.publish.model_package import PackageResult
from sagepack.publish.plan import REPORT_NAME

FINAL = ("Completed", "Failed", "Deleting")
POLL_INTERVAL_S = 15.0


@dataclass(frozen=True)
class StepStatus:
    kind: str  # "validation" or "image scan"
    name: str
    status: str
    reason: str = ""


@dataclass(frozen=True)
class PackageStatus:
    arn: str
    status: str
    steps: tuple[StepStatus, ...]

    @property
    def final(self) -> bool:
        return self.status in FINAL

    def reasons(self) -> list[str]:
        return [f"{s.kind} {s.name}: {s.status}: {s.reason}" for s in self.steps if s.reason]

    def lines(self) -> list[str]:
        return [f"{s.kind} {s.name}: {s.status}" + (f" ({s.reason})" if s.reason else "")
                for s in self.steps]


def describe_status(sm: Any, arn: str) -> PackageStatus:
    from botocore.exceptions import ClientError

    try:
        described = sm.describe_model_package(ModelPackageName=arn)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise PublishError(f"model package {arn}: cannot describe it: "
                           f"{error.get('Code', '?')}: {error.get('Message', exc)}") from exc
    details = described.get("ModelPackageStatusDetails") or {}
    steps = []
    for kind, key in (("validation", "ValidationStatuses"), ("image scan", "ImageScanStatuses")):
        for item in details.get(key) or []:
            steps.append(StepStatus(kind, str(item.get("Name", "?")),
                                    str(item.get("Status", "?")),
                                    str(item.get("FailureReason") or "")))
    return PackageStatus(arn=arn, status=str(described.get("ModelPackageStatus", "?")),
                         steps=tuple(steps))


def follow(sm: Any, arn: str, console: Console, *, timeout_s: float,
           interval_s: float = POLL_INTERVAL_S, clock: Callable[[], float] = time.monotonic,
           sleep: Callable[[float], None] = time.sleep) -> PackageStatus:
    """Describe ``arn`` until its status is final, printing what changes; raise when it
    failed or did not finish within ``timeout_s``."""
    deadline = clock() + timeout_s
    shown: set[str] = set()
    last = ""
    while True:
        current = describe_status(sm, arn)
        if current.status != last:
            console.print(f"model package {arn}: {current.status}")
            last = current.status
        for line in current.lines():
            if line not in shown:
                console.print(f"  {line}")
                shown.add(line)
        if current.final:
            break
        if clock() >= deadline:
            raise PublishError(f"model package {arn} is still {current.status} after "
                               f"{timeout_s:.0f} s (tool.sagepack.package_wait_timeout); "
                               "follow it later with: invoke publish --status --wait")
        sleep(interval_s)
    if current.status != "Completed":
        reasons = current.reasons() or ["SageMaker gave no failure reason"]
        raise PublishError(f"model package {arn} ended {current.status}:\n  "
                           + "\n  ".join(reasons))
    return current


def follow_command(models: Sequence[str], variants: Sequence[str] | None) -> str:
    """The command that follows these packages later."""
    parts = ["invoke publish --status --wait"]
    if len(models) == 1:
        parts.append(f"--model {models[0]}")
    if variants and len(variants) == 1:
        parts.append(f"--variant {variants[0]}")
    return " ".join(parts)


def recorded_packages(settings: Settings, models: Sequence[ModelConfig],
                      variants: Sequence[str] | None) -> list[tuple[str, str, str]]:
    """(model, variant, ARN) of every package ``publish.json`` records."""
    found: list[tuple[str, str, str]] = []
    problems: list[str] = []
    for model in models:
        path = settings.project.dist_for(model.name) / REPORT_NAME
        try:
            record = json.loads(path.read_text())
        except FileNotFoundError:
            problems.append(f"{path}: not found (publish {model.name} first)")
            continue
        except (OSError, ValueError) as exc:
            problems.append(f"{path}: unreadable: {exc}")
            continue
        for entry in record.get("model_packages") or []:
            if variants and entry.get("variant") not in variants:
                continue
            found.append((model.name, str(entry.get("variant")), str(entry.get("arn"))))
    if problems:
        raise PublishError("cannot read the published packages:\n  " + "\n  ".join(problems))
    if not found:
        raise PublishError("publish.json records no model package for "
                           + ", ".join(m.name for m in models))
    return found


def package_status(settings: Settings, models: Sequence[ModelConfig],
                   variants: Sequence[str] | None = None, *, wait: bool = False,
                   console: Console | None = None, session: Any | None = None,
                   interval_s: float = POLL_INTERVAL_S) -> list[PackageStatus]:
    """``invoke publish --status``: each recorded package's status (followed with ``wait``)."""
    from sagepack.publish.aws import make_clients

    if console is None:
        from sagepack.progress import console as default_console

        console = default_console()
    clients = make_clients(settings.project.region, session)
    timeout = settings.project.supply.package_wait_timeout_s
    out = []
    for model, variant, arn in recorded_packages(settings, models, variants):
        console.print(f"{model} / {variant}")
        if wait:
            out.append(follow(clients.sagemaker, arn, console, timeout_s=timeout,
                              interval_s=interval_s))
            continue
        current = describe_status(clients.sagemaker, arn)
        console.print(f"model package {arn}: {current.status}")
        for line in current.lines():
            console.print(f"  {line}")
        out.append(current)
    failed = [s for s in out if s.status == "Failed"]
    if failed:
        raise PublishError("failed model packages:\n  " + "\n  ".join(
            f"{s.arn}: " + "; ".join(s.reasons() or ["no failure reason given"])
            for s in failed))
    return out


def follow_published(packages: Sequence[PackageResult], sm: Any, console: Console, *,
                     wait: bool, timeout_s: float, interval_s: float) -> None:
    """After a publish: follow each package (``wait``), or say how to follow them later."""
    if not packages:
        return
    if not wait:
        names = sorted({p.model for p in packages})
        variants = sorted({p.variant for p in packages})
        console.print("SageMaker validates the model packages now; follow them with: "
                      + follow_command(names, variants))
        return
    failures = []
    for package in packages:
        try:
            follow(sm, package.arn, console, timeout_s=timeout_s, interval_s=interval_s)
        except PublishError as exc:
            failures.append(str(exc))
    if failures:
        raise PublishError("\n".join(failures))
