"""Every configured sample answers 2xx, with its expected response when it has one."""

from __future__ import annotations

from collections.abc import Callable

from sagepack.compare import response_diffs
from sagepack.config import Sample
from sagepack.smoke.plugin import Services
from sagepack.smoke.probes import invoke_sample, media
from sagepack.smoke.spec import SERVICE_MAIN


def test_sample(services: Services, sample: Sample,
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
    if sample.expected is None:
        record_property("detail", f"HTTP {response.status_code} in {ms:.0f} ms (no expected "
                                  "response to compare: `invoke test --record` writes one)")
        return
    diffs = response_diffs(response.content, sample.expected.read_bytes(), sample.accept)
    assert not diffs, f"{sample.name} differs from {sample.expected}:\n  " + "\n  ".join(diffs)
