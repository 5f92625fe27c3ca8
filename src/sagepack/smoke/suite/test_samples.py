"""Every configured sample answers 2xx, with its expected response when it has one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sagepack.compare import response_diffs
from sagepack.config import Sample
from sagepack.files import atomic_write
from sagepack.smoke.plugin import Services
from sagepack.smoke.probes import invoke_sample, media
from sagepack.smoke.record import Recording, answer_file
from sagepack.smoke.spec import SERVICE_MAIN, RunSpec


def test_sample(services: Services, sample: Sample, run_spec: RunSpec,
                record_property: Callable[[str, object], None]) -> None:
    """Sample answers as expected"""
    running = services.get(SERVICE_MAIN)
    response = invoke_sample(running.session, running.url, sample)
    ms = response.elapsed.total_seconds() * 1000
    record_property("detail", f"HTTP {response.status_code} in {ms:.0f} ms")
    assert response.status_code == 200, (
        f"{sample.name}: HTTP {response.status_code}: {response.text[:500]}")
    wanted = media(sample.accept)
    got = media(response.headers.get("Content-Type", ""))
    if wanted not in ("*/*", ""):
        assert got == wanted, f"{sample.name}: Content-Type {got!r}, Accept was {wanted!r}"
    if run_spec.record_dir and Recording(force=run_spec.record_all).wants(sample):
        atomic_write(answer_file(Path(run_spec.record_dir), sample), response.content)
        record_property("detail", f"HTTP {response.status_code} in {ms:.0f} ms, answer "
                                  "recorded as the expected response")
        return
    if sample.expected is None:
        record_property("detail", f"HTTP {response.status_code} in {ms:.0f} ms (no expected "
                                  "response to compare: `invoke test --record` writes one)")
        return
    diffs = response_diffs(response.content, sample.expected.read_bytes(), sample.accept)
    assert not diffs, f"{sample.name} differs from {sample.expected}:\n  " + "\n  ".join(diffs)
