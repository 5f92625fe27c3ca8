"""The model's validation transform, as Marketplace validation runs it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sagepack.config import ModelConfig
from sagepack.smoke.plugin import Services, skip_check
from sagepack.smoke.spec import SERVICE_BATCH
from sagepack.transform import TransformJob, compare_outputs, run_transform


def test_validation_transform(services: Services, model: ModelConfig, tmp_path: Path,
                              record_property: Callable[[str, object], None]) -> None:
    """Validation transform produces the expected outputs"""
    validation = model.validation
    if validation is None:
        skip_check(record_property, "validation transform (no [validation])",
                   f"{model.config_file} has no [validation] table, so there is no "
                   "validation transform to run.")
    running = services.get(SERVICE_BATCH)
    job = TransformJob(input=validation.input, output=tmp_path / "out",
                       content_type=validation.content_type, accept=validation.accept,
                       split_type=validation.split_type, strategy=validation.strategy,
                       max_payload_mb=validation.max_payload_mb,
                       assemble_with=validation.assemble_with)
    report = run_transform(job, running.url, progress=False)
    record_property("detail", f"{report.records} records, {len(report.files)} file(s), "
                              f"{report.seconds:.1f} s")
    failed = [f"{f.relative}: {f.error}" for f in report.failures]
    assert not failed, "failed files:\n  " + "\n  ".join(failed)
    diffs = compare_outputs(tmp_path / "out", validation.expected)
    assert not diffs, f"outputs differ from {validation.expected}:\n  " + "\n  ".join(diffs)
