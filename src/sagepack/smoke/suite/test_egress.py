"""No way out: from inside the container, a connection out and a DNS lookup both fail."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sagepack.containers.egress import egress_target, probe
from sagepack.smoke.plugin import Services
from sagepack.smoke.spec import SERVICE_MAIN, RunSpec


def test_no_egress(services: Services, run_spec: RunSpec,
                   record_property: Callable[[str, object], None]) -> None:
    """No connection out, no DNS"""
    if not run_spec.no_network:
        pytest.skip("egress is only checked with --no-network")
    running = services.get(SERVICE_MAIN)
    with egress_target(services.engine, run_spec.image, running.python,
                       run_id=run_spec.run_id) as target:
        result = probe(running, target)
    record_property("detail", result.describe())
    assert not result.connected, f"the container reached out: {result.connect_detail}"
    assert not result.resolved, f"the container resolved a name: {result.dns_detail}"
