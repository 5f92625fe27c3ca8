"""The build benchmark's baseline: the seed's naive recipe, built and proven to work.

The recipe (AWS Marketplace seller guide, as the project's seed shipped it): one stage,
``pip install`` Flask and the model's requirements, a Flask ``serve``, the model copied in.
It is built on the same base as sagepack's image, with nothing sagepack would not need (no
compilers, no headers): the base's own Python makes a virtual environment whose pip
installs from a wheelhouse of Flask plus the model's requirements (downloaded on the host
with their dependencies, no lock), copied in. That copy is a layer the networked recipe
would not have, so the naive size is also reported without it, and the goal is judged
against that smaller figure.

The naive image is then run once as SageMaker runs it (``serve``): ``/ping``, and one
``/invocations`` with the model's first sample, its answer checked against the expected
one. A naive image that does not work makes the size comparison invalid.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import docker
import requests

from sagepack.compare import expected_diffs
from sagepack.config import ModelConfig
from sagepack.containers import serving_container
from sagepack.errors import ContainerError, ImageError
from sagepack.images.build_stream import SilentDisplay, run_build
from sagepack.images.context import BuildContext
from sagepack.images.report import layers
from sagepack.platforms import ABI, AMD64, PYTHON_VERSION
from sagepack.serving import parameters as p

NAIVE_TAG = "sagepack-bench/naive:{model}"
READY_WITHIN_S = 120.0

DOCKERFILE = """\
# The naive recipe (AWS Marketplace seller guide): one stage, pip and Flask.
FROM {base}
ENV LC_ALL=C.UTF-8 LANG=C.UTF-8
COPY wheels/ /tmp/wheels/
RUN python3 -m venv /opt/venv && /opt/venv/bin/pip install --no-index --find-links /tmp/wheels {packages}
RUN mkdir -p /opt/program
ENV PATH="/opt/program:/opt/venv/bin:${{PATH}}" PYTHONUNBUFFERED=TRUE
COPY serve /opt/program/serve
COPY model /opt/ml/model
WORKDIR /opt/program
"""

SERVE = '''\
#!/usr/bin/env python3
"""The naive recipe's server: Flask calling the model's handler functions."""
import importlib.util
import os

import flask

MODEL_DIR = "/opt/ml/model"
spec = importlib.util.spec_from_file_location(
    "inference", os.path.join(MODEL_DIR, "code", "inference.py"))
handler = importlib.util.module_from_spec(spec)
spec.loader.exec_module(handler)
model = handler.model_fn(MODEL_DIR)
app = flask.Flask(__name__)


@app.route("/ping")
def ping():
    return flask.Response("", status=200)


@app.route("/invocations", methods=["POST"])
def invocations():
    data = handler.input_fn(flask.request.data, flask.request.content_type)
    body, content_type = handler.output_fn(handler.predict_fn(data, model),
                                           flask.request.headers.get("Accept"))
    return flask.Response(body, status=200, mimetype=content_type)


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=8080)
'''


def requirements(model: ModelConfig) -> list[str]:
    """Flask and the requirements of the model's CPU variant, unpinned as the recipe has."""
    lines = model.variant("cpu").requirements_in.read_text(encoding="utf-8").splitlines()
    return ["flask", *(s for line in lines if (s := line.split("#", 1)[0].strip())
                       and not s.startswith("-"))]


def wheelhouse(packages: list[str], cache_dir: Path) -> Path:
    """``packages`` with their dependencies as wheels for linux/amd64 (cached)."""
    key = hashlib.sha256("\n".join(sorted(packages)).encode()).hexdigest()[:16]
    folder = cache_dir / f"naive-{key}"
    if folder.is_dir() and any(folder.glob("*.whl")):
        return folder
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".naive-", dir=cache_dir))
    argv = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check",
            "--only-binary=:all:", "--python-version", PYTHON_VERSION,
            "--implementation", "cp", "--abi", ABI,
            *(arg for plat in AMD64.wheel_platforms for arg in ("--platform", plat)),
            "-d", str(staging), *packages]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise ImageError(f"downloading the naive recipe's wheels failed:\n"
                         f"{(proc.stderr or proc.stdout)[-2000:]}")
    staging.rename(folder)
    return folder


def build_naive(client: docker.DockerClient, model: ModelConfig, base: str, wheels: Path,
                packages: list[str], work: Path) -> dict[str, Any]:
    """Build the naive image of ``model`` on ``base`` (no cache); its size and layers."""
    ctx = BuildContext()
    dockerfile = DOCKERFILE.format(base=base, packages=" ".join(packages))
    ctx.add_bytes("Dockerfile", dockerfile.encode())
    ctx.add_dir("wheels")
    for wheel in sorted(wheels.glob("*.whl")):
        ctx.add_file(f"wheels/{wheel.name}", wheel, 0o644)
    ctx.add_bytes("serve", SERVE.encode(), 0o755)
    ctx.add_tree("model", model.root)
    tar = work / "naive-context.tar"
    ctx.write(tar)
    tag = NAIVE_TAG.format(model=model.name)
    started = time.monotonic()
    result = run_build(client, tar, tag=tag, no_cache=True, display=SilentDisplay())
    seconds = time.monotonic() - started
    size = int(client.api.inspect_image(result.image_id).get("Size") or 0)
    image_layers = layers(client, result.image_id)
    wheel_layer = sum(layer["size"] for layer in image_layers
                      if layer["instruction"].endswith("in /tmp/wheels/"))
    return {"tag": tag, "image_id": result.image_id, "base": base, "size": size,
            "size_without_wheel_copy": size - wheel_layer, "wheel_copy_layer": wheel_layer,
            "build_seconds": round(seconds, 2), "layers": image_layers,
            "dockerfile": dockerfile}


def prove_it_works(client: docker.DockerClient, image: str,
                   model: ModelConfig) -> dict[str, Any]:
    """Run ``image`` with ``serve``; /ping, then the first sample, its answer checked.

    Returns ``{"works": bool, "sample": name, "problem": why not (or "")}``.
    """
    if not model.samples:
        return {"works": False, "sample": None,
                "problem": f"{model.config_file} has no [[samples]] to send"}
    sample = model.samples[0]
    try:
        with serving_container(client, image, model_dir=None, no_network=False,
                               deadline_s=READY_WITHIN_S) as running:
            answer = requests.post(f"{running.url}{p.INVOCATIONS}", data=sample.body.read_bytes(),
                                   headers={"Content-Type": sample.content_type,
                                            "Accept": sample.accept}, timeout=30)
    except (ContainerError, requests.RequestException) as exc:
        return {"works": False, "sample": sample.name, "problem": str(exc)}
    if answer.status_code != 200:
        return {"works": False, "sample": sample.name,
                "problem": f"POST /invocations answered {answer.status_code}: "
                           f"{answer.content[:200]!r}"}
    diffs = expected_diffs(answer.content, sample.expected, sample.accept)
    return {"works": not diffs, "sample": sample.name,
            "problem": "; ".join(diffs[:3]) if diffs else ""}
