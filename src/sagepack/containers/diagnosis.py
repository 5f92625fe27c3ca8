"""Why a serving container did not come up, said from its state and its logs.

Never a bare "did not pass the ping health check": the usual causes each have a sentence
(``serve`` missing or not executable, the handler failing to import, ``model_fn`` raising,
out of memory, the server exiting, nothing listening on the port, /ping answering non-200).
Pure functions over the evidence, so they are tested without Docker.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sagepack.serving.parameters import DEFAULT_PORT

LOG_TAIL_LINES = 60
_TRACEBACK_START = "Traceback (most recent call last):"
_IMPORT_ERRORS = ("ModuleNotFoundError", "ImportError", "SyntaxError", "IndentationError",
                  "NameError")

@dataclass(frozen=True)
class Evidence:
    """What is known about a container that is not ready."""

    image: str
    status: str = ""  # created, running, exited, dead...
    exit_code: int | None = None
    oom_killed: bool = False
    engine_error: str = ""  # State.Error, or the engine's refusal to start it
    logs: str = ""
    port: int = DEFAULT_PORT
    listening: frozenset[int] | None = None  # TCP ports listening inside; None: unknown
    timed_out_after: float | None = None
    last_ping: str = ""  # what the last /ping attempt got
    serve_files: Mapping[str, int] = field(default_factory=dict)  # path -> mode, on PATH

    @classmethod
    def from_state(cls, image: str, state: Mapping[str, Any], logs: str,
                   **kwargs: Any) -> Evidence:
        """From a container's ``attrs["State"]``."""
        code = state.get("ExitCode")
        values: dict[str, Any] = {
            "status": str(state.get("Status", "")),
            "exit_code": int(code) if isinstance(code, int) else None,
            "oom_killed": bool(state.get("OOMKilled")),
            "engine_error": str(state.get("Error") or ""),
            "logs": logs,
        }
        values.update(kwargs)
        return cls(image=image, **values)


def tail(text: str, lines: int = LOG_TAIL_LINES) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


_CHAINS = ("The above exception was the direct cause of the following exception:",
           "During handling of the above exception, another exception occurred:")


def _traceback_end(lines: list[str], start: int) -> int:
    """Index after the exception line of the traceback starting at ``start``."""
    for i in range(start + 1, len(lines)):
        if lines[i].strip() and not lines[i][0].isspace():
            return i + 1  # frames are indented; the first line that is not ends it
    return len(lines)


def last_traceback(logs: str) -> str | None:
    """The last Python traceback in ``logs``, with the tracebacks chained to it (``raise ...
    from``), up to and including its exception line."""
    lines = logs.splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip().endswith(_TRACEBACK_START)]
    if not starts:
        return None
    first = starts[-1]
    for earlier in reversed(starts[:-1]):
        between = [ln.strip() for ln in lines[_traceback_end(lines, earlier):first]
                   if ln.strip()]
        if between and all(ln in _CHAINS for ln in between):
            first = earlier
        else:
            break
    return "\n".join(lines[first:_traceback_end(lines, starts[-1])])


def root_exception_line(traceback: str) -> str:
    """The exception line of the first traceback of a chain (the original cause)."""
    lines = traceback.splitlines()
    return exception_line("\n".join(lines[:_traceback_end(lines, 0)]))


def exception_line(traceback: str) -> str:
    """The exception line (the last line that is not indented) of one traceback."""
    lines = [ln for ln in traceback.splitlines() if ln.strip()]
    for line in reversed(lines):
        if not line[0].isspace() and not line.strip().endswith(_TRACEBACK_START):
            return line.strip()
    return lines[-1].strip() if lines else ""


def _frames(traceback: str) -> list[tuple[str, str]]:
    """(file, function) of each frame of a traceback."""
    return re.findall(r'File "([^"]+)", line \d+, in (\S+)', traceback)


def _serve_problem(e: Evidence) -> str | None:
    text = f"{e.engine_error}\n{e.logs}".lower()
    not_executable = {path: mode for path, mode in e.serve_files.items() if not mode & 0o111}
    if not_executable and len(not_executable) == len(e.serve_files):
        files = ", ".join(f"{p} (mode {m & 0o7777:04o})" for p, m in not_executable.items())
        return (f"`serve` is not executable: {files} has no run bit, so the engine cannot "
                "run it (chmod 0755, or COPY --chmod=0755 in the Dockerfile). Engine said: "
                + (e.engine_error or tail(e.logs, 3)))
    missing = ("executable file not found" in text or "no such file or directory" in text
               or "serve: not found" in text or "serve: command not found" in text)
    if "serve" in text and missing and (e.exit_code in (127, None, 0) or e.engine_error):
        return ("`serve` was not found: SageMaker runs the image with the argument `serve`, "
                "so an executable named `serve` must be on the image's PATH (ENTRYPOINT, if "
                "any, in exec form). Engine said: " + (e.engine_error or tail(e.logs, 3)))
    if "permission denied" in text and ("serve" in text or e.exit_code == 126):
        return ("`serve` is not executable (permission denied): give it the run bit "
                "(chmod 0755, or COPY --chmod=0755 in the Dockerfile). Engine said: "
                + (e.engine_error or tail(e.logs, 3)))
    if e.exit_code == 126:
        return "`serve` could not be executed (exit code 126: not executable or bad interpreter)"
    if e.exit_code == 127:
        return "a command was not found (exit code 127): " + tail(e.logs, 3)
    return None


def _traceback_problem(e: Evidence) -> str | None:
    tb = last_traceback(e.logs)
    if tb is None:
        return None
    exc = root_exception_line(tb)
    frames = _frames(tb)
    functions = {fn for _, fn in frames}
    files = [path for path, _ in frames]
    exc_name = exc.split(":", 1)[0].rsplit(".", 1)[-1]
    if "model_fn" in functions:
        return f"model_fn failed while loading the model: {exc}\n{tb}"
    handler_frames = [f for f in files if not ("site-packages" in f or "/lib/python" in f
                                               or f.startswith("<"))]
    if exc_name in _IMPORT_ERRORS or "<module>" in functions:
        where = f" in {handler_frames[-1]}" if handler_frames else ""
        what = "the handler module could not be imported" if (
            any(f.endswith("inference.py") for f in files) or "inference" in exc
            or exc_name in _IMPORT_ERRORS) else "the server failed at import"
        return f"{what}{where}: {exc}\n{tb}"
    if "MemoryError" in exc_name:
        return f"out of memory while starting: {exc}\n{tb}"
    return f"the server failed with {exc}\n{tb}"


def handler_failure(logs: str) -> str | None:
    """The handler failing to import or ``model_fn`` raising, when the logs show it: a
    model in that state never becomes ready, however long one waits."""
    problem = _traceback_problem(Evidence(image="", logs=logs))
    if problem and (problem.startswith("model_fn failed")
                    or problem.startswith("the handler module could not be imported")):
        return problem
    return None


def diagnose(e: Evidence) -> str:
    """One paragraph saying why the container is not serving, most specific cause first."""
    problem = _serve_problem(e)
    if problem:
        return problem
    if e.oom_killed:
        return ("the container was killed for using too much memory (OOMKilled, exit code "
                f"{e.exit_code}): the model needs more memory than the container was given")
    problem = _traceback_problem(e)
    if problem:
        return problem
    if e.status in ("exited", "dead"):
        if e.exit_code == 137:
            return ("the container was killed (SIGKILL, exit code 137) before answering "
                    "/ping; out of memory is the usual cause")
        last = tail(e.logs, 5) or "(no output)"
        return (f"`serve` exited with code {e.exit_code} before answering /ping (the server "
                f"must keep running); its last output:\n{last}")
    if e.status == "created":
        return f"the container was created but never started: {e.engine_error or 'no error given'}"
    if e.timed_out_after is not None:
        waited = f"{e.timed_out_after:.0f} s"
        if e.listening is not None and e.port not in e.listening:
            ports = ", ".join(str(p) for p in sorted(e.listening)) or "none"
            return (f"nothing listens on port {e.port} after {waited} (ports listening in the "
                    f"container: {ports}): the server must bind 0.0.0.0:{e.port} "
                    "(SAGEMAKER_BIND_TO_PORT when set)")
        if e.last_ping.startswith("HTTP"):
            return (f"/ping never answered 200 within {waited} (last answer: {e.last_ping}); "
                    "the model may still be loading or the server reports itself unhealthy")
        return (f"the server listens on port {e.port} but /ping did not answer within "
                f"{waited} (last attempt: {e.last_ping or 'no answer'}): each /ping must "
                "answer within 2 s")
    return f"the container is {e.status or 'in an unknown state'}: {e.last_ping}"


def parse_listening(proc_net_tcp: str) -> frozenset[int]:
    """Ports in LISTEN state in the text of ``/proc/net/tcp`` and ``/proc/net/tcp6``."""
    ports: set[int] = set()
    for line in proc_net_tcp.splitlines():
        parts = line.split()
        if len(parts) > 3 and parts[3] == "0A" and ":" in parts[1]:
            try:
                ports.add(int(parts[1].rsplit(":", 1)[1], 16))
            except ValueError:
                continue
    return frozenset(ports)
