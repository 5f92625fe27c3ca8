"""Proving a container cannot reach out: connect to a listener we own, resolve its name.

The target is always one sagepack creates: a small TCP listener in a second container (run
from the same image, with its own Python) on an ordinary user-defined bridge network, so
Docker's embedded DNS knows its name there. From a container without network both the
connection and the name lookup must fail; from a container on the listener's network both
succeed, which shows the probe can tell the two apart (:func:`control_probe`, the positive
control every egress check runs). No other address is ever contacted.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from docker.errors import APIError, NotFound

from sagepack.containers.cleanup import new_run_id
from sagepack.containers.runner import RunningContainer
from sagepack.errors import ContainerError
from sagepack.labels import RUN

LISTENER_PORT = 7070

LISTENER_PROGRAM = r"""
import signal, socket, sys
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
server = socket.create_server(("0.0.0.0", int(sys.argv[1])))
while True:
    conn, _ = server.accept()
    conn.sendall(b"sagepack-egress-listener\n")
    conn.close()
"""

PROBE_PROGRAM = r"""
import json, socket, sys
host, port, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
result = {}
try:
    with socket.create_connection((host, port), timeout=3) as conn:
        conn.settimeout(3)
        result["connect"] = conn.recv(64).decode("ascii", "replace").strip()
except OSError as exc:
    result["connect_error"] = "%s: %s" % (type(exc).__name__, exc)
try:
    infos = socket.getaddrinfo(name, port, proto=socket.IPPROTO_TCP)
    result["resolved"] = sorted({info[4][0] for info in infos})
except OSError as exc:
    result["dns_error"] = "%s: %s" % (type(exc).__name__, exc)
print(json.dumps(result))
"""


@dataclass(frozen=True)
class EgressTarget:
    """The listener: its address, port and the name Docker's DNS knows it by."""

    address: str
    port: int
    name: str
    network: str


@dataclass(frozen=True)
class EgressResult:
    connected: bool
    resolved: bool
    connect_detail: str
    dns_detail: str

    @property
    def isolated(self) -> bool:
        return not self.connected and not self.resolved

    def describe(self) -> str:
        return f"connect: {self.connect_detail}; DNS: {self.dns_detail}"


@contextlib.contextmanager
def egress_target(client: Any, image: str, python: str, *,
                  run_id: str | None = None) -> Iterator[EgressTarget]:
    """A listener container from ``image`` on a new bridge network; removed afterwards."""
    run_id = run_id or new_run_id()
    name = f"sagepack-egress-{run_id}"
    labels = {RUN: run_id}
    network = client.networks.create(name, driver="bridge", labels=labels)
    container = None
    try:
        container = client.containers.run(
            image, [LISTENER_PROGRAM, str(LISTENER_PORT)], entrypoint=[python, "-c"],
            name=name, network=name, labels=labels, detach=True)
        address = ""
        for _ in range(50):
            container.reload()
            address = container.attrs["NetworkSettings"]["Networks"][name]["IPAddress"]
            code, _ = container.exec_run([python, "-c", (
                f"import socket; socket.create_connection(('127.0.0.1', {LISTENER_PORT}), 1)")])
            if address and code == 0:
                break
            time.sleep(0.1)
        else:
            raise ContainerError(f"the egress listener in {image} did not start: "
                                 f"{container.logs().decode('utf-8', 'replace')[-500:]}",
                                 image=image)
        yield EgressTarget(address=address, port=LISTENER_PORT, name=name, network=name)
    finally:
        if container is not None:
            with contextlib.suppress(NotFound):
                container.remove(force=True)
        with contextlib.suppress(NotFound, APIError):
            network.remove()


def _result(output: str, exit_code: int, target: EgressTarget, image: str) -> EgressResult:
    try:
        data = json.loads(output.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise ContainerError(f"the egress probe failed to run in {image} "
                             f"(exit {exit_code}): {output[-500:]}", image=image) from None
    connected = "connect" in data
    resolved = "resolved" in data
    return EgressResult(
        connected=connected, resolved=resolved,
        connect_detail=(f"reached {target.address}:{target.port}" if connected
                        else f"{target.address}:{target.port} unreachable "
                             f"({data.get('connect_error')})"),
        dns_detail=(f"{target.name} resolved to {', '.join(data['resolved'])}" if resolved
                    else f"{target.name} not resolved ({data.get('dns_error')})"),
    )


def _probe_args(target: EgressTarget) -> list[str]:
    return [target.address, str(target.port), target.name]


def probe(running: RunningContainer, target: EgressTarget) -> EgressResult:
    """From inside ``running``: connect to ``target`` and resolve its name."""
    result = running.run_python(PROBE_PROGRAM, *_probe_args(target))
    return _result(result.output, result.exit_code, target, running.image)


def control_probe(client: Any, image: str, python: str, target: EgressTarget, *,
                  run_id: str | None = None) -> EgressResult:
    """The same probe from a container of ``image`` on ``target``'s own bridge network:
    the positive control. Both the connection and the lookup must succeed there, or a
    failed probe elsewhere proves nothing."""
    labels = {RUN: run_id or new_run_id()}
    container = client.containers.run(
        image, [PROBE_PROGRAM, *_probe_args(target)], entrypoint=[python, "-c"],
        network=target.network, labels=labels, detach=True)
    try:
        status = container.wait(timeout=60)
        output = bytes(container.logs(stdout=True, stderr=True)).decode("utf-8", "replace")
        return _result(output, int(status.get("StatusCode", -1)), target, image)
    finally:
        with contextlib.suppress(NotFound):
            container.remove(force=True)
