"""Checks on a built image itself, run after every build.

- ``serve``: the executable SageMaker runs resolves on PATH and has its run bit; the
  entrypoint is unset or in exec form; port 8080 is exposed.
- ``no-secrets``: no environment variable, label or history entry holds something shaped
  like a secret (AWS keys, tokens, private keys, passwords).
- ``cuda-libraries`` (GPU variants): every shared library onnxruntime's CUDA provider
  (and NVIDIA's libraries next to it) needs resolves inside the image, except the driver's
  own ``libcuda.so.1``, which the NVIDIA runtime injects.

Check containers run with the network disabled and are always removed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence

import docker
from docker.errors import APIError, ImageNotFound

from sagepack.checks import CheckResult
from sagepack.errors import ImageCheckFailed, ImageError
from sagepack.labels import CHECK
from sagepack.serving.parameters import DEFAULT_PORT

DRIVER_LIBRARIES = frozenset({"libcuda.so.1", "libcuda.so", "libnvidia-ml.so.1"})
CUDA_PROVIDER = "libonnxruntime_providers_cuda.so"
CHECK_TIMEOUT = 120


def run_in_image(client: docker.DockerClient, image: str, argv: Sequence[str],
                 timeout: int = CHECK_TIMEOUT, *,
                 volumes: Mapping[str, Mapping[str, str]] | None = None,
                 stderr: bool = True) -> tuple[int, str]:
    """Run ``argv`` in ``image`` with no network; return (exit status, output: stdout, and
    stderr unless ``stderr`` is false). ``volumes``: docker-py's bind mounts."""
    container = client.containers.create(image, command=list(argv), entrypoint=[],
                                         network_disabled=True, network_mode="none",
                                         detach=True, labels={CHECK: "true"},
                                         volumes=dict(volumes or {}))
    from requests.exceptions import ConnectionError as RequestsConnectionError

    try:
        container.start()
        try:
            status = container.wait(timeout=timeout)
        except RequestsConnectionError as exc:  # docker-py's read timeout of the wait
            tail = container.logs(stdout=True, stderr=stderr).decode("utf-8", "replace")
            raise ImageError(f"{' '.join(argv)} in {image} did not finish within {timeout} s; "
                             f"the end of its output:\n{tail[-2000:]}") from exc
        output = container.logs(stdout=True, stderr=stderr).decode("utf-8", "replace")
        return int(status.get("StatusCode", 1)), output
    finally:
        container.remove(force=True)


# --- serve ---------------------------------------------------------------------------------

_SERVE_SCRIPT = 'p="$(command -v serve)" || exit 3; test -x "$p" || exit 4; echo "$p"'


def check_serve(client: docker.DockerClient, image: str) -> CheckResult:
    attrs = client.api.inspect_image(image)
    config = attrs.get("Config") or {}
    entrypoint = config.get("Entrypoint")
    if entrypoint and entrypoint[:2] == ["/bin/sh", "-c"]:
        return CheckResult.of("serve", False, f"ENTRYPOINT is in shell form ({entrypoint}); "
                                           "use exec form or none")
    ports = config.get("ExposedPorts") or {}
    if f"{DEFAULT_PORT}/tcp" not in ports:
        return CheckResult.of("serve", False, f"port {DEFAULT_PORT} is not exposed")
    status, output = run_in_image(client, image, ["/bin/sh", "-c", _SERVE_SCRIPT])
    if status == 3:
        return CheckResult.of("serve", False, "`serve` is not on PATH")
    if status == 4:
        return CheckResult.of("serve", False, f"{output.strip()} is not executable (run bit)")
    if status != 0:
        return CheckResult.of("serve", False, f"the check exited {status}: {output.strip()}")
    return CheckResult.of("serve", True, f"{output.strip()} is executable")


# --- secrets -------------------------------------------------------------------------------

_VALUE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("AWS access key id", re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)"
                                     r"[A-Z0-9]{16}(?![A-Z0-9])")),
    ("AWS secret access key", re.compile(
        r"(?i)aws_?(?:secret_?access_?key|session_?token)\s*[=:]\s*['\"]?[A-Za-z0-9/+=]{16,}")),
    ("GitHub token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})")),
    ("Slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    ("Hugging Face token", re.compile(r"\bhf_[A-Za-z0-9]{30,}")),
    ("private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("JSON web token", re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.")),
    ("password or token assignment", re.compile(
        r"(?i)\b[A-Z0-9_]*(?:password|passwd|secret|token|api_?key)[A-Z0-9_]*\s*[=:]\s*"
        r"['\"]?[^\s'\"$]{8,}")),
)
_SECRET_NAME = re.compile(r"(?i)(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|"
                          r"CREDENTIAL|ACCESS_?KEY)")


def _redact(value: str) -> str:
    return value[:4] + "…" if len(value) > 4 else "…"


def find_secrets(env: Iterable[str], history: Iterable[str],
                 labels: dict[str, str] | None = None) -> list[str]:
    """Where secret-shaped values appear (values redacted)."""
    found: list[str] = []
    for item in env:
        name, _, value = item.partition("=")
        if value and _SECRET_NAME.search(name):
            found.append(f"environment variable {name} ({_redact(value)})")
            continue
        for kind, pattern in _VALUE_PATTERNS:
            match = pattern.search(value)
            if match:
                found.append(f"environment variable {name}: {kind} ({_redact(match.group(0))})")
                break
    for index, created_by in enumerate(history):
        for kind, pattern in _VALUE_PATTERNS:
            match = pattern.search(created_by)
            if match:
                shown = created_by.replace(match.group(0), _redact(match.group(0)))
                found.append(f"history entry {index} ({' '.join(shown.split())[:60]}): "
                             f"{kind} ({_redact(match.group(0))})")
                break
    for name, value in (labels or {}).items():
        for kind, pattern in _VALUE_PATTERNS:
            match = pattern.search(value)
            if match:
                found.append(f"label {name}: {kind} ({_redact(match.group(0))})")
                break
    return found


def check_no_secrets(client: docker.DockerClient, image: str) -> CheckResult:
    attrs = client.api.inspect_image(image)
    config = attrs.get("Config") or {}
    history = [str(h.get("CreatedBy") or "") for h in reversed(client.api.history(image))]
    found = find_secrets(config.get("Env") or [], history, config.get("Labels") or {})
    if found:
        return CheckResult.of("no-secrets", False, "; ".join(found))
    return CheckResult.of("no-secrets", True, "no secret-shaped value in env, labels or history")


# --- CUDA libraries ------------------------------------------------------------------------

# Runs in the image with its own python and environment (LD_LIBRARY_PATH included).
_CUDA_SCRIPT = r"""
import glob, json, os, subprocess, sysconfig
site = sysconfig.get_paths()["purelib"]
provider = glob.glob(os.path.join(site, "onnxruntime", "capi", "PROVIDER"))
libs = provider + sorted(glob.glob(os.path.join(site, "nvidia", "*", "lib", "*.so*")))
missing = {}
for lib in libs:
    out = subprocess.run(["ldd", lib], capture_output=True, text=True)
    for line in out.stdout.splitlines():
        if "=> not found" in line:
            missing.setdefault(line.split("=>")[0].strip(), []).append(os.path.basename(lib))
print(json.dumps({"provider": provider, "checked": len(libs), "missing": missing}))
""".replace("PROVIDER", CUDA_PROVIDER)


def check_cuda_libraries(client: docker.DockerClient, image: str) -> CheckResult:
    status, output = run_in_image(client, image, ["python", "-c", _CUDA_SCRIPT])
    lines = [line for line in output.splitlines() if line.startswith("{")]
    if status != 0 or not lines:
        return CheckResult.of("cuda-libraries", False,
                           f"the library check could not run (exit {status}): {output.strip()}")
    report = json.loads(lines[-1])
    if not report["provider"]:
        return CheckResult.of("cuda-libraries", False,
                           f"{CUDA_PROVIDER} is not in the image (onnxruntime-gpu missing?)")
    missing = {lib: users for lib, users in report["missing"].items()
               if lib not in DRIVER_LIBRARIES}
    if missing:
        detail = "; ".join(f"{lib} (needed by {', '.join(sorted(set(users))[:3])})"
                           for lib, users in sorted(missing.items()))
        return CheckResult.of("cuda-libraries", False, f"unresolved shared libraries: {detail}")
    return CheckResult.of("cuda-libraries", True,
                       f"{report['checked']} libraries resolve (driver's libcuda.so.1 excepted)")


# --- all -----------------------------------------------------------------------------------


def run_checks(client: docker.DockerClient, image: str, *, gpu: bool) -> list[CheckResult]:
    """Every check for the image; never raises for a failed check (see :func:`enforce`)."""
    try:
        results = [check_serve(client, image), check_no_secrets(client, image)]
        if gpu:
            results.append(check_cuda_libraries(client, image))
    except (APIError, ImageNotFound) as exc:
        raise ImageError(f"checking {image}: the engine failed: {exc}") from exc
    return results


def enforce(results: Sequence[CheckResult], image: str) -> None:
    """Raise :class:`ImageCheckFailed` naming the first failed check (and the others)."""
    failed = [r for r in results if r.failed]
    if failed:
        first = failed[0]
        detail = first.detail
        if len(failed) > 1:
            detail += "; also failed: " + ", ".join(f"{r.name} ({r.detail})" for r in failed[1:])
        raise ImageCheckFailed(first.name, image, detail)
