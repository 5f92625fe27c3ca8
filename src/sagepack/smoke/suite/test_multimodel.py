"""A multi-model image, as SageMaker drives it: its test models' archives (mounted under
/opt/ml/models/<name>/model) are loaded through ``POST /models``, invoked through
``/models/<name>/invoke`` with their own samples, loaded twice (409), and one is unloaded
(404 after, its memory given back). Single-model images skip these checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sagepack.compare import expected_diffs
from sagepack.config import ModelConfig, Sample, load
from sagepack.containers.runner import RunningContainer
from sagepack.serving import parameters as p
from sagepack.smoke.chunks import post_streamed
from sagepack.smoke.models_dir import model_subdir
from sagepack.smoke.plugin import Record, Services, skip_check
from sagepack.smoke.spec import SERVICE_MAIN, RunSpec

#: How far the server's memoryFreedBytes may be from the drop measured here (the two are
#: read moments apart), and how much a reload and unload may grow the server.
FREED_TOLERANCE = 4 * 2**20

# The resident memory (PSS) of the server: PID 1 and its descendants (not `docker exec`s).
SERVER_PSS = r"""
import os
parents = {}
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            parents[int(pid)] = int(fh.read().rsplit(")", 1)[1].split()[1])
    except OSError:
        pass
def served(pid):
    while pid not in (0, 1):
        pid = parents.get(pid, 0)
    return pid == 1
total = 0
for pid in parents:
    if served(pid):
        try:
            with open(f"/proc/{pid}/smaps_rollup") as fh:
                total += sum(int(l.split()[1]) * 1024 for l in fh if l.startswith("Pss:"))
        except OSError:
            pass
print(total)
"""


def _mme_samples(config: pytest.Config) -> list[tuple[str, Sample] | None]:
    spec = RunSpec.read(Path(str(config.getoption("--sagepack-run"))))
    settings = load(spec.root)
    model = settings.models[spec.model]
    if not model.multi_model:
        return [None]
    return [(name, s) for name in model.test_models for s in settings.models[name].samples]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "mme_sample" in metafunc.fixturenames:
        cases = _mme_samples(metafunc.config)
        metafunc.parametrize("mme_sample", cases, ids=[
            f"{c[0]}-{c[1].name}" if c else "none" for c in cases])


def _url(name: str) -> str:
    return f"{p.DEFAULT_MODELS_DIR}/{model_subdir(name)}"


def _pss(running: RunningContainer) -> int:
    result = running.run_python(SERVER_PSS)
    try:
        return int(result.output.strip().splitlines()[-1])
    except (ValueError, IndexError):
        pytest.fail(f"the server's memory could not be read (exit {result.exit_code}): "
                    f"{result.output[-300:]}")


class Loaded:
    """What loading the test models gave: each load's answer and the server's memory."""

    def __init__(self, running: RunningContainer, model: ModelConfig) -> None:
        self.running = running
        self.model = model
        self.baseline = _pss(running)
        self.answers: dict[str, tuple[int, Any]] = {}
        for name in model.test_models:
            response = running.session.post(f"{running.url}{p.MODELS}", timeout=300,
                                            json={"model_name": name, "url": _url(name)})
            self.answers[name] = (response.status_code, _json(response.content))
        self.after_load = _pss(running)


def _json(content: bytes) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return content[:300]


@pytest.fixture(scope="module")
def loaded(services: Services, model: ModelConfig) -> Loaded | None:
    if not model.multi_model:
        return None
    return Loaded(services.get(SERVICE_MAIN), model)


def _require(loaded: Loaded | None, record_property: Record, what: str) -> Loaded:
    if loaded is None:
        skip_check(record_property, f"multi-model {what} (not a multi-model image)",
                   "the image is not built for multi-model endpoints (multi_model = true)")
    return loaded


def test_load(loaded: Loaded | None, record_property: Record) -> None:
    """Loads every test model through POST /models"""
    state = _require(loaded, record_property, "load")
    record_property("detail", "; ".join(
        f"{name}: HTTP {code}" + (f" in {body.get('loadTimeMs')} ms"
                                  if isinstance(body, dict) else "")
        for name, (code, body) in state.answers.items())
        + f"; server {state.baseline / 2**20:.0f} -> {state.after_load / 2**20:.0f} MiB")
    bad = {n: a for n, a in state.answers.items() if a[0] != 200}
    assert not bad, f"loads that failed: {bad}"
    running = state.running
    listed = running.session.get(f"{running.url}{p.MODELS}", timeout=30)
    assert listed.status_code == 200, f"GET /models: HTTP {listed.status_code}"
    names = {m.get("modelName") for m in listed.json().get("models", [])}
    assert names == set(state.model.test_models), f"GET /models lists {sorted(names)}"


def test_second_load(loaded: Loaded | None, record_property: Record) -> None:
    """A second load of a loaded model gets 409"""
    state = _require(loaded, record_property, "409")
    name = state.model.test_models[0]
    running = state.running
    response = running.session.post(f"{running.url}{p.MODELS}", timeout=60,
                                    json={"model_name": name, "url": _url(name)})
    record_property("detail", f"{name}: HTTP {response.status_code}")
    assert response.status_code == 409, f"HTTP {response.status_code}: {response.text[:300]}"


def _invoke(running: RunningContainer, name: str, sample: Sample) -> Any:
    return post_streamed(running.url, f"{p.MODELS}/{name}{p.INVOKE_SUFFIX}",
                         sample.body.read_bytes(),
                         {"Content-Type": sample.content_type, "Accept": sample.accept,
                          "X-Amzn-SageMaker-Target-Model": f"{name}.tar.gz"})


def test_invoke(loaded: Loaded | None, mme_sample: tuple[str, Sample] | None,
                record_property: Record) -> None:
    """A loaded model answers its sample through /models/<name>/invoke"""
    state = _require(loaded, record_property, "invoke")
    assert mme_sample is not None
    name, sample = mme_sample
    response = _invoke(state.running, name, sample)
    record_property("detail", f"{name}/{sample.name}: HTTP {response.status} in "
                              f"{response.seconds * 1000:.0f} ms"
                    + (f", {len(response.chunks)} chunks" if response.chunked else ""))
    assert response.status == 200, f"{name}/{sample.name}: HTTP {response.status}: " \
                                   f"{response.body[:300]!r}"
    if sample.stream:
        assert response.chunked and response.complete and len(response.chunks) > 1, (
            f"{name}/{sample.name}: not streamed in chunks (chunked={response.chunked}, "
            f"{len(response.chunks)} chunks, complete={response.complete})")
    diffs = expected_diffs(response.body, sample.expected, sample.accept)
    assert not diffs, f"{name}/{sample.name} differs from {sample.expected}:\n  " + \
        "\n  ".join(diffs)


def _unload(running: RunningContainer, name: str) -> tuple[int, int, Any]:
    """DELETE /models/<name>: the server's memory before and after, and the answer."""
    before = _pss(running)
    response = running.session.delete(f"{running.url}{p.MODELS}/{name}", timeout=120)
    assert response.status_code == 200, f"DELETE /models/{name}: HTTP " \
                                        f"{response.status_code}: {response.text[:300]}"
    return before, _pss(running), response.json().get("memoryFreedBytes")


def test_unload(loaded: Loaded | None, record_property: Record, run_spec: RunSpec) -> None:
    """Unloading a model gives its memory back, then it is 404 and the others still answer"""
    state = _require(loaded, record_property, "unload")
    running = state.running
    gone, *kept = state.model.test_models
    described = running.session.get(f"{running.url}{p.MODELS}/{gone}", timeout=30)
    assert described.status_code == 200, f"GET /models/{gone}: HTTP {described.status_code}"
    held = described.json().get("memoryBytes")
    before, after, freed = _unload(running, gone)
    for method, path in (("GET", f"{p.MODELS}/{gone}"),
                         ("POST", f"{p.MODELS}/{gone}{p.INVOKE_SUFFIX}")):
        again = running.session.request(method, f"{running.url}{path}", data=b"{}",
                                        headers={"Content-Type": "application/json"},
                                        timeout=30)
        assert again.status_code == 404, f"{method} {path} after unload: HTTP " \
                                         f"{again.status_code}"
    # Load and unload it once more: what the first unload did not give back (imported
    # libraries stay) must not grow again.
    reload = running.session.post(f"{running.url}{p.MODELS}", timeout=300,
                                  json={"model_name": gone, "url": _url(gone)})
    assert reload.status_code == 200, f"reloading {gone}: HTTP {reload.status_code}"
    _, again_after, _ = _unload(running, gone)
    measured = max(before - after, 0)
    growth = again_after - after
    record_property("detail", f"{gone}: held {held} B, memoryFreedBytes {freed}, measured "
                              f"drop {measured} B (server {before / 2**20:.1f} -> "
                              f"{after / 2**20:.1f} MiB); reload+unload {growth:+d} B")
    assert isinstance(freed, int) and freed >= 0 and isinstance(held, int), (
        f"memoryFreedBytes {freed!r} / memoryBytes {held!r}: not reported")
    assert abs(freed - measured) <= FREED_TOLERANCE + 0.1 * max(freed, measured), (
        f"memoryFreedBytes {freed} disagrees with the drop measured in the container "
        f"({measured} bytes: {before} -> {after})")
    assert growth <= max(FREED_TOLERANCE, 0.02 * after), (
        f"loading and unloading {gone} again grew the server by {growth} bytes "
        f"({after} -> {again_after}): the unload did not free the model")
    settings = load(run_spec.root)
    for name in kept:
        sample = settings.models[name].samples[0]
        answer = _invoke(running, name, sample)
        assert answer.status == 200, f"{name} after unloading {gone}: HTTP {answer.status}"
