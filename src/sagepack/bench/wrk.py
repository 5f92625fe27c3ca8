"""Loading a server with ``wrk`` and reading what it measured, validity included.

wrk's latency percentiles leave out every request that failed: a run with socket errors
(connect, read, write), timeouts or error statuses reports figures for the requests that
happened to succeed, and so flatters the server. Such a run is INVALID: it is reported with
its problems, never as a figure. ``non_2xx`` is wrk's ``summary.errors.status``, the count
its text output prints as "Non-2xx or 3xx responses".
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sagepack.errors import SagepackError

MARKER = "WRK_JSON "

# A POST of one fixed body; ``done`` prints the summary as one JSON line after MARKER.
_POST = '''\
wrk.method = "POST"
wrk.body = [==[{body}]==]
wrk.headers["Content-Type"] = "application/json"
'''

# The same body posted to each target in turn (its path, its headers), each request built once.
_ROTATE = '''
local targets = {{
{targets}
}}
local built = {{}}
local turn = 0

init = function(args)
  for index, target in ipairs(targets) do
    local headers = {{["Content-Type"] = "application/json"}}
    for name, value in pairs(target.headers) do headers[name] = value end
    built[index] = wrk.format("POST", target.path, headers, wrk.body)
  end
end

request = function()
  turn = turn % #built + 1
  return built[turn]
end
'''

_DONE = '''
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_JSON {{\\"requests\\": %d, \\"duration_us\\": %d, \\"p50_us\\": %d, " ..
    "\\"p90_us\\": %d, \\"p99_us\\": %d, \\"max_us\\": %d, \\"connect_errors\\": %d, " ..
    "\\"read_errors\\": %d, \\"write_errors\\": %d, \\"non_2xx\\": %d, " ..
    "\\"timeouts\\": %d}}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
'''

SCRIPT = _POST + _DONE

_SAFE_LUA = re.compile(r"[A-Za-z0-9/._:-]+")

_FIELDS = ("requests", "duration_us", "p50_us", "p90_us", "p99_us", "max_us",
           "connect_errors", "read_errors", "write_errors", "non_2xx", "timeouts")


@dataclass(frozen=True)
class WrkRun:
    """What one wrk run measured."""

    requests: int
    duration_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    connect_errors: int
    read_errors: int
    write_errors: int
    non_2xx: int
    timeouts: int

    @property
    def socket_errors(self) -> int:
        return self.connect_errors + self.read_errors + self.write_errors

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def problems(self) -> list[str]:
        """Why the run's figures cannot be trusted; empty when they can."""
        found = []
        if self.requests == 0:
            found.append("no request completed")
        if self.non_2xx:
            found.append(f"{self.non_2xx} non-2xx responses")
        if self.socket_errors:
            found.append(f"{self.socket_errors} socket errors (connect {self.connect_errors}, "
                         f"read {self.read_errors}, write {self.write_errors})")
        if self.timeouts:
            found.append(f"{self.timeouts} requests timed out")
        return found

    @property
    def valid(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rps": round(self.rps, 1), "socket_errors": self.socket_errors,
                "valid": self.valid, "problems": self.problems}


def parse(stdout: str, stderr: str = "", returncode: int = 0, *, what: str = "wrk") -> WrkRun:
    """The run that ``stdout`` (with our script's summary line) reports.

    Raises SagepackError naming ``what`` when wrk failed or printed no summary.
    """
    line = next((ln for ln in stdout.splitlines() if ln.startswith(MARKER)), None)
    if returncode != 0 or line is None:
        raise SagepackError(f"{what}: wrk failed (exit code {returncode}): "
                            f"{stderr.strip() or stdout.strip() or 'no output'}")
    try:
        raw = json.loads(line.removeprefix(MARKER))
        values = {name: int(raw[name]) for name in _FIELDS}
    except (ValueError, KeyError, TypeError) as exc:
        raise SagepackError(f"{what}: cannot read wrk's summary {line!r}: {exc}") from exc
    return WrkRun(
        requests=values["requests"], duration_s=values["duration_us"] / 1e6,
        p50_ms=values["p50_us"] / 1000, p90_ms=values["p90_us"] / 1000,
        p99_ms=values["p99_us"] / 1000, max_ms=values["max_us"] / 1000,
        connect_errors=values["connect_errors"], read_errors=values["read_errors"],
        write_errors=values["write_errors"], non_2xx=values["non_2xx"],
        timeouts=values["timeouts"])


def _quoted(body: bytes) -> str:
    text = body.decode("utf-8")
    if "]==]" in text:
        raise SagepackError("the benchmark's request body contains ']==]', which wrk's "
                            "script cannot quote")
    return text


def write_script(path: Path, body: bytes) -> Path:
    """The Lua script posting ``body``; refuses a body that would end the Lua string."""
    path.write_text(SCRIPT.format(body=_quoted(body)), encoding="utf-8")
    return path


def _lua_string(text: str) -> str:
    if not _SAFE_LUA.fullmatch(text):
        raise SagepackError(f"wrk's script cannot carry {text!r}: only letters, digits and "
                            "/._:- are allowed in paths and headers")
    return f'"{text}"'


def write_rotating_script(path: Path, body: bytes,
                          targets: Sequence[tuple[str, Mapping[str, str]]]) -> Path:
    """The Lua script posting ``body`` to each ``(path, headers)`` of ``targets`` in turn
    (each wrk thread goes round them on its own); the URL given to :func:`run` then only
    names the server."""
    if not targets:
        raise SagepackError("wrk's rotating script needs at least one target")
    rows = []
    for target, headers in targets:
        pairs = ", ".join(f"[{_lua_string(k)}] = {_lua_string(v)}" for k, v in headers.items())
        rows.append(f"  {{path = {_lua_string(target)}, headers = {{{pairs}}}}},")
    path.write_text((_POST + _ROTATE + _DONE).format(body=_quoted(body),
                                                     targets="\n".join(rows)),
                    encoding="utf-8")
    return path


def run(wrk: str, url: str, script: Path, *, threads: int, connections: int,
        duration_s: float, timeout_s: float, what: str) -> WrkRun:
    """Load ``url`` with wrk for ``duration_s`` (whole seconds, at least 1, as wrk takes);
    a request slower than ``timeout_s`` (whole seconds too) is a timeout and makes the run
    invalid."""
    completed = subprocess.run(
        [wrk, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration_s))}s",
         "--timeout", f"{max(1, round(timeout_s))}s", "-s", str(script), url],
        capture_output=True, text=True, check=False, timeout=duration_s + timeout_s + 60)
    return parse(completed.stdout, completed.stderr, completed.returncode, what=what)
