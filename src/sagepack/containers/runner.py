"""Running an image as SageMaker does: ``serve``, the model at /opt/ml/model (read-only),
SageMaker's environment, no network and no AWS credentials; then waiting for /ping.

    with serving_container(client, "sagepack/iris:1.0.0-cpu", model_dir=path,
                           no_network=True) as running:
        requests.post(f"{running.url}/invocations", ...)

Without network (``no_network=True``) the container has only loopback, as under
Marketplace's network isolation; ``running.url`` is then a relay on the host's 127.0.0.1
(see :mod:`sagepack.containers.relay`). With network, the port is published on 127.0.0.1.
The container (and everything else created) is removed on exit, on error and on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from docker.errors import APIError, DockerException, NotFound
from docker.types import DeviceRequest

from sagepack.containers import readiness
from sagepack.containers.cleanup import new_run_id
from sagepack.containers.contract import (
    DEFAULT_DEADLINE_S,
    PING_TIMEOUT_S,
    SERVE_COMMAND,
    STOP_GRACE_S,
    check_no_credentials,
    serving_port,
)
from sagepack.containers.diagnosis import (
    Evidence,
    diagnose,
    handler_failure,
    parse_listening,
    tail,
)
from sagepack.containers.relay import ExecRelay
from sagepack.errors import ContainerError
from sagepack.labels import RUN
from sagepack.serving import parameters as p

PYTHONS = ("python3", "python")


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    output: str


def find_python(container: Any) -> str:
    """The absolute path of the image's Python (``python3`` or ``python`` on its PATH)."""
    for name in PYTHONS:
        code, out = container.exec_run([name, "-c", "import sys; print(sys.executable)"])
        if code == 0 and out.strip():
            return str(out.decode("utf-8", "replace").strip().splitlines()[-1])
    raise ContainerError(f"no python3 or python on the PATH of {container.image.tags or container.image.id}: "
                         "needed to reach a container without network", image=str(container.image.id))


def device_requests(gpu: bool) -> list[DeviceRequest]:
    return [DeviceRequest(count=-1, capabilities=[["gpu"]])] if gpu else []


class RunningContainer:
    """A started serving container and how to reach it."""

    def __init__(self, client: Any, container: Any, *, image: str, no_network: bool,
                 port: int) -> None:
        self.client = client
        self.container = container
        self.image = image
        self.no_network = no_network
        self.port = port
        self.time_to_ready: float | None = None
        self._relay: ExecRelay | None = None
        self._python: str | None = None
        self._url: str | None = None
        self._looked = 0.0
        self.session = requests.Session()

    # --- reaching it -----------------------------------------------------------------

    @property
    def name(self) -> str:
        return str(self.container.name)

    @property
    def python(self) -> str:
        if self._python is None:
            self._python = find_python(self.container)
        return self._python

    @property
    def url(self) -> str:
        """Base URL of the server (``http://127.0.0.1:<port>``)."""
        if self._url is None:
            if self.no_network:
                self._relay = ExecRelay(self.client.api, self.container.id, self.python,
                                        self.port)
                self._url = self._relay.url
            else:
                self.container.reload()
                bindings = (self.container.attrs["NetworkSettings"]["Ports"] or {}).get(
                    f"{self.port}/tcp") or []
                if not bindings:
                    raise ContainerError(f"port {self.port} of {self.name} is not published",
                                         image=self.image)
                self._url = f"http://127.0.0.1:{bindings[0]['HostPort']}"
        return self._url

    # --- inspecting it ---------------------------------------------------------------

    def state(self) -> Mapping[str, Any]:
        self.container.reload()
        return dict(self.container.attrs.get("State", {}))

    def logs(self, tail_lines: int | None = None) -> str:
        kwargs: dict[str, Any] = {"stdout": True, "stderr": True}
        if tail_lines is not None:
            kwargs["tail"] = tail_lines
        try:
            return bytes(self.container.logs(**kwargs)).decode("utf-8", "replace")
        except NotFound:
            return ""

    def exec(self, argv: Sequence[str], *, environment: Mapping[str, str] | None = None
             ) -> ExecResult:
        """Run ``argv`` inside the container (stdout and stderr together)."""
        code, out = self.container.exec_run(list(argv), environment=dict(environment or {}))
        return ExecResult(int(code if code is not None else -1),
                          bytes(out or b"").decode("utf-8", "replace"))

    def run_python(self, code: str, *args: str) -> ExecResult:
        """Run ``code`` with the image's own Python."""
        return self.exec([self.python, "-c", code, *args])

    def listening_ports(self) -> frozenset[int] | None:
        try:
            result = self.exec(["cat", "/proc/net/tcp", "/proc/net/tcp6"])
        except (DockerException, ContainerError):
            return None
        return parse_listening(result.output) if result.exit_code in (0, 1) else None

    def evidence(self, **kwargs: Any) -> Evidence:
        state = self.state()
        return Evidence.from_state(self.image, state, self.logs(), port=self.port, **kwargs)

    def failure(self, message: str, **kwargs: Any) -> ContainerError:
        evidence = self.evidence(**kwargs)
        return ContainerError(f"{message}: {diagnose(evidence)}", image=self.image,
                              diagnosis=diagnose(evidence), logs=tail(evidence.logs))

    # --- life cycle ------------------------------------------------------------------

    def serve_files(self) -> dict[str, int]:
        """Files named ``serve`` in the directories of the image's PATH, with their modes
        (read from the stopped container's file system)."""
        env = self.container.attrs.get("Config", {}).get("Env") or []
        path = next((v.split("=", 1)[1] for v in env if v.startswith("PATH=")),
                    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        found: dict[str, int] = {}
        for folder in path.split(":"):
            candidate = f"{folder.rstrip('/')}/serve"
            try:
                stream, stat = self.client.api.get_archive(self.container.id, candidate)
            except (NotFound, APIError):
                continue
            for _ in stream:  # drain and close the response
                pass
            found[candidate] = int(stat.get("mode", 0))
        return found

    def start(self) -> None:
        try:
            self.container.start()
        except APIError as exc:
            evidence = self.evidence(engine_error=str(exc.explanation or exc),
                                     serve_files=self.serve_files())
            raise ContainerError(f"{self.image} did not start: {diagnose(evidence)}",
                                 image=self.image, diagnosis=diagnose(evidence),
                                 logs=tail(evidence.logs)) from exc

    def _check_alive(self) -> None:
        state = self.state()
        if state.get("Status") in ("exited", "dead") or not state.get("Running", True):
            raise self.failure(f"{self.image} stopped before it was ready")

    def _ping_once(self) -> readiness.PingResult:
        try:
            url = self.url
        except (ContainerError, APIError):
            # The engine refuses an exec into a container that has just exited: say why
            # it exited rather than what the engine answered.
            self._check_alive()
            raise
        result = readiness.ping(self.session, url, PING_TIMEOUT_S)
        now = time.monotonic()
        if not result.ok and result.detail.startswith("HTTP") and now - self._looked >= 2.0:
            # The server answers but is not ready: if the handler cannot load, say so now
            # rather than after the deadline.
            self._looked = now
            if handler_failure(self.logs(tail_lines=500)):
                raise self.failure(f"{self.image} will not become ready", last_ping=result.detail)
        return result

    def wait_ready(self, deadline_s: float = DEFAULT_DEADLINE_S) -> float:
        """Poll /ping until 200; raises :class:`ContainerError` saying why it never was."""
        try:
            self.time_to_ready = readiness.wait_until_ready(
                self._ping_once, self._check_alive, deadline_s=deadline_s,
                interval_s=0.5 if self.no_network else 0.25)
        except readiness.NotReady as exc:
            last = exc.last.detail if exc.last else ""
            raise self.failure(f"{self.image} was not ready within {deadline_s:g} s",
                               timed_out_after=exc.waited, last_ping=last,
                               listening=self.listening_ports()) from None
        return self.time_to_ready

    def signal(self, sig: str = "SIGTERM") -> None:
        self.container.kill(signal=sig)

    def wait(self, timeout_s: float) -> int:
        """Wait for the container to exit; its exit code."""
        result = self.container.wait(timeout=timeout_s)
        return int(result.get("StatusCode", -1))

    def stop(self, timeout_s: int = STOP_GRACE_S) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout_s`` (as SageMaker does); the exit code."""
        with contextlib.suppress(NotFound):
            self.container.stop(timeout=timeout_s)
            return int(self.state().get("ExitCode", -1))
        return None

    def close(self) -> None:
        """Drop the relay and the HTTP session (the container itself is left alone)."""
        if self._relay is not None:
            self._relay.close()
            self._relay = None
        self._url = None
        self.session.close()

    def remove(self) -> None:
        self.close()
        with contextlib.suppress(NotFound):
            self.container.remove(force=True, v=True)


@contextlib.contextmanager
def serving_container(client: Any, image: str, *, model_dir: Path | None, no_network: bool,
                      env: Mapping[str, str] = {}, deadline_s: float = DEFAULT_DEADLINE_S,
                      gpu: bool = False, run_id: str | None = None,
                      network: str | None = None) -> Iterator[RunningContainer]:
    """Start ``image`` with ``serve`` and yield it once /ping answers 200.

    ``model_dir`` is mounted read-only at /opt/ml/model (``None`` for baked images);
    ``gpu`` passes every GPU through (NVIDIA runtime); ``network`` names a Docker network to
    join instead of the default bridge (ignored when ``no_network``). Raises
    :class:`ContainerError` with a diagnosis when it does not come up.
    """
    check_no_credentials(env, image)
    port = serving_port(env)
    run_id = run_id or new_run_id()
    kwargs: dict[str, Any] = {
        "environment": dict(env),
        "labels": {RUN: run_id},
        "name": f"sagepack-{run_id}-{new_run_id()[:6]}",
        "detach": True,
        "device_requests": device_requests(gpu),
    }
    if model_dir is not None:
        kwargs["volumes"] = {str(Path(model_dir).resolve()): {"bind": p.DEFAULT_MODEL_DIR,
                                                              "mode": "ro"}}
    if no_network:
        kwargs["network_mode"] = "none"
    else:
        kwargs["ports"] = {f"{port}/tcp": ("127.0.0.1", None)}
        if network:
            kwargs["network"] = network
    try:
        container = client.containers.create(image, list(SERVE_COMMAND), **kwargs)
    except APIError as exc:
        raise ContainerError(f"cannot create a container of {image}: {exc.explanation or exc}",
                             image=image) from exc
    running = RunningContainer(client, container, image=image, no_network=no_network,
                               port=port)
    try:
        running.start()
        running.wait_ready(deadline_s)
        yield running
    finally:
        running.remove()
