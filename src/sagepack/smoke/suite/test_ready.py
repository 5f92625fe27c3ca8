"""The container starts as SageMaker starts it and answers /ping."""

from __future__ import annotations

from collections.abc import Callable

from sagepack.config import Variant
from sagepack.labels import BIND_TO_PORT, read_labels
from sagepack.serving.parameters import LOAD_WARNING_LOG
from sagepack.smoke.plugin import Services
from sagepack.smoke.spec import SERVICE_MAIN, RunSpec


def test_ready(services: Services, run_spec: RunSpec,
               record_property: Callable[[str, object], None]) -> None:
    """Starts with `serve` and answers /ping with 200."""
    running = services.get(SERVICE_MAIN)
    network = "no network" if run_spec.no_network else "bridge network, 127.0.0.1"
    if run_spec.emulated:
        network += f", {run_spec.platform} emulated; deadline {run_spec.deadline_s:g} s"
    assert running.time_to_ready is not None
    warned = [line.split(LOAD_WARNING_LOG, 1)[1].strip()
              for line in running.logs().splitlines() if LOAD_WARNING_LOG in line]
    note = f"; model_fn warned: {'; '.join(warned)}" if warned else ""
    record_property("detail", f"ready in {running.time_to_ready:.1f} s ({network}){note}")


def test_bind_to_port_label(services: Services, run_spec: RunSpec) -> None:
    """Carries the accept-bind-to-port=true label."""
    labels = read_labels(services.engine, run_spec.image)
    assert labels.get(BIND_TO_PORT) == "true", (
        f"{run_spec.image} lacks the label {BIND_TO_PORT}=true")


def test_architecture(services: Services, run_spec: RunSpec, variant: Variant,
                      record_property: Callable[[str, object], None]) -> None:
    """Runs on its platform's CPU architecture (`uname -m` inside)."""
    services.get(SERVICE_MAIN)
    code, output = services.container(SERVICE_MAIN).exec_run(["uname", "-m"])
    machine = output.decode("utf-8", "replace").strip()
    assert code == 0, f"uname -m failed inside the container (exit {code}): {machine}"
    how = "emulated" if run_spec.emulated else "native"
    record_property("detail", f"uname -m: {machine} ({run_spec.platform}, {how})")
    assert machine == variant.platform.arch, (
        f"the {variant.name} variant is {variant.platform.docker}, whose `uname -m` is "
        f"{variant.platform.arch}; the container says {machine}")
