"""Multi-model endpoints on a real ``serve`` (2 workers): concurrent changes, the memory
budget, memory given back after unloads, /ping while a model loads, a replaced worker."""

from __future__ import annotations

import concurrent.futures
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mme_helpers import (
    BIG,
    SCALER,
    SLOW,
    archive,
    get_json,
    invoke,
    load,
    resident,
    start_mme,
    worker_pids,
)
from serving_processes import Server, stop

from sagepack.serving import memory

pytestmark = pytest.mark.slow

# The first worker to create the marker fails; the other loads.
ONE_WORKER_FAILS = """
import os

def model_fn(model_dir):
    try:
        os.close(os.open({marker!r}, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return lambda data: data
    raise MemoryError("this worker ran out (marker 5eed)")
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = start_mme(tmp_path)
    yield running
    stop(running)


def test_of_concurrent_loads_of_one_name_exactly_one_is_200(server: Server,
                                                            tmp_path: Path) -> None:
    url = archive(tmp_path, "same", SLOW, seconds=0.5)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = sorted(f.result()[0] for f in [pool.submit(load, server, "same", url)
                                                  for _ in range(8)])
    assert statuses == [200] + [409] * 7
    assert [m["modelName"] for m in get_json(server, "/models")[1]["models"]] == ["same"]


def test_concurrent_loads_of_different_names_all_succeed(server: Server, tmp_path: Path) -> None:
    urls = {f"m{i}": archive(tmp_path, f"m{i}", SLOW, seconds=0.3) for i in range(4)}
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = {name: pool.submit(load, server, name, url) for name, url in urls.items()}
        assert {name: f.result()[0] for name, f in results.items()} == dict.fromkeys(urls, 200)
    assert sorted(m["modelName"] for m in get_json(server, "/models")[1]["models"]) == sorted(urls)


def test_an_unload_during_the_load_is_409_then_succeeds(server: Server, tmp_path: Path) -> None:
    url = archive(tmp_path, "slow", SLOW, seconds=1.5)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        loading = pool.submit(load, server, "slow", url)
        time.sleep(0.4)
        status, body = get_json(server, "/models/slow", "DELETE")
        assert status == 409 and "still loading" in body["message"]
        assert loading.result()[0] == 200
    assert get_json(server, "/models/slow", "DELETE")[0] == 200


def test_a_load_failing_in_one_worker_is_rolled_back_in_the_other(server: Server,
                                                                  tmp_path: Path) -> None:
    url = archive(tmp_path, "half", ONE_WORKER_FAILS, marker=str(tmp_path / "marker"))
    status, body = load(server, "half", url)
    assert status == 500 and "marker 5eed" in body["message"]
    for _ in range(10):
        assert invoke(server, "half", [1])[0] == 404, "the worker that loaded it still serves it"
    assert get_json(server, "/models")[1]["models"] == []


def test_a_tiny_budget_answers_507_and_loads_nothing(tmp_path: Path) -> None:
    server = start_mme(tmp_path, SAGEPACK_MEMORY_BUDGET_MB="1")
    try:
        status, body = load(server, "double", archive(tmp_path, "double", SCALER, factor=2))
        assert status == 507
        assert "memory budget" in body["message"] and "SAGEPACK_MEMORY_BUDGET_MB" in body["message"]
        assert get_json(server, "/models")[1]["models"] == []
        assert invoke(server, "double", [1])[0] == 404
    finally:
        stop(server)


def test_a_model_over_the_budget_once_loaded_is_507_and_freed(tmp_path: Path) -> None:
    server = start_mme(tmp_path, SAGEPACK_MEMORY_BUDGET_MB="400")
    try:
        status, body = load(server, "huge", archive(tmp_path, "huge", BIG, mib=300))
        assert status == 507 and "unloaded again" in body["message"], body
        assert invoke(server, "huge", [1])[0] == 404
        status, body = load(server, "small", archive(tmp_path, "small", BIG, mib=20))
        assert status == 200, f"the refused model's memory was not given back: {body}"
    finally:
        stop(server)


def test_memory_grows_under_5_percent_over_20_loads_and_unloads(server: Server,
                                                                tmp_path: Path) -> None:
    url = archive(tmp_path, "ballast", BIG, mib=40)

    def cycle() -> tuple[int, int]:
        assert load(server, "ballast", url)[0] == 200
        loaded = resident(server)
        assert invoke(server, "ballast", [1])[1] == 10
        status, body = get_json(server, "/models/ballast", "DELETE")
        assert status == 200
        return loaded, body["memoryFreedBytes"]

    cycle()  # the first load imports the handler's libraries for good
    base = resident(server)
    loaded, freed = cycle()
    assert loaded - base > 70 << 20, "loading 2 x 40 MiB did not show: the probe cannot measure"
    assert freed > 70 << 20, f"the unload reported {memory.mib(freed)} freed"
    for _ in range(19):
        cycle()
    after = resident(server)
    growth = (after - base) / base
    assert growth < 0.05, (f"resident memory grew {growth:.1%} ({memory.mib(base)} -> "
                           f"{memory.mib(after)}) over 20 loads and unloads")


def test_ping_and_other_models_answer_fast_while_a_slow_model_fn_runs(server: Server,
                                                                      tmp_path: Path) -> None:
    assert load(server, "quick", archive(tmp_path, "quick", SCALER, factor=2))[0] == 200
    url = archive(tmp_path, "slow", SLOW, seconds=3)
    results: list[tuple[int, object]] = []
    loading = threading.Thread(target=lambda: results.append(load(server, "slow", url)))
    began = time.monotonic()
    loading.start()
    pings, invocations = [], []
    time.sleep(0.2)
    while time.monotonic() - began < 2.5:
        status, _, took = server.call("GET", "/ping")
        assert status == 200
        pings.append(took)
        started = time.monotonic()
        assert invoke(server, "quick", [1])[0] == 200
        invocations.append(time.monotonic() - started)
    assert loading.is_alive(), "the slow load ended early: nothing was measured during it"
    loading.join()
    assert results[0][0] == 200 and time.monotonic() - began >= 3
    assert len(pings) > 20
    assert max(pings) < 0.05, f"/ping took {max(pings) * 1000:.0f} ms during a load"
    assert max(invocations) < 0.5, f"another model waited {max(invocations):.2f} s for the load"


def test_a_replaced_worker_loads_every_loaded_model_before_it_serves(server: Server,
                                                                     tmp_path: Path) -> None:
    assert load(server, "double", archive(tmp_path, "double", SCALER, factor=2))[0] == 200
    assert load(server, "triple", archive(tmp_path, "triple", SCALER, factor=3))[0] == 200
    old = worker_pids(server)
    assert len(old) == 2
    os.kill(old[0], signal.SIGKILL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        now = worker_pids(server)
        if len(now) == 2 and old[0] not in now:
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"no new worker:\n{server.log.read_text()}")
    served = set()
    for _ in range(60):
        for name, factor in (("double", 2), ("triple", 3)):
            status, answer = invoke(server, name, [1])
            assert status == 200, f"{name} after the worker was replaced: {answer}"
            assert answer["value"] == [factor]
            served.add(answer["pid"])
    assert set(worker_pids(server)) <= served, "the new worker never answered"
    assert len({server.call("GET", "/models")[1] for _ in range(20)}) == 1
