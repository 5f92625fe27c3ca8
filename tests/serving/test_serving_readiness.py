"""Readiness across workers, on real ``serve`` processes: no answer before every model is
loaded, and a model that fails to load in one worker fails the whole server."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from serving_helpers import write_model
from serving_processes import Server, start, stop

pytestmark = pytest.mark.slow

# Each worker sleeps a random 0-3 s in model_fn; predict_fn needs the model and names its pid.
RANDOM_LOAD = """
import os
import random
import time

def model_fn(model_dir):
    time.sleep(random.Random(os.getpid()).uniform(0, 3))
    return {"pid": os.getpid()}

def predict_fn(data, model):
    return model
"""

# The first worker to create the marker file fails, late; the others load at once.
ONE_FAILS = """
import os
import time

def model_fn(model_dir):
    try:
        os.close(os.open(os.environ["FAIL_MARKER"], os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return lambda data: data
    time.sleep(1.5)
    raise RuntimeError("the weights are corrupt (marker 7f3a)")
"""

ALL_FAIL = """
def model_fn(model_dir):
    raise RuntimeError("no weights here (marker 91c2)")
"""

WARNS = """
import warnings

def model_fn(model_dir):
    warnings.warn("pickled with scikit-learn 1.2, running 1.5 (marker 5d0e)", UserWarning)
    return lambda data: data
"""


def first_ping(server: Server, within: float) -> tuple[int, dict[int, int]]:
    """Poll /ping on fresh connections until it answers; (status, answers seen by status)."""
    seen: dict[int, int] = {}
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        assert server.process.poll() is None, server.log.read_text()
        try:
            status = server.call("GET", "/ping", timeout=2)[0]
        except OSError:
            time.sleep(0.01)
            continue
        seen[status] = seen.get(status, 0) + 1
        return status, seen
    raise AssertionError(f"/ping never answered within {within} s:\n{server.log.read_text()}")


def test_from_the_first_200_every_answer_comes_from_a_loaded_worker(tmp_path: Path) -> None:
    server = start(tmp_path, write_model(tmp_path / "model", RANDOM_LOAD), workers=4,
                   SAGEPACK_ACCESS_LOG="false")
    try:
        status, _ = first_ping(server, within=20)
        assert status == 200, "the first answer to /ping was not 200: a worker answered " \
                              "before its model was loaded"
        statuses: dict[int, int] = {}
        pids: set[int] = set()
        for number in range(2000):
            if number % 2:
                code, body, _ = server.call("POST", "/invocations", b"[1]",
                                            {"Content-Type": "application/json"})
                if code == 200:
                    pids.add(json.loads(body)["pid"])
            else:
                code = server.call("GET", "/ping")[0]
            statuses[code] = statuses.get(code, 0) + 1
        assert statuses == {200: 2000}, server.log.read_text()
        assert len(pids) >= 2, f"only worker(s) {pids} answered: the test proves nothing"
        assert server.log.read_text().count("loaded the model") >= 1
    finally:
        stop(server)


def test_one_worker_failing_to_load_fails_every_ping(tmp_path: Path) -> None:
    server = start(tmp_path, write_model(tmp_path / "model", ONE_FAILS), workers=3,
                   FAIL_MARKER=str(tmp_path / "fail-marker"))
    try:
        answers: dict[int, int] = {}
        reasons: set[str] = set()
        deadline = time.monotonic() + 6  # the failure comes 1.5 s after the others loaded
        while time.monotonic() < deadline:
            try:
                status, body, _ = server.call("GET", "/ping", timeout=2)
            except OSError:
                time.sleep(0.01)
                continue
            answers[status] = answers.get(status, 0) + 1
            if status == 503:
                reasons.add(json.loads(body)["message"])
        assert 200 not in answers, f"/ping answered 200 {answers[200]} time(s)"
        assert answers.get(503, 0) > 10, f"the broken server never answered: {answers}"
        assert len(reasons) == 1, reasons  # every worker, the same reason
        assert reasons.pop().endswith("model_fn raised RuntimeError: the weights are corrupt "
                                      "(marker 7f3a)")
        status, body, _ = server.call("POST", "/invocations", b"[1]",
                                      {"Content-Type": "application/json"})
        assert status == 503 and "marker 7f3a" in json.loads(body)["message"]
        log = server.log.read_text()
        assert log.count("model not loaded") == 1, log
        assert "Traceback" in log and 'inference.py", line 11, in model_fn' in log
        errors = [line for line in log.splitlines() if " ERROR " in line and "7f3a" in line]
        assert len(errors) == 1, errors  # requests answered 503 do not repeat it
    finally:
        stop(server)


def test_every_worker_failing_logs_the_reason_once(tmp_path: Path) -> None:
    server = start(tmp_path, write_model(tmp_path / "model", ALL_FAIL), workers=3)
    try:
        status, _ = first_ping(server, within=15)
        assert status == 503
        time.sleep(1)  # the slower workers report too
        log = server.log.read_text()
        assert log.count("model not loaded") == 1, log
        assert log.count("every /ping and /invocations now answers 503") == 1
    finally:
        stop(server)


def test_load_warnings_are_logged_once(tmp_path: Path) -> None:
    server = start(tmp_path, write_model(tmp_path / "model", WARNS), workers=2)
    try:
        assert first_ping(server, within=15)[0] == 200
        log = server.log.read_text()
        line = "loading the model warned: UserWarning: pickled with scikit-learn 1.2, running " \
               "1.5 (marker 5d0e)"
        assert log.count(line) == 1, log
        assert "inference.py:5)" in log
    finally:
        stop(server)
