"""The pytest plugin behind the image test suite (``-p sagepack.smoke.plugin``).

It reads the run's :class:`~sagepack.smoke.spec.RunSpec` (``--sagepack-run``), points
pytest-docker at the rendered compose file, and gives the checks their fixtures: the
model's configuration and one started, ready container per compose service. Compose
creates the containers (``up --no-start``) and removes them (``down``); they are started
through the Docker SDK so that a failed start is diagnosed, not just reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

import pytest

from sagepack.config import ModelConfig, Variant, load
from sagepack.containers.runner import RunningContainer
from sagepack.errors import ConfigError, ContainerError
from sagepack.serving.parameters import DEFAULT_PORT
from sagepack.smoke.preflight import check_config
from sagepack.smoke.spec import MOVED_PORT, SERVICE_PORT, RunSpec

Record = Callable[[str, object], None]

# Checks run in this order (by module), whatever the file names.
#: A service's HTTP connections are dropped when no check asked for it for this long: well
#: under the server's 65 s keep-alive, after which a pooled connection is dead.
IDLE_RESET_S = 30.0
MODULE_ORDER = ("test_ready", "test_samples", "test_stream", "test_multimodel", "test_contract",
                "test_egress", "test_device",
                "test_transform", "test_shutdown")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--sagepack-run", required=True,
                     help="JSON file describing the image under test (written by "
                          "sagepack.smoke.run_image_tests)")


def _spec(config: pytest.Config) -> RunSpec:
    return RunSpec.read(Path(str(config.getoption("--sagepack-run"))))


def model_under_test(spec: RunSpec) -> ModelConfig:
    """The model of the run, as its checks see it: with ``--record --force`` no sample has
    an expected response (each answer is recorded, none compared with the old one)."""
    model = load(spec.root).models[spec.model]
    if spec.record_all:
        model = replace(model, samples=tuple(replace(s, expected=None) for s in model.samples))
    return model



def pytest_configure(config: pytest.Config) -> None:
    """The configuration the checks depend on is one error, before any container starts."""
    if config.getoption("--sagepack-run", None) is None:
        return  # pytest --help
    try:
        check_config(model_under_test(_spec(config)))
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from exc


def skip_check(record_property: Record, label: str, reason: str) -> NoReturn:
    """Skip this check; ``label`` names what is left out in the run's summary line
    ("egress (bridge network)"), ``reason`` says why in a sentence."""
    record_property("skipped_as", label)
    pytest.skip(reason)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "sample" in metafunc.fixturenames:
        model = model_under_test(_spec(metafunc.config))
        if model.multi_model and not model.samples:  # skipped, with its reason
            metafunc.parametrize("sample", [None], ids=["none"])
        else:
            metafunc.parametrize("sample", model.samples, ids=[s.name for s in model.samples])
    if "content_type" in metafunc.fixturenames:
        types = model_under_test(_spec(metafunc.config)).content_types
        metafunc.parametrize("content_type", types, ids=list(types))


def _module_name(item: pytest.Item) -> str:
    module = getattr(item, "module", None)
    return module.__name__.rsplit(".", 1)[-1] if module is not None else ""


def _applies(item: pytest.Item, model: ModelConfig) -> bool:
    """Whether a check exists for this kind of image at all. A check that does not apply
    (multi-model checks on a single-model image, /invocations checks on a multi-model one,
    the streaming check of a model with no streamed sample) is left out, not skipped: a
    skip is kept for a check that applies but could not run (egress on a bridge network)."""
    module = _module_name(item)
    name = f"{module}.{getattr(item, 'originalname', item.name)}"
    if module == "test_multimodel":
        return model.multi_model
    if module == "test_stream":
        return not model.multi_model and any(s.stream for s in model.samples)
    if model.multi_model:
        return not any(name == check or module == check for check in SINGLE_MODEL_CHECKS)
    return True


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    model = model_under_test(_spec(config))
    left_out = [item for item in items if not _applies(item, model)]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if _applies(item, model)]

    def rank(item: pytest.Item) -> int:
        name = _module_name(item)
        return MODULE_ORDER.index(name) if name in MODULE_ORDER else len(MODULE_ORDER)
    items.sort(key=rank)


@pytest.fixture(autouse=True)
def _check_name(request: pytest.FixtureRequest,
                record_property: Callable[[str, object], None]) -> None:
    """Record the check's name (its docstring's first line) for the results table."""
    doc = (request.function.__doc__ or request.function.__name__).strip().splitlines()[0]
    name = str(request.node.name)
    suffix = " " + name[name.index("["):] if "[" in name else ""
    record_property("check", doc.rstrip(".") + suffix)


#: Checks that talk to one model through /invocations: a multi-model image has none there
#: (its models are checked through /models by test_multimodel).
SINGLE_MODEL_CHECKS = ("test_samples", "test_contract.test_ping_during_invocations",
                       "test_contract.test_payload_limit_accepted",
                       "test_contract.test_payload_over_limit",
                       "test_contract.test_unsupported_content_type",
                       "test_contract.test_garbage_body", "test_contract.test_extra_headers_tolerated",
                       "test_shutdown", "test_transform", "test_device")


@pytest.fixture(autouse=True)
def _single_model_only(request: pytest.FixtureRequest, record_property: Record) -> None:
    """Skip, on a multi-model image, the checks made for a model behind /invocations."""
    module = request.module.__name__.rsplit(".", 1)[-1]
    name = f"{module}.{request.function.__name__}"
    if not any(name == check or module == check for check in SINGLE_MODEL_CHECKS):
        return
    if model_under_test(_spec(request.config)).multi_model:
        check = request.function.__name__.removeprefix("test_").replace("_", " ")
        skip_check(record_property, f"{check} (multi-model image)",
                   "a multi-model image serves no model through /invocations; its test "
                   "models are checked through /models")


# --- configuration -------------------------------------------------------------------


@pytest.fixture(scope="session")
def run_spec(pytestconfig: pytest.Config) -> RunSpec:
    return _spec(pytestconfig)


@pytest.fixture(scope="session")
def model(run_spec: RunSpec) -> ModelConfig:
    return model_under_test(run_spec)


@pytest.fixture(scope="session")
def variant(model: ModelConfig, run_spec: RunSpec) -> Variant:
    return model.variant(run_spec.variant)


# --- containers ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def engine() -> Any:
    from sagepack.images.docker_client import docker_client

    return docker_client()


class Services:
    """Compose's containers of this run, started and waited for on first use."""

    def __init__(self, engine: Any, spec: RunSpec) -> None:
        self.engine = engine
        self.spec = spec
        self.started: dict[str, RunningContainer] = {}
        self.failed: dict[str, ContainerError] = {}
        self.used: dict[str, float] = {}  # when a check last asked for the service

    def container(self, service: str) -> Any:
        found = self.engine.containers.list(all=True, filters={"label": [
            f"com.docker.compose.project={self.spec.project}",
            f"com.docker.compose.service={service}"]})
        if not found:
            raise ContainerError(f"compose did not create the {service} container",
                                 image=self.spec.image)
        return found[0]

    def get(self, service: str) -> RunningContainer:
        if service in self.failed:
            raise self.failed[service]
        now = time.monotonic()
        if service in self.started and now - self.used.get(service, now) > IDLE_RESET_S:
            # Its pooled connections may have outlived the server's keep-alive (65 s) while
            # earlier checks ran (slow ones under emulation): new checks get new ones.
            self.started[service].session.close()
        self.used[service] = now
        if service not in self.started:
            port = MOVED_PORT if service == SERVICE_PORT else DEFAULT_PORT
            running = RunningContainer(self.engine, self.container(service),
                                       image=self.spec.image,
                                       no_network=self.spec.no_network, port=port)
            try:
                running.start()
                running.wait_ready(self.spec.deadline_s)
            except ContainerError as exc:
                running.close()
                self.failed[service] = exc
                raise
            self.started[service] = running
        return self.started[service]

    def close(self) -> None:
        for running in self.started.values():
            running.close()


@pytest.fixture(scope="session")
def services(docker_services: Any, engine: Any, run_spec: RunSpec) -> Iterator[Services]:
    started = Services(engine, run_spec)
    try:
        yield started
    finally:
        started.close()
