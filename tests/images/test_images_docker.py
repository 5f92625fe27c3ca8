"""Building the tiny model's images on the engine: tags, labels, layers, checks, no network."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from images_helpers import Tracker

from sagepack.config import Settings
from sagepack.errors import BuildFailed, ImageCheckFailed, ImageError
from sagepack.images import build, ensure_base, image_tags
from sagepack.images.build_stream import SilentDisplay, run_build
from sagepack.images.checks import check_cuda_libraries, run_in_image
from sagepack.images.context import BuildContext
from sagepack.images.stages import cache_tag, dangling_sagepack_images

pytestmark = [pytest.mark.docker, pytest.mark.slow]

BASE = "sagepack/base:bookworm-python3.11"
FAKE_AWS_KEY = "AKIA" + "IOSFODNN7EXAMPLE"


def _quiet(_: str) -> None:
    return None


def _build(project: Settings, client: Any, tracker: Tracker, **kwargs: Any) -> Any:
    model = kwargs.pop("model", project.models["tiny"])
    variant = kwargs.pop("variant", "cpu")
    tracker.add(*image_tags(project, model, variant))
    result = build(project, model, variant, client=client, display=SilentDisplay(),
                   log=_quiet, **kwargs)
    tracker.add(result.image_id)
    tracker.add_stages(*result.stage_images, cache_tag(model.name, variant))
    return result


def _run(client: Any, image: str, script: str) -> tuple[int, str]:
    return run_in_image(client, image, ["/bin/sh", "-c", script])


def test_baked_image_tags_labels_layers_and_contents(project: Settings, docker_client: Any,
                                                     tracker: Tracker) -> None:
    result = _build(project, docker_client, tracker)
    head = subprocess.run(["git", "-C", str(project.project.root), "rev-parse", "HEAD"],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert result.tags == ("sagepack-test/tiny:0.1.0-cpu", f"sagepack-test/tiny:{head[:12]}-cpu")
    attrs = docker_client.api.inspect_image(result.image_id)
    assert set(attrs["RepoTags"]) == set(result.tags)
    assert (attrs["Os"], attrs["Architecture"]) == ("linux", "amd64")

    config = attrs["Config"]
    labels = config["Labels"]
    assert labels["com.amazonaws.sagemaker.capabilities.accept-bind-to-port"] == "true"
    assert labels["org.opencontainers.image.revision"] == head
    assert labels["org.opencontainers.image.version"] == "0.1.0"
    assert labels["org.opencontainers.image.source"] == "https://example.com/sagepack-test"
    assert labels["org.opencontainers.image.created"].endswith("Z")
    assert labels["sagepack.model"] == "tiny"
    assert labels["sagepack.variant"] == "cpu"
    manifest = json.loads((project.project.dist_for("tiny") / "manifest.json").read_text())
    assert labels["sagepack.archive.sha256"] == manifest["archive"]["sha256"]

    assert config["Entrypoint"] is None
    assert config["Cmd"] == ["serve"]
    assert "8080/tcp" in config["ExposedPorts"]
    assert "TINY_GREETING=hello" in config["Env"]
    assert not any(e.startswith("NVIDIA_") for e in config["Env"])

    # Layer order: dependencies, serving runtime, model code, model weights last.
    report = json.loads(result.report_path.read_text())
    assert result.report_path == project.project.dist_for("tiny") / "build-cpu.json"
    layers = [layer["instruction"] for layer in report["layers"]]
    order = [next(i for i, text in enumerate(layers) if needle in text) for needle in
             ("(imported base)", "in /opt/venv", "in /opt/sagepack/sagepack/",
              "in /usr/local/bin/serve")]
    model_layers = [i for i, text in enumerate(layers) if text.endswith("in /opt/ml/model/")]
    assert order == sorted(order)
    assert len(model_layers) == 2 and model_layers[0] > order[-1]
    assert model_layers[1] == len(layers) - 1
    steps = [s["instruction"] for s in report["step_log"]]
    code_step = steps.index("COPY model-code/ /opt/ml/model/")
    assert steps[code_step + 1] == "COPY model-weights/ /opt/ml/model/"
    assert report["size"] == result.size > 0
    assert {c["name"] for c in report["checks"]} == {
        "platform", "serve", "no-secrets", "no-secret-files", "model-loads", "max-image-size"}
    assert all(c["passed"] for c in report["checks"])
    # A baked image loads its own model: serve --check ran inside it.
    (loads,) = [c for c in report["checks"] if c["name"] == "model-loads"]
    assert loads["detail"].startswith("the model loads")

    status, output = _run(docker_client, result.image_id, """
        set -e
        test -f /opt/ml/model/code/inference.py
        test -f /opt/ml/model/weights.json
        test -x /usr/local/bin/serve
        test ! -e /build && test ! -e /opt/venv/bin/pip && test ! -e /root/.cache/pip
        ! command -v gcc
        test -z "$(find / -xdev -name '*.whl' -not -path '/usr/share/python-wheels/*')"
        ls /opt/sagepack/sagepack
        python -c 'import sagepack.serving, numpy, uvicorn; print("imports ok")'
    """)
    assert status == 0, output
    assert sorted(output.split()[:-2]) == ["__init__.py", "errors.py", "problems.py", "py.typed", "serving"]
    assert "imports ok" in output


def test_rebuild_hits_the_cache_and_dynamic_mode_has_no_model(project: Settings,
                                                              docker_client: Any,
                                                              tracker: Tracker) -> None:
    first = _build(project, docker_client, tracker)
    again = _build(project, docker_client, tracker)
    assert again.image_id == first.image_id
    assert again.cache_hits == again.cacheable_steps
    dynamic = _build(project, docker_client, tracker, artifact_mode="dynamic")
    labels = docker_client.api.inspect_image(dynamic.image_id)["Config"]["Labels"]
    assert "sagepack.archive.sha256" not in labels
    assert labels["sagepack.artifact-mode"] == "dynamic"
    status, output = _run(docker_client, dynamic.image_id, "ls -A /opt/ml/model")
    assert (status, output.strip()) == (0, "")


def test_a_build_leaves_no_dangling_image(project: Settings, docker_client: Any,
                                          tracker: Tracker) -> None:
    before = dangling_sagepack_images(docker_client)
    cache = cache_tag("tiny", "cpu")
    first = _build(project, docker_client, tracker, no_cache=True)
    # (an earlier test's builder stage, if any, is superseded: removed)
    assert {item.action for item in first.leftovers if item.what != "builder stage"} <= {
        "removed"}
    [kept] = [item for item in first.leftovers if item.what == "builder stage"]
    assert (kept.what, kept.action) == ("builder stage", "kept") and cache in kept.detail
    assert docker_client.images.get(cache).id == kept.image_id
    assert kept.size > 0
    report = json.loads(first.report_path.read_text())
    assert report["left_behind"] == [item.as_dict() for item in first.leftovers]
    assert dangling_sagepack_images(docker_client) == before

    # A build from scratch supersedes the image and the builder stage: both go.
    second = _build(project, docker_client, tracker, no_cache=True)
    assert second.image_id != first.image_id
    outcomes = {(item.what, item.action) for item in second.leftovers}
    assert outcomes == {("builder stage", "kept"), ("superseded builder stage", "removed"),
                        ("superseded image", "removed")}, second.leftovers
    assert {item.image_id for item in second.leftovers if item.action == "removed"} == {
        kept.image_id, first.image_id}
    assert dangling_sagepack_images(docker_client) == before

    # Without the cache, the builder stage goes too.
    third = _build(project, docker_client, tracker, keep_cache=False)
    assert third.image_id == second.image_id
    assert [(item.what, item.action) for item in third.leftovers] == [
        ("builder stage", "removed")]
    assert not docker_client.images.list(name=cache.rpartition(":")[0])
    assert dangling_sagepack_images(docker_client) == before


def test_secret_in_the_environment_fails_the_build_and_untags(project: Settings,
                                                              docker_client: Any,
                                                              tracker: Tracker) -> None:
    model = project.models["tiny"]
    variant = replace(model.variant("cpu"), env={"LEAKED": FAKE_AWS_KEY})
    tracker.add(*image_tags(project, model, variant))
    with pytest.raises(ImageCheckFailed) as info:
        build(project, model, variant, client=docker_client, display=SilentDisplay(),
              log=_quiet)
    assert info.value.check == "no-secrets"
    assert "LEAKED" in str(info.value)
    assert FAKE_AWS_KEY not in str(info.value)
    report = json.loads((project.project.dist_for("tiny") / "build-cpu.json").read_text())
    tracker.add(report["image_id"])
    tracker.add_stages(*report["stage_images"])
    assert not docker_client.images.list(name="sagepack-test/tiny")


def test_image_over_its_size_limit_fails_the_build(project: Settings, docker_client: Any,
                                                   tracker: Tracker) -> None:
    model = project.models["tiny"]
    variant = replace(model.variant("cpu"), max_image_size_mb=10)
    tracker.add(*image_tags(project, model, variant))
    with pytest.raises(ImageCheckFailed, match="max-image-size"):
        build(project, model, variant, client=docker_client, display=SilentDisplay(),
              log=_quiet)
    report = json.loads((project.project.dist_for("tiny") / "build-cpu.json").read_text())
    tracker.add(report["image_id"])
    tracker.add_stages(*report["stage_images"])


def _context(tmp_path: Path, dockerfile: str, files: dict[str, Path] | None = None) -> Path:
    ctx = BuildContext()
    ctx.add_bytes("Dockerfile", dockerfile.encode())
    for name, source in (files or {}).items():
        ctx.add_file(name, source)
    tar = tmp_path / "context.tar"
    ctx.write(tar)
    return tar


def test_build_steps_have_no_network(tmp_path: Path, docker_client: Any,
                                     tracker: Tracker) -> None:
    ensure_base(docker_client, BASE)
    dockerfile = (f"FROM {BASE}\n"
                  "RUN python3 -c \"import socket; "
                  "socket.create_connection(('1.1.1.1', 443), timeout=5)\"\n")
    tracker.add("sagepack-test/network:probe")
    with pytest.raises(BuildFailed) as info:
        run_build(docker_client, _context(tmp_path, dockerfile), tag="sagepack-test/network:probe")
    assert info.value.step is not None and info.value.step.startswith("RUN python3")
    assert "Network is unreachable" in "\n".join(info.value.log_tail)


def _fake_provider(tmp_path: Path) -> tuple[Path, Path]:
    """A provider library needing libcublasLt.so.13 and the driver's libcuda.so.1, and a
    stand-in libcublasLt.so.13."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is needed to make a fake CUDA provider library")
    src = tmp_path / "stub.c"
    src.write_text("int stub(void) { return 0; }\n")
    for soname in ("libcublasLt.so.13", "libcuda.so.1"):
        subprocess.run([gcc, "-shared", "-fPIC", "-o", str(tmp_path / soname),
                        f"-Wl,-soname,{soname}", str(src)], check=True)
    provider = tmp_path / "libonnxruntime_providers_cuda.so"
    subprocess.run([gcc, "-shared", "-fPIC", "-o", str(provider), str(src),
                    "-Wl,--no-as-needed", str(tmp_path / "libcublasLt.so.13"),
                    str(tmp_path / "libcuda.so.1")], check=True)
    return provider, tmp_path / "libcublasLt.so.13"


CUDA_DOCKERFILE = f"""FROM {BASE}
RUN python3 -m venv --without-pip /opt/venv \\
 && mkdir -p /opt/venv/lib/python3.11/site-packages/onnxruntime/capi \\
             /opt/venv/lib/python3.11/site-packages/nvidia/cu13/lib
ENV PATH=/opt/venv/bin:/usr/bin:/bin \\
    LD_LIBRARY_PATH=/opt/venv/lib/python3.11/site-packages/nvidia/cu13/lib
COPY libonnxruntime_providers_cuda.so /opt/venv/lib/python3.11/site-packages/onnxruntime/capi/
"""


def test_cuda_library_check_names_a_missing_library(tmp_path: Path, docker_client: Any,
                                                    tracker: Tracker) -> None:
    ensure_base(docker_client, BASE)
    provider, cublas = _fake_provider(tmp_path)
    files = {"libonnxruntime_providers_cuda.so": provider}
    tag = "sagepack-test/cuda-check:missing"
    tracker.add(tag)
    run_build(docker_client, _context(tmp_path, CUDA_DOCKERFILE, files), tag=tag)
    result = check_cuda_libraries(docker_client, tag)
    assert not result.passed
    assert "libcublasLt.so.13" in result.detail
    assert "libcuda.so.1" not in result.detail  # the driver's own library is injected

    complete = CUDA_DOCKERFILE + ("COPY libcublasLt.so.13 "
                                  "/opt/venv/lib/python3.11/site-packages/nvidia/cu13/lib/\n")
    tag = "sagepack-test/cuda-check:complete"
    tracker.add(tag)
    run_build(docker_client, _context(tmp_path, complete, {**files,
                                                           "libcublasLt.so.13": cublas}),
              tag=tag)
    assert check_cuda_libraries(docker_client, tag).passed


def test_base_images_are_reused_and_unknown_ones_are_clear_errors(docker_client: Any) -> None:
    first = ensure_base(docker_client, BASE)
    assert ensure_base(docker_client, BASE) == first
    with pytest.raises(ImageError, match="no recipe for base image sagepack/base:nope"):
        ensure_base(docker_client, "sagepack/base:nope")
    with pytest.raises(ImageError, match="cannot pull base image"):
        ensure_base(docker_client, "localhost:1/sagepack-test/absent:1")
