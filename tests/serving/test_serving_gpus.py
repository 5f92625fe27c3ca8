"""One worker per GPU, through the real ``serve`` on simulated GPUs: the worker count, the
``gpu_id`` each worker's handler sees, and no framework imported by the supervisor."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from serving_helpers import write_model
from serving_processes import REPO, Server, start, stop

from sagepack.serving import devices
from sagepack.serving.settings import Settings, cpu_count

# model_fn notes the gpu_id it was given; predict_fn reports the request's context and the
# frameworks that were imported before the handler (inherited from the supervisor).
REPORTER = """
import json
import os
import sys
from pathlib import Path

INHERITED = sorted(name for name in ("torch", "tensorflow", "onnxruntime", "cupy", "jax")
                   if name in sys.modules)

def model_fn(model_dir, context):
    gpu_id = context.system_properties["gpu_id"]
    marks = Path(os.environ["SLEEPER_MARKS"]).parent / "loaded"
    marks.mkdir(exist_ok=True)
    (marks / str(os.getpid())).write_text(json.dumps({"gpu_id": gpu_id, "inherited": INHERITED}))
    return gpu_id

def predict_fn(data, load_gpu_id, context):
    return {"pid": os.getpid(), "gpu_id": context.system_properties["gpu_id"],
            "load_gpu_id": load_gpu_id, "inherited": INHERITED}
"""


def fake_driver(root: Path, gpus: int) -> Path:
    """A ``/proc/driver/nvidia/gpus`` with one folder per GPU, as the driver lays it out."""
    folder = root / "nvidia-gpus"
    folder.mkdir()
    for index in range(gpus):
        entry = folder / f"0000:00:{0x1b + index:02x}.0"
        entry.mkdir()
        (entry / "information").write_text(f"Model: Fake GPU\nDevice Minor: {index}\n")
    return folder


def loaded(server: Server) -> dict[int, dict[str, object]]:
    folder = server.marks.parent / "loaded"
    return {int(mark.name): json.loads(mark.read_text()) for mark in folder.iterdir()}


def gpu_server(tmp_path: Path, workers: int | None = None, **env: str) -> Server:
    server = start(tmp_path, write_model(tmp_path / "model", REPORTER), workers=workers,
                   SAGEPACK_ACCESS_LOG="false", **env)
    server.wait_ready()
    return server


@pytest.mark.slow
def test_one_worker_per_simulated_gpu_each_with_its_gpu_id(tmp_path: Path) -> None:
    server = gpu_server(tmp_path, NVIDIA_VISIBLE_DEVICES="all",
                        SAGEPACK_NVIDIA_PROC_DIR=str(fake_driver(tmp_path, 3)))
    try:
        workers = loaded(server)
        assert len(workers) == 3, f"{len(workers)} workers for 3 GPUs:\n{server.log.read_text()}"
        assert sorted(w["gpu_id"] for w in workers.values()) == [0, 1, 2]  # type: ignore[type-var]
        log = server.log.read_text()
        assert "GPU placement: 3 visible GPU(s)" in log
        assert "frameworks imported by the supervisor: none" in log
        assert all(w["inherited"] == [] for w in workers.values()), workers
        # Each request's context carries the gpu_id its worker loaded with.
        for _ in range(6):
            status, body, _ = server.call("POST", "/invocations", b"[1]",
                                          {"Content-Type": "application/json"})
            answer = json.loads(body)
            assert status == 200 and answer["gpu_id"] == answer["load_gpu_id"]
            assert answer["gpu_id"] == workers[answer["pid"]]["gpu_id"]
            assert answer["inherited"] == []
    finally:
        stop(server)


@pytest.mark.slow
def test_the_worker_count_still_overrides_and_gpus_are_shared_round_robin(
        tmp_path: Path) -> None:
    server = gpu_server(tmp_path, workers=5, NVIDIA_VISIBLE_DEVICES="all",
                        SAGEPACK_NVIDIA_PROC_DIR=str(fake_driver(tmp_path, 2)))
    try:
        workers = loaded(server)
        assert Counter(w["gpu_id"] for w in workers.values()) == {0: 3, 1: 2}
    finally:
        stop(server)


@pytest.mark.slow
def test_a_list_of_visible_devices_sets_the_count(tmp_path: Path) -> None:
    empty = tmp_path / "no-driver-files"
    empty.mkdir()
    server = gpu_server(tmp_path, NVIDIA_VISIBLE_DEVICES="0,1",
                        SAGEPACK_NVIDIA_PROC_DIR=str(empty))
    try:
        assert sorted(w["gpu_id"] for w in loaded(server).values()) == [0, 1]  # type: ignore[type-var]
    finally:
        stop(server)


@pytest.mark.slow
def test_a_cpu_image_ignores_gpus(tmp_path: Path) -> None:
    server = gpu_server(tmp_path, SAGEPACK_GPU="false", NVIDIA_VISIBLE_DEVICES="all",
                        SAGEPACK_NVIDIA_PROC_DIR=str(fake_driver(tmp_path, 3)))
    try:
        workers = loaded(server)
        assert len(workers) == cpu_count()
        assert all(w["gpu_id"] is None for w in workers.values())
        assert "GPU placement" not in server.log.read_text()
    finally:
        stop(server)


def test_counting_gpus_imports_no_framework(tmp_path: Path) -> None:
    """Settings (which counts the GPUs) and the server module, in a fresh interpreter."""
    script = (
        "import sys, json\n"
        "from sagepack.serving.settings import Settings\n"
        "import sagepack.serving.server\n"
        f"s = Settings.from_environ({{'NVIDIA_VISIBLE_DEVICES': 'all', "
        f"'SAGEPACK_NVIDIA_PROC_DIR': {str(fake_driver(tmp_path, 4))!r}}})\n"
        "print(json.dumps([s.workers, [m for m in "
        f"{list(devices.FRAMEWORKS)!r} if m in sys.modules]]))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={"PYTHONPATH": str(REPO / "src")}, check=True)
    assert json.loads(done.stdout) == [4, []]


def test_the_counting_rules(tmp_path: Path) -> None:
    proc = fake_driver(tmp_path, 4)
    nodes = tmp_path / "dev"
    nodes.mkdir()
    for name in ("nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm", "nvidia-modeset"):
        (nodes / name).write_text("")
    none = tmp_path / "none"
    assert devices.visible_gpus({}, proc).count == 4
    assert devices.visible_gpus({"NVIDIA_VISIBLE_DEVICES": "all"}, none, nodes).count == 2
    assert devices.visible_gpus({"NVIDIA_VISIBLE_DEVICES": "void"}, proc).count == 0
    assert devices.visible_gpus({"NVIDIA_VISIBLE_DEVICES": "none"}, proc).count == 0
    assert devices.visible_gpus({"NVIDIA_VISIBLE_DEVICES": "GPU-a1,GPU-b2"}, proc).count == 2
    assert devices.visible_gpus({"NVIDIA_VISIBLE_DEVICES": "0,1,2,3,4,5"}, proc).count == 4
    assert devices.visible_gpus({"CUDA_VISIBLE_DEVICES": "1,2"}, proc).count == 2
    assert devices.visible_gpus({"CUDA_VISIBLE_DEVICES": "0,-1,2"}, proc).count == 1
    assert devices.visible_gpus({"CUDA_VISIBLE_DEVICES": ""}, proc).count == 0
    assert devices.visible_gpus({}, none, tmp_path / "nodev").count == 0
    gpu = Settings.from_environ({"NVIDIA_VISIBLE_DEVICES": "all",
                                 "SAGEPACK_NVIDIA_PROC_DIR": str(proc)})
    assert (gpu.gpu, gpu.workers, [gpu.gpu_id(slot) for slot in range(6)]) == \
        (True, 4, [0, 1, 2, 3, 0, 1])
    forced = Settings.from_environ({"SAGEPACK_GPU": "true", "SAGEPACK_NVIDIA_PROC_DIR": str(none)})
    assert forced.gpu and forced.gpus == 0 and forced.workers == cpu_count()
    assert forced.gpu_id(0) is None
    assert not Settings.from_environ({}).gpu
