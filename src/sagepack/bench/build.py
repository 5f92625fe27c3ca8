"""``invoke bench --what build``: sagepack's image build against the naive recipe, same run.

Measured on a copy of the example model in baked mode (the model inside the image), CPU
variant, tagged ``sagepack-bench/<model>``:

1. a cold build (``no_cache``: every step runs; the base image and the wheelhouse are
   reused when present, and the time to make them is reported apart);
2. a rebuild after touching only ``code/inference.py``;
3. a rebuild after changing only the weights (the ONNX file's doc string);
4. the size of the image against the naive recipe of AWS's Marketplace seller guide: one
   stage, ``apt-get install python3-pip`` (with its Recommends: compilers and headers),
   ``pip install`` Flask and the model's dependencies system-wide, a Flask ``serve``, the
   model copied in.

The naive image is built offline too, on a second local base debootstrapped with
``python3-pip build-essential python3-dev`` (what ``apt-get install python3-pip`` brings
without ``--no-install-recommends``), cleaned like sagepack's base. Its dependencies come
from a wheelhouse of Flask plus the model's requirements (downloaded on the host with
their dependencies, no lock), copied in and installed with ``pip --no-index``. That copy is
a layer the networked recipe would not have, so the naive size is also reported without
it, and the goal is judged against that smaller figure.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError, ImageNotFound

from sagepack.config import ModelConfig, Settings
from sagepack.errors import ImageError, SagepackError
from sagepack.files import write_json
from sagepack.images.base import ensure_base
from sagepack.images.build import BuildResult, build
from sagepack.images.context import BuildContext
from sagepack.images.docker_client import docker_client
from sagepack.images.engine import SilentDisplay, run_build
from sagepack.images.environment import BuildEnvironment
from sagepack.images.report import layers
from sagepack.images.wheelhouse import PLATFORMS, PYTHON_VERSION
from sagepack.progress import say, table

GOALS = {"rebuild_seconds_max": 15.0, "size_ratio_max": 0.5}
BENCH_REPOSITORY = "sagepack-bench/{model}"
NAIVE_BASE = "sagepack/base:bookworm-python3.11-pip"
NAIVE_TAG = "sagepack-bench/naive:{model}"

NAIVE_DOCKERFILE = """\
# The naive recipe (AWS Marketplace seller guide): one stage, pip and Flask.
FROM {base}
ENV LC_ALL=C.UTF-8 LANG=C.UTF-8
COPY wheels/ /tmp/wheels/
RUN pip install --break-system-packages --no-index --find-links /tmp/wheels {packages}
RUN mkdir -p /opt/program
ENV PATH="/opt/program:${{PATH}}" PYTHONUNBUFFERED=TRUE
COPY serve /opt/program/serve
COPY model /opt/ml/model
WORKDIR /opt/program
"""

NAIVE_SERVE = '''\
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


def _bench_copy(settings: Settings, model: ModelConfig, work: Path) -> tuple[Settings,
                                                                            ModelConfig]:
    """The model copied under ``work``, baked, tagged under sagepack-bench."""
    root = work / model.name
    shutil.copytree(model.root, root, ignore=shutil.ignore_patterns("__pycache__"))
    copy = replace(model, root=root, config_file=root / model.config_file.name,
                   artifact_mode="baked")
    project = replace(settings.project, ecr_repository=BENCH_REPOSITORY,
                      dist_dir=work / "dist")
    return replace(settings, project=project, models={model.name: copy}), copy


def _touch_code(model: ModelConfig) -> None:
    handler = model.root / model.handler
    with handler.open("a", encoding="utf-8") as fh:
        fh.write(f"# touched by the build benchmark at {time.time():.6f}\n")


def _change_weights(model: ModelConfig) -> Path:
    """Change the ONNX file's doc string: new weights bytes, same behaviour."""
    try:
        import onnx
    except ImportError as exc:
        raise SagepackError(f"the build benchmark needs onnx (dev extra): {exc}") from exc
    files = sorted(model.root.glob("*.onnx"))
    if not files:
        raise SagepackError(f"no .onnx weights in {model.root} to change")
    proto = onnx.load(str(files[0]))
    proto.doc_string = f"changed by the build benchmark at {time.time():.6f}"
    onnx.save(proto, str(files[0]))
    return files[0]


def _naive_wheelhouse(requirements: list[str], cache_dir: Path) -> Path:
    """Flask + the model's requirements with their dependencies, for the image platform."""
    key = hashlib.sha256("\n".join(sorted(requirements)).encode()).hexdigest()[:16]
    folder = cache_dir / f"naive-{key}"
    if folder.is_dir() and any(folder.glob("*.whl")):
        return folder
    staging = Path(tempfile.mkdtemp(prefix=".naive-", dir=cache_dir))
    argv = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check",
            "--only-binary=:all:", "--python-version", PYTHON_VERSION,
            "--implementation", "cp", "--abi", "cp311",
            *(arg for plat in PLATFORMS for arg in ("--platform", plat)),
            "-d", str(staging), *requirements]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise ImageError(f"downloading the naive recipe's wheels failed:\n"
                         f"{(proc.stderr or proc.stdout)[-2000:]}")
    staging.rename(folder)
    return folder


def _model_requirements(model: ModelConfig) -> list[str]:
    lines = model.variant("cpu").requirements_in.read_text(encoding="utf-8").splitlines()
    return [s for line in lines if (s := line.split("#", 1)[0].strip())
            and not s.startswith("-")]


def _build_naive(client: docker.DockerClient, model: ModelConfig, wheels: Path,
                 packages: list[str], work: Path) -> dict[str, Any]:
    ctx = BuildContext()
    dockerfile = NAIVE_DOCKERFILE.format(base=NAIVE_BASE, packages=" ".join(packages))
    ctx.add_bytes("Dockerfile", dockerfile.encode())
    ctx.add_dir("wheels")
    for wheel in sorted(wheels.glob("*.whl")):
        ctx.add_file(f"wheels/{wheel.name}", wheel, 0o644)
    ctx.add_bytes("serve", NAIVE_SERVE.encode(), 0o755)
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
    return {"tag": tag, "image_id": result.image_id, "size": size,
            "size_without_wheel_copy": size - wheel_layer, "wheel_copy_layer": wheel_layer,
            "build_seconds": round(seconds, 2), "layers": image_layers,
            "dockerfile": dockerfile}


def _summary(result: BuildResult) -> dict[str, Any]:
    return {"seconds": round(result.seconds, 2), "image_id": result.image_id,
            "size": result.size, "cache_hits": result.cache_hits,
            "cacheable_steps": result.cacheable_steps, "tags": list(result.tags)}


def _cleanup(client: docker.DockerClient, refs: list[str]) -> None:
    for ref in refs:
        try:
            client.images.remove(ref, force=True)
        except ImageNotFound:
            continue
        except APIError as exc:
            if exc.status_code != 409:  # still a parent of someone's image: leave it
                raise


def bench_build(settings: Settings, out: Path, *, model_name: str = "iris",
                keep_images: bool = False) -> dict[str, Any]:
    """Cold build, code-only and weights-only rebuilds, size against the naive recipe;
    print a table and write ``out`` (JSON, through a temporary name)."""
    client = docker_client()
    env = BuildEnvironment.from_project(settings.project)
    model = settings.select(model_name)[0]
    created: list[str] = []
    stages: list[str] = []
    bases: dict[str, float] = {}
    for base in (model.variant("cpu").base_image, NAIVE_BASE):
        started = time.monotonic()
        ensure_base(client, base, mirror=env.debian_mirror, log=say)
        bases[base] = round(time.monotonic() - started, 2)
    with tempfile.TemporaryDirectory(prefix="sagepack-bench-build-") as tmp:
        work = Path(tmp)
        bench_settings, copy = _bench_copy(settings, model, work)
        try:
            say("cold build (no cache)")
            cold = build(bench_settings, copy, "cpu", no_cache=True, client=client, env=env)
            created += [*cold.tags, cold.image_id]
            stages = list(cold.stage_images)
            say("rebuild after touching only the handler code")
            _touch_code(copy)
            code = build(bench_settings, copy, "cpu", client=client, env=env)
            created.append(code.image_id)
            say("rebuild after changing only the weights")
            _change_weights(copy)
            weights = build(bench_settings, copy, "cpu", client=client, env=env)
            created.append(weights.image_id)
            say("naive recipe (single stage, pip and Flask)")
            packages = ["flask", *_model_requirements(copy)]
            wheels = _naive_wheelhouse(packages, env.wheelhouse_dir)
            naive = _build_naive(client, copy, wheels, packages, work)
            created.append(naive["image_id"])
        finally:
            if not keep_images:
                _cleanup(client, [*created, *stages])
    ratio = weights.size / naive["size_without_wheel_copy"]
    report: dict[str, Any] = {
        "model": model.name,
        "variant": "cpu",
        "artifact_mode": "baked",
        "base_images_seconds": bases,
        "cold": _summary(cold),
        "code_only_rebuild": _summary(code),
        "weights_only_rebuild": _summary(weights),
        "naive": naive,
        "size_ratio": round(ratio, 3),
        "goals": GOALS,
        "goals_met": {
            "code_rebuild_under_15s": code.seconds < GOALS["rebuild_seconds_max"],
            "weights_rebuild_under_15s": weights.seconds < GOALS["rebuild_seconds_max"],
            "size_at_most_half_of_naive": ratio <= GOALS["size_ratio_max"],
        },
    }
    write_json(out, report)
    mb = 1e6
    table(f"build benchmark: {model.name} cpu, baked", ("measure", "value", "goal"), [
        ("cold build (no cache)", f"{cold.seconds:.1f} s", ""),
        ("rebuild, code only", f"{code.seconds:.1f} s "
                               f"({code.cache_hits}/{code.cacheable_steps} cached)", "< 15 s"),
        ("rebuild, weights only", f"{weights.seconds:.1f} s "
                                  f"({weights.cache_hits}/{weights.cacheable_steps} cached)",
         "< 15 s"),
        ("sagepack image", f"{weights.size / mb:.0f} MB", ""),
        ("naive image", f"{naive['size'] / mb:.0f} MB "
                        f"({naive['size_without_wheel_copy'] / mb:.0f} MB without the wheel "
                        "copy)", ""),
        ("size ratio", f"{ratio:.2f}", "<= 0.50"),
    ])
    say(f"report: {out}")
    return report
