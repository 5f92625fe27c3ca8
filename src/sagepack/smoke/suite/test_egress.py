"""No way out: from inside the container, a connection out and a DNS lookup both fail,
while the same probe from the listener's own bridge network succeeds (the positive control:
without it a failed probe would prove nothing)."""

from __future__ import annotations

from sagepack.containers.egress import control_probe, egress_target, probe
from sagepack.smoke.plugin import Record, Services, skip_check
from sagepack.smoke.spec import SERVICE_MAIN, RunSpec


def test_no_egress(services: Services, run_spec: RunSpec, record_property: Record) -> None:
    """No connection out, no DNS"""
    if not run_spec.no_network:
        skip_check(record_property, "egress (bridge network)",
                   "egress is only checked with --no-network: this run's containers are on "
                   "a bridge network, where reaching out is expected.")
    running = services.get(SERVICE_MAIN)
    with egress_target(services.engine, run_spec.image, running.python,
                       run_id=run_spec.run_id) as target:
        control = control_probe(services.engine, run_spec.image, running.python, target,
                                run_id=run_spec.run_id)
        result = probe(running, target)
    control_ok = control.connected and control.resolved
    record_property("detail", f"{result.describe()}; control on {target.network}: "
                              f"{'reached and resolved' if control_ok else control.describe()}")
    assert control_ok, (
        "inconclusive: the probe failed even from the listener's own bridge network, so its "
        f"failing from the container proves nothing ({control.describe()})")
    assert not result.connected, f"the container reached out: {result.connect_detail}"
    assert not result.resolved, f"the container resolved a name: {result.dns_detail}"
