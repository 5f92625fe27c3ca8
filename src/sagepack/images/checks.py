"""Checks on a built image itself, run after every build.

- ``serve``: the executable SageMaker runs resolves on PATH and has its run bit; the
  entrypoint is unset or in exec form; port 8080 is exposed.
- ``no-secrets``: no environment variable, label or history entry holds something shaped
  like a secret (AWS keys, tokens, private keys, passwords).
- ``cuda-libraries`` (GPU variants): the image holds a framework built for CUDA
  (onnxruntime-gpu's CUDA provider, torch's CUDA libraries, an XGBoost built with CUDA),
  and every shared library those and NVIDIA's libraries next to them need resolves inside
  the image, except the driver's own ``libcuda.so.1``, which the NVIDIA runtime injects.

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
# NVIDIA's plugins for multi-node fabrics, loaded only when the host has that fabric:
# NVSHMEM's transports and bootstraps (InfiniBand, UCX, libfabric, MPI, PMIx) and cuFile's
# RDMA. What they link (libibverbs, libfabric, libmpi...) comes with the fabric's own host
# stack, so it is not required of the image; anything else they link still is.
FABRIC_PLUGINS = re.compile(r"^(?:nvshmem_(?:transport|bootstrap)_[a-z0-9_]+|libcufile_rdma)"
                            r"\.so")
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

# Runs in the image with its own python and environment (LD_LIBRARY_PATH included). The
# frameworks' CUDA libraries: onnxruntime-gpu's CUDA provider, torch's CUDA libraries
# (libtorch_cuda.so, libc10_cuda.so), and XGBoost's library when it is built with CUDA
# (read from xgboost.build_info(): its CUDA runtime is linked in, nothing names it).
_CUDA_SCRIPT = r"""
import glob, importlib.util, json, os, subprocess, sysconfig
site = sysconfig.get_paths()["purelib"]
frameworks = {}
found = glob.glob(os.path.join(site, "onnxruntime", "capi", "PROVIDER"))
if found:
    frameworks["onnxruntime"] = found
found = sorted(glob.glob(os.path.join(site, "torch", "lib", "lib*_cuda*.so")))
if found:
    frameworks["torch"] = found
if importlib.util.find_spec("xgboost") is not None:
    import xgboost
    info = xgboost.build_info()
    if info.get("USE_CUDA"):
        frameworks["xgboost"] = [info["libxgboost"]]
libs = [lib for found in frameworks.values() for lib in found]
libs += sorted(glob.glob(os.path.join(site, "nvidia", "*", "lib", "*.so*")))
missing = {}
for lib in libs:
    out = subprocess.run(["ldd", lib], capture_output=True, text=True)
    for line in out.stdout.splitlines():
        if "=> not found" in line:
            missing.setdefault(line.split("=>")[0].strip(), []).append(os.path.basename(lib))
print(json.dumps({"frameworks": {k: [os.path.basename(p) for p in v] for k, v in frameworks.items()},
                  "checked": len(libs), "missing": missing}))
""".replace("PROVIDER", CUDA_PROVIDER)


def check_cuda_libraries(client: docker.DockerClient, image: str) -> CheckResult:
    """``cuda-libraries``: the image holds a framework built for CUDA, and every shared
    library it and NVIDIA's wheels need resolves (the driver's own excepted)."""
    status, output = run_in_image(client, image, ["python", "-c", _CUDA_SCRIPT])
    lines = [line for line in output.splitlines() if line.startswith("{")]
    if status != 0 or not lines:
        return CheckResult.of("cuda-libraries", False,
                           f"the library check could not run (exit {status}): {output.strip()}")
    report = json.loads(lines[-1])
    frameworks: dict[str, list[str]] = report.get("frameworks") or {}
    if not frameworks:
        return CheckResult.of("cuda-libraries", False,
                           f"no framework built for CUDA in the image ({CUDA_PROVIDER} of "
                           "onnxruntime-gpu, torch's libtorch_cuda.so, an XGBoost built with "
                           "CUDA): is the framework's CUDA build in the variant's lock?")
    missing: dict[str, list[str]] = {}
    fabric: set[str] = set()
    for lib, users in report["missing"].items():
        if lib in DRIVER_LIBRARIES:
            continue
        if all(FABRIC_PLUGINS.match(user) for user in users):
            fabric.update(users)
        else:
            missing[lib] = users
    if missing:
        detail = "; ".join(f"{lib} (needed by {', '.join(sorted(set(users))[:3])})"
                           for lib, users in sorted(missing.items()))
        return CheckResult.of("cuda-libraries", False, f"unresolved shared libraries: {detail}")
    names = ", ".join(f"{name} ({', '.join(libs)})" for name, libs in sorted(frameworks.items()))
    plugins = (f"; {len(fabric)} multi-node fabric plugins need their fabric's host "
               f"libraries ({', '.join(sorted(fabric)[:3])}...)" if fabric else "")
    return CheckResult.of("cuda-libraries", True,
                       f"{report['checked']} libraries resolve (driver's libcuda.so.1 "
                       f"excepted){plugins}; CUDA builds: {names}")


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
