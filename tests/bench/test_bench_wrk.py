"""wrk's summary: a run with non-2xx answers, socket errors or timeouts is invalid."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from bench_helpers import answering

from sagepack.bench import wrk
from sagepack.errors import SagepackError

CLEAN = {"requests": 50_000, "duration_us": 10_000_000, "p50_us": 2_800, "p90_us": 4_000,
         "p99_us": 6_800, "max_us": 30_000, "connect_errors": 0, "read_errors": 0,
         "write_errors": 0, "non_2xx": 0, "timeouts": 0}


def output(**changes: int) -> str:
    return ("Running 10s test @ http://127.0.0.1:1/invocations\n"
            f"{wrk.MARKER}{json.dumps({**CLEAN, **changes})}\n")


def test_a_clean_run_is_valid_with_its_figures() -> None:
    run = wrk.parse(output())
    assert run.valid and run.problems == []
    assert run.rps == 5000 and run.p99_ms == 6.8 and run.p50_ms == 2.8
    assert run.as_dict()["valid"] is True


@pytest.mark.parametrize(("field", "reason"), [
    ("non_2xx", "non-2xx"), ("connect_errors", "socket errors"),
    ("read_errors", "socket errors"), ("write_errors", "socket errors"),
    ("timeouts", "timed out")])
def test_any_failed_request_makes_the_run_invalid(field: str, reason: str) -> None:
    run = wrk.parse(output(**{field: 1}))
    assert not run.valid
    assert any(reason in problem for problem in run.problems)
    assert run.as_dict()["valid"] is False


def test_a_run_where_nothing_completed_is_invalid() -> None:
    run = wrk.parse(output(requests=0))
    assert not run.valid and run.problems == ["no request completed"]


def test_wrk_failing_or_printing_no_summary_is_an_error_naming_the_server() -> None:
    with pytest.raises(SagepackError, match=r"gunicorn: wrk failed \(exit code 1\): boom"):
        wrk.parse(output(), "boom", 1, what="gunicorn")
    with pytest.raises(SagepackError, match="wrk failed"):
        wrk.parse("Running 10s test\n")
    with pytest.raises(SagepackError, match="cannot read wrk's summary"):
        wrk.parse(f"{wrk.MARKER}{{\"requests\": 3}}\n")


def test_a_body_lua_cannot_quote_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SagepackError, match=r"\]==\]"):
        wrk.write_script(tmp_path / "post.lua", b'["]==]"]')


@pytest.mark.slow
@pytest.mark.parametrize(("status", "valid"), [(200, True), (500, False), (404, False)])
def test_real_wrk_run_against_a_server_answering_a_status(tmp_path: Path, status: int,
                                                          valid: bool) -> None:
    path = shutil.which("wrk")
    if path is None:
        pytest.skip("wrk is not installed")
    script = wrk.write_script(tmp_path / "post.lua", b'{"instances": [[1, 2, 3, 4]]}')
    with answering(status) as port:
        run = wrk.run(path, f"http://127.0.0.1:{port}/invocations", script, threads=1,
                      connections=2, duration_s=1, timeout_s=2, what="test")
    assert run.requests > 0
    assert run.valid is valid
    if not valid:
        assert run.non_2xx == run.requests


def test_a_rotating_script_refuses_what_lua_cannot_carry(tmp_path: Path) -> None:
    with pytest.raises(SagepackError, match="cannot carry"):
        wrk.write_rotating_script(tmp_path / "r.lua", b"[1]", [('/a"b', {})])
    with pytest.raises(SagepackError, match="cannot carry"):
        wrk.write_rotating_script(tmp_path / "r.lua", b"[1]", [("/a", {"X-A": "b c"})])
    with pytest.raises(SagepackError, match="at least one target"):
        wrk.write_rotating_script(tmp_path / "r.lua", b"[1]", [])


@pytest.mark.slow
def test_a_rotating_script_posts_to_every_target_with_its_headers(tmp_path: Path) -> None:
    path = shutil.which("wrk")
    if path is None:
        pytest.skip("wrk is not installed")
    targets = [(f"/models/m{i}/invoke", {"X-Amzn-SageMaker-Target-Model": f"m{i}.tar.gz"})
               for i in range(3)]
    script = wrk.write_rotating_script(tmp_path / "rotate.lua", b"[[1, 2]]", targets)
    seen: list[tuple[str, str, dict[str, str]]] = []
    with answering(200, seen) as port:
        run = wrk.run(path, f"http://127.0.0.1:{port}/", script, threads=1, connections=2,
                      duration_s=1, timeout_s=2, what="test")
    assert run.valid and run.requests > 3
    counts = {target: 0 for target, _ in targets}
    for method, target, headers in seen:
        assert method == "POST" and headers["Content-Type"] == "application/json"
        assert headers["X-Amzn-SageMaker-Target-Model"] == \
            target.split("/")[2] + ".tar.gz"
        assert headers["Content-Length"] == "8"
        counts[target] += 1
    assert all(count >= run.requests // 3 - 2 for count in counts.values()), counts
