"""The CUDA runtime a lock pins or an image ships, against its variant's target."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from sagepack.config import Settings
from sagepack.cuda import DEFAULT_TARGET, INFERENCE_AMIS, TRANSFORM_AMIS, CudaTarget, parse_target
from sagepack.errors import CudaTargetError
from sagepack.images.cuda import (
    CHECK_NAME,
    RUNTIME_LABEL,
    CudaRuntime,
    ImageCuda,
    check_cuda_runtime,
    check_lock,
    cuda_labels,
    cuda_major_of,
    cuda_wheels,
    image_problems,
    read_image_cuda,
    refuse_mixed_majors,
)
from sagepack.images.lock import lock, read_lock

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_LOCK = ROOT / "artifacts/iris/requirements/cuda.txt"

# What `onnxruntime-gpu[cuda,cudnn]` locked to before the example targeted CUDA 12.
CUDA13_PINS = [
    ("numpy", "2.4.6"), ("nvidia-cublas", "13.10.0.20"), ("nvidia-cuda-nvrtc", "13.5.37"),
    ("nvidia-cuda-runtime", "13.5.37"), ("nvidia-cudnn-cu13", "9.28.1.4"),
    ("nvidia-cufft", "12.5.0.14"), ("nvidia-curand", "10.4.5.25"),
    ("nvidia-nvjitlink", "13.5.37"), ("onnxruntime-gpu", "1.31.1"),
]
CUDA12_PINS = [
    ("numpy", "2.4.6"), ("nvidia-cublas-cu12", "12.9.3.13"),
    ("nvidia-cuda-nvrtc-cu12", "12.9.86"), ("nvidia-cuda-runtime-cu12", "12.9.79"),
    ("nvidia-cudnn-cu12", "9.28.0.42"), ("nvidia-cufft-cu12", "11.4.1.4"),
    ("onnxruntime-gpu", "1.26.0"),
]
ISSUE_SENTENCE = ("CUDA 13.5 runtime needs driver >= 580; al2-ami-sagemaker-inference-gpu-3-1 "
                  "has 550: target CUDA 12, or choose an AMI with a newer driver")


def _write_lock(path: Path, pins: list[tuple[str, str]]) -> Path:
    lines = [f"{name}=={version} \\\n    --hash=sha256:{'0' * 63}{i % 10}\n"
             for i, (name, version) in enumerate(pins)]
    path.write_text("# locked by invoke lock\n" + "".join(lines), encoding="utf-8")
    return path


def _check(path: Path, target: CudaTarget) -> CudaRuntime:
    """What the lock and build hooks run: the lock's pins against the variant's target."""
    return check_lock(((r.name, r.version) for r in read_lock(path)), target, str(path))


def _target(**values: object) -> CudaTarget:
    target = parse_target(values, gpu=True)
    assert isinstance(target, CudaTarget), target
    return target


@pytest.mark.parametrize(("name", "version", "major"), [
    ("nvidia-cuda-runtime-cu12", "12.9.79", 12),
    ("nvidia_cudnn_cu13", "9.28.1.4", 13),
    ("nvidia-cudnn-cu11", "9.1.0.70", 11),
    ("nvidia-cuda-runtime", "13.5.37", 13),
    ("nvidia-cublas", "13.10.0.20", 13),
    ("nvidia-nvjitlink", "13.5.37", 13),
    ("nvidia-dali-cuda120", "1.40.0", 12),
    ("torch", "2.9.1+cu128", 12),
    ("torch", "2.2.0+cu118", 11),
    ("nvidia-cufft", "12.5.0.14", None),  # cuFFT 12 ships with CUDA 13: its version says nothing
    ("nvidia-ml-py", "12.560.30", None),
    ("numpy", "2.4.6", None),
    ("torch", "2.9.1", None),
])
def test_the_cuda_major_of_a_requirement(name: str, version: str, major: int | None) -> None:
    assert cuda_major_of(name, version) == major


def test_the_runtime_is_read_from_nvidia_cuda_runtime() -> None:
    wheels = cuda_wheels(CUDA12_PINS)
    assert wheels.runtime is not None
    assert str(wheels.runtime.version) == "12.9.79" and wheels.runtime.label == "12.9"
    assert wheels.runtime.source == "nvidia-cuda-runtime-cu12==12.9.79"
    assert set(wheels.majors) == {12} and wheels.mixed() is None
    assert cuda_wheels(CUDA13_PINS).runtime.label == "13.5"  # type: ignore[union-attr]
    assert cuda_wheels([("numpy", "2.4.6")]).runtime is None


def test_a_lock_mixing_cuda_majors_is_refused_naming_the_packages() -> None:
    wheels = cuda_wheels([*CUDA12_PINS, ("nvidia-cudnn-cu13", "9.28.1.4")])
    with pytest.raises(CudaTargetError) as caught:
        refuse_mixed_majors(wheels, "cuda.txt")
    message = str(caught.value)
    assert message.startswith("cuda.txt: mixes CUDA majors (CUDA 12: ")
    assert "nvidia-cuda-runtime-cu12==12.9.79" in message
    assert "CUDA 13: nvidia-cudnn-cu13==9.28.1.4" in message
    refuse_mixed_majors(cuda_wheels(CUDA12_PINS), "cuda.txt")


def test_the_example_lock_ships_cuda_12_that_the_default_amis_run() -> None:
    runtime = _check(EXAMPLE_LOCK, DEFAULT_TARGET)
    assert runtime.major == 12
    assert runtime.needs.branch == 525
    assert all(runtime.needs.branch <= ami.driver for ami in DEFAULT_TARGET.amis)
    assert runtime.needs.branch <= _target(
        inference_ami="al2-ami-sagemaker-inference-gpu-3-1").inference_ami.driver


def test_a_cuda_12_variant_whose_requirements_pull_cuda_13_is_refused_at_lock(
        tmp_path: Path) -> None:
    lock = _write_lock(tmp_path / "cuda.txt", CUDA13_PINS)
    target = _target(cuda="12", inference_ami="al2-ami-sagemaker-inference-gpu-3-1")
    with pytest.raises(CudaTargetError) as caught:
        _check(lock, target)
    problems = caught.value.problems
    assert problems[0].startswith("the variant targets CUDA 12 but "
                                  "nvidia-cuda-runtime==13.5.37 is CUDA 13.5")
    assert problems[1].startswith(ISSUE_SENTENCE)
    assert "al2-ami-sagemaker-batch-gpu-535 has 535" in problems[2]
    assert str(caught.value).startswith(f"{lock}: ")


def test_a_declared_minor_must_be_the_runtime_minor(tmp_path: Path) -> None:
    lock = _write_lock(tmp_path / "cuda.txt", CUDA12_PINS)
    with pytest.raises(CudaTargetError, match=r"targets CUDA 12\.4 but .* is CUDA 12\.9"):
        _check(lock, _target(cuda="12.4"))
    assert _check(lock, _target(cuda="12.9")).label == "12.9"


def test_a_gpu_lock_without_a_cuda_runtime_is_refused(tmp_path: Path) -> None:
    lock = _write_lock(tmp_path / "cuda.txt", [("onnxruntime-gpu", "1.26.0")])
    with pytest.raises(CudaTargetError, match="no CUDA runtime"):
        _check(lock, DEFAULT_TARGET)


XGBOOST_CUDA_PINS = [("numpy", "2.4.6"), ("nvidia-nccl-cu12", "2.32.3"), ("scipy", "1.17.1"),
                     ("xgboost", "3.2.0")]


def test_a_framework_that_links_the_runtime_in_is_known_by_its_major(tmp_path: Path) -> None:
    """XGBoost's CUDA wheel links the CUDA runtime into libxgboost.so and pulls only NCCL:
    its runtime is CUDA 12, the major of nvidia-nccl-cu12, which driver 525.60.13 runs."""
    runtime = _check(_write_lock(tmp_path / "cuda.txt", XGBOOST_CUDA_PINS), DEFAULT_TARGET)
    assert runtime.label == "12" and runtime.needs.minimum == "525.60.13"
    assert runtime.source == "xgboost==3.2.0, linked in, with nvidia-nccl-cu12==2.32.3"
    assert cuda_labels(runtime, DEFAULT_TARGET)[RUNTIME_LABEL] == "12"
    with pytest.raises(CudaTargetError, match=r"targets CUDA 13 but xgboost==3\.2\.0, linked in, "
                                              r".* is CUDA 12"):
        _check(tmp_path / "cuda.txt", CudaTarget(
            "13", INFERENCE_AMIS["al2023-ami-sagemaker-inference-gpu-4-1"],
            DEFAULT_TARGET.transform_ami))


def test_the_linked_runtime_needs_the_framework_and_one_major() -> None:
    nccl_only = cuda_wheels([("nvidia-nccl-cu12", "2.32.3"), ("xgboost-cpu", "3.2.0")])
    assert nccl_only.runtime is None  # xgboost-cpu has no CUDA: nothing links a runtime in
    mixed = cuda_wheels([*XGBOOST_CUDA_PINS, ("nvidia-cudnn-cu13", "9.28.1.4")])
    assert mixed.runtime is None and mixed.mixed() is not None
    wheel = cuda_wheels([*XGBOOST_CUDA_PINS, ("nvidia-cuda-runtime-cu12", "12.9.79")])
    assert wheel.runtime is not None and wheel.runtime.source == "nvidia-cuda-runtime-cu12==12.9.79"


def test_the_xgboost_example_lock_is_cuda_12_on_the_default_amis() -> None:
    runtime = _check(ROOT / "artifacts/xgboost-cancer/requirements/cuda.txt", DEFAULT_TARGET)
    assert runtime.major == 12 and runtime.source.startswith("xgboost==")
    torch = _check(ROOT / "artifacts/torch-mlp/requirements/cuda.txt", DEFAULT_TARGET)
    assert torch.major == 12 and torch.source.startswith("nvidia-cuda-runtime-cu12==12.8.")


def test_labels_carry_the_runtime_min_driver_and_targets() -> None:
    runtime = cuda_wheels(CUDA12_PINS).runtime
    assert runtime is not None
    assert cuda_labels(runtime, DEFAULT_TARGET) == {
        "sagepack.cuda.runtime": "12.9.79",
        "sagepack.cuda.min-driver": "525.60.13",
        "sagepack.cuda.target": "12",
        "sagepack.cuda.inference-ami": "al2-ami-sagemaker-inference-gpu-2",
        "sagepack.cuda.transform-ami": "al2-ami-sagemaker-batch-gpu-535",
    }


def test_image_problems_from_what_an_image_holds() -> None:
    cuda12 = ImageCuda(cuda_wheels(CUDA12_PINS), ("libcudart.so.12",))
    assert image_problems(cuda12, DEFAULT_TARGET, {RUNTIME_LABEL: "12.9.79"}) == []
    wrong_label = image_problems(cuda12, DEFAULT_TARGET, {RUNTIME_LABEL: "13.5.37"})
    assert wrong_label == [f"label {RUNTIME_LABEL} says 13.5.37 but the image ships 12.9.79"]
    stray = image_problems(ImageCuda(cuda_wheels(CUDA12_PINS),
                                     ("libcudart.so.12", "libcudart.so.13")), DEFAULT_TARGET, {})
    assert stray == ["nvidia-cuda-runtime-cu12==12.9.79 is CUDA 12 but the image also holds "
                     "libcudart.so.13"]
    from_library = ImageCuda(cuda_wheels([]), ("libcudart.so.13",))
    found = image_problems(from_library, DEFAULT_TARGET, {})
    assert found[0] == ("the variant targets CUDA 12 but libcudart.so.13 is CUDA 13: require "
                        "the framework release built for CUDA 12 in the variant's .in, or "
                        "change its cuda")
    assert image_problems(ImageCuda(cuda_wheels([]), ()), DEFAULT_TARGET, {})[0].startswith(
        "no CUDA runtime in the image")


# --- on the engine -----------------------------------------------------------------------


@pytest.mark.docker
@pytest.mark.slow
def test_the_example_cuda_image_ships_cuda_12_and_passes(
        example_image: Callable[[str], str]) -> None:
    from sagepack.images import docker_client

    image = example_image("cuda")
    client = docker_client()
    try:
        found = read_image_cuda(client, image)
        assert found.runtime is not None and found.runtime.major == 12
        assert found.libcudart == ("libcudart.so.12",)
        assert found.runtime.version == _check(EXAMPLE_LOCK, DEFAULT_TARGET).version
        result = check_cuda_runtime(client, image, DEFAULT_TARGET)
        assert result.name == CHECK_NAME and result.passed, result.detail
        assert "needs driver >= 525.60.13" in result.detail
        # Targets parse_target refuses up front, built directly to see the image check refuse.
        on_470 = CudaTarget("12", DEFAULT_TARGET.inference_ami,
                            TRANSFORM_AMIS["al2-ami-sagemaker-batch-gpu-470"])
        refused = check_cuda_runtime(client, image, on_470)
        assert not refused.passed
        assert ("CUDA 12.9 runtime needs driver >= 525.60.13; al2-ami-sagemaker-batch-gpu-470 "
                "has 470: target CUDA 11, or choose an AMI with a newer driver") in refused.detail
        declared_13 = CudaTarget("13", INFERENCE_AMIS["al2023-ami-sagemaker-inference-gpu-4-1"],
                                 DEFAULT_TARGET.transform_ami)
        refused = check_cuda_runtime(client, image, declared_13)
        assert not refused.passed
        assert "the variant targets CUDA 13 but nvidia-cuda-runtime-cu12" in refused.detail
    finally:
        client.close()



# --- with the real resolver --------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(("framework", "refused"), [
    ("onnxruntime-gpu[cuda,cudnn]==1.31.1", True),
    ("onnxruntime-gpu[cuda,cudnn]==1.26.*", False),
])
def test_what_the_resolver_locks_for_a_cuda_12_variant(project: Settings, framework: str,
                                                       refused: bool) -> None:
    """A variant declaring CUDA 12 whose requirements pull CUDA 13 wheels is refused with
    the sentence a user acts on; the example's pin gets CUDA 12 and passes."""
    model = project.models["tiny"]
    folder = project.project.root / "artifacts/tiny/requirements"
    (folder / "cuda.in").write_text(f"{framework}\n", encoding="utf-8")
    target = _target(cuda="12", inference_ami="al2-ami-sagemaker-inference-gpu-3-1")
    variant = replace(model.variant("cpu"), name="cuda", gpu=True, cuda=target,
                      requirements_in=folder / "cuda.in", requirements=folder / "cuda.txt")
    previous = "# the lock before this run\n"
    (folder / "cuda.txt").write_text(previous, encoding="utf-8")
    if not refused:
        path = lock(model, variant, upgrade=True)
        assert _check(path, target).major == 12
        return
    with pytest.raises(CudaTargetError) as caught:
        lock(model, variant, upgrade=True)
    # The runtime's minor is whatever 13.x the index serves today (13.5 on 2026-12-02).
    sentence = re.compile(r"CUDA 13\.\d+ runtime needs driver >= 580; "
                          r"al2-ami-sagemaker-inference-gpu-3-1 has 550: target CUDA 12, "
                          r"or choose an AMI with a newer driver")
    assert any(sentence.match(p) for p in caught.value.problems), caught.value
    # A refused lock leaves the previous one in place.
    assert (folder / "cuda.txt").read_text(encoding="utf-8") == previous
