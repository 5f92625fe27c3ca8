"""The image checks' verdicts, without Docker: preflight, Compose, device, summary line."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sagepack.checks import FAILED, PASSED, SKIPPED, CheckResult
from sagepack.config import ModelConfig, load
from sagepack.containers.gpu import GpuHost, gpu_host
from sagepack.errors import ConfigError, ContainerError
from sagepack.smoke.compose import compose_command
from sagepack.smoke.device import CPU, CUDA, judge
from sagepack.smoke.preflight import check_config
from sagepack.smoke.report import SmokeReport

ROOT = Path(__file__).resolve().parents[2]
NO_GPU = GpuHost(devices=(), nvidia_smi=False, passthrough=False)
GPU = GpuHost(devices=("/dev/nvidia0",), nvidia_smi=True, passthrough=True)
GPU_NO_RUNTIME = GpuHost(devices=("/dev/nvidia0",), nvidia_smi=True, passthrough=False)


@pytest.fixture(scope="module")
def iris() -> ModelConfig:
    return load(ROOT).models["iris"]


# --- configuration before any container ------------------------------------------------


def test_no_samples_is_one_config_error_naming_the_file(iris: ModelConfig) -> None:
    with pytest.raises(ConfigError) as info:
        check_config(replace(iris, samples=()))
    assert len(info.value.problems) == 1
    problem = info.value.problems[0]
    assert (problem.file, problem.key) == (iris.config_file, "samples")
    assert "no [[samples]] is configured" in str(info.value)


def test_missing_sample_body_names_the_field(iris: ModelConfig, tmp_path: Path) -> None:
    gone = tmp_path / "gone.json"
    samples = (replace(iris.samples[0], body=gone), *iris.samples[1:])
    with pytest.raises(ConfigError) as info:
        check_config(replace(iris, samples=samples))
    [problem] = info.value.problems
    assert problem.key == "samples[0].body"
    assert str(gone) in problem.message and "does not exist" in problem.message


def test_the_example_model_is_ready_for_the_checks(iris: ModelConfig) -> None:
    check_config(iris)


def test_image_tests_refuse_bad_config_before_any_container(iris: ModelConfig,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    from sagepack.smoke import run_all, run_image_tests

    docker_client = importlib.import_module("sagepack.images.docker_client")

    def no_engine() -> Any:
        raise AssertionError("the engine was contacted")

    monkeypatch.setattr(docker_client, "docker_client", no_engine)
    with pytest.raises(ConfigError, match="samples"):
        run_image_tests(load(ROOT), replace(iris, samples=()), iris.variant("cpu"),
                        no_network=True)
    # Every selected model is checked before the first one's containers start.
    settings = load(ROOT)
    broken = replace(iris, name="zz-broken", samples=())
    settings = replace(settings, models={**settings.models, broken.name: broken})
    with pytest.raises(ConfigError, match="samples"):
        run_all(settings, None, None, no_network=True)


# --- Compose v2 or 1.x ----------------------------------------------------------------


def _finder(present: dict[str, str], working: set[str]) -> tuple[Any, Any]:
    def which(name: str) -> str | None:
        return present.get(name)

    def works(argv: Sequence[str]) -> bool:
        return " ".join(argv) in working

    return which, works


@pytest.mark.parametrize(("present", "working", "expected"), [
    ({"docker": "/usr/bin/docker", "docker-compose": "/usr/bin/docker-compose"},
     {"/usr/bin/docker compose version", "/usr/bin/docker-compose version"},
     ("/usr/bin/docker", "compose")),
    ({"docker": "/usr/bin/docker"}, {"/usr/bin/docker compose version"},
     ("/usr/bin/docker", "compose")),
    ({"docker": "/usr/bin/docker", "docker-compose": "/usr/bin/docker-compose"},
     {"/usr/bin/docker-compose version"}, ("/usr/bin/docker-compose",)),
    ({"docker-compose": "/usr/local/bin/docker-compose"},
     {"/usr/local/bin/docker-compose version"}, ("/usr/local/bin/docker-compose",)),
], ids=["both: v2 first", "only the v2 plugin", "docker without the plugin, and 1.29",
        "only 1.29"])
def test_compose_command_picks_what_is_present(present: dict[str, str], working: set[str],
                                               expected: tuple[str, ...]) -> None:
    which, works = _finder(present, working)
    assert compose_command(which, works) == expected


def test_no_compose_is_a_clear_error() -> None:
    which, works = _finder({"docker": "/usr/bin/docker"}, set())
    with pytest.raises(ContainerError, match=r"neither `docker compose`.*nor `docker-compose`"):
        compose_command(which, works)


def test_this_host_has_a_compose() -> None:
    argv = compose_command()
    assert argv[-1] in ("compose", "docker-compose") or argv[0].endswith("docker-compose")


# --- GPU host and device verdict --------------------------------------------------------


class _Engine:
    def __init__(self, runtimes: dict[str, Any]) -> None:
        self.runtimes = runtimes

    def info(self) -> dict[str, Any]:
        return {"Runtimes": self.runtimes}


def test_gpu_host_detection(tmp_path: Path) -> None:
    def nothing(name: str) -> str | None:
        return None

    assert not gpu_host(_Engine({"runc": {}}), tmp_path, nothing).has_gpu
    (tmp_path / "nvidia0").touch()
    (tmp_path / "nvidiactl").touch()
    host = gpu_host(_Engine({"runc": {}}), tmp_path, nothing)
    assert host.devices == (str(tmp_path / "nvidia0"),)
    assert host.has_gpu and not host.usable
    assert gpu_host(_Engine({"nvidia": {}}), tmp_path, nothing).usable
    smi_only = gpu_host(_Engine({}), tmp_path / "none", lambda n: f"/usr/bin/{n}")
    assert smi_only.has_gpu and not smi_only.usable


def _found(in_use: list[str], devices: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"gpu_devices": devices or [], "available": [CUDA, CPU], "model": "/m/model.onnx",
            "in_use": in_use, **extra}


def test_gpu_host_requires_cuda_in_use() -> None:
    ok = judge(_found([CUDA, CPU], ["/dev/nvidia0"]), variant_gpu=True, gpu_given=True,
               host=GPU)
    assert not ok.problems and "CUDAExecutionProvider" in ok.detail
    fallback = judge(_found([CPU], ["/dev/nvidia0"]), variant_gpu=True, gpu_given=True,
                     host=GPU)
    assert any("CUDA is not in use" in p for p in fallback.problems)
    unseen = judge(_found([CUDA, CPU]), variant_gpu=True, gpu_given=True, host=GPU)
    assert any("sees no /dev/nvidia device" in p for p in unseen.problems)


def test_cpu_host_requires_the_cpu_and_an_image_with_cuda() -> None:
    ok = judge(_found([CPU]), variant_gpu=True, gpu_given=False, host=NO_GPU)
    assert not ok.problems and ok.detail.startswith("CPU fallback (no GPU on this host)")
    no_cuda = judge(_found([CPU], available=[CPU]), variant_gpu=True, gpu_given=False,
                    host=NO_GPU)
    assert any("no CUDA provider" in p for p in no_cuda.problems)
    cpu_variant = judge(_found([CPU], available=[CPU]), variant_gpu=False, gpu_given=False,
                        host=NO_GPU)
    assert not cpu_variant.problems and cpu_variant.detail.startswith("CPU variant")


def test_a_gpu_the_engine_cannot_pass_is_not_a_cpu_fallback() -> None:
    verdict = judge(_found([CPU]), variant_gpu=True, gpu_given=False, host=GPU_NO_RUNTIME)
    assert any("no NVIDIA runtime" in p for p in verdict.problems)


def test_the_session_must_exist() -> None:
    failed = judge({**_found([]), "session_error": "RuntimeError('bad model')"},
                   variant_gpu=False, gpu_given=False, host=NO_GPU)
    assert any("could not create a session" in p for p in failed.problems)
    empty = judge(_found([]), variant_gpu=False, gpu_given=False, host=NO_GPU)
    assert any("uses no provider" in p for p in empty.problems)
    no_model = {"gpu_devices": [], "available": [CPU]}
    assert judge(no_model, variant_gpu=True, gpu_given=False, host=NO_GPU).skip


TORCH_CUDA = {"version": "2.10.0+cu128", "cuda_build": "12.8", "cuda_available": False,
              "computed_on": "cpu"}
XGB_CUDA = {"version": "3.2.0", "cuda_build": True, "cuda_version": [12, 9],
            "computed_on": "cpu"}


def test_torch_and_xgboost_cuda_builds_fall_back_to_the_cpu_without_a_gpu() -> None:
    for name, found in (("torch", TORCH_CUDA), ("xgboost", XGB_CUDA)):
        probe = {"gpu_devices": [], "import_error": "ModuleNotFoundError('onnxruntime')",
                 name: found}
        verdict = judge(probe, variant_gpu=True, gpu_given=False, host=NO_GPU)
        assert not verdict.problems and not verdict.skip, verdict
        assert verdict.detail.startswith("CPU fallback (no GPU on this host); ")
    torch = judge({"gpu_devices": [], "torch": TORCH_CUDA}, variant_gpu=True,
                  gpu_given=False, host=NO_GPU)
    assert torch.detail.endswith("torch 2.10.0+cu128 (CUDA 12.8 build) computes on cpu")
    xgb = judge({"gpu_devices": [], "xgboost": XGB_CUDA}, variant_gpu=True, gpu_given=False,
                host=NO_GPU)
    assert xgb.detail.endswith("XGBoost 3.2.0 (CUDA 12.9 build) computes on cpu")


def test_a_gpu_variant_with_a_cpu_build_of_its_framework_fails() -> None:
    cpu_torch = {**TORCH_CUDA, "version": "2.13.0+cpu", "cuda_build": None}
    verdict = judge({"gpu_devices": [], "torch": cpu_torch}, variant_gpu=True,
                    gpu_given=False, host=NO_GPU)
    assert any("is a CPU build (torch.version.cuda is None)" in p for p in verdict.problems)
    cpu_xgb = {**XGB_CUDA, "cuda_build": False, "cuda_version": None}
    verdict = judge({"gpu_devices": [], "xgboost": cpu_xgb}, variant_gpu=True,
                    gpu_given=False, host=NO_GPU)
    assert any("lock xgboost (not xgboost-cpu)" in p for p in verdict.problems)
    assert not judge({"gpu_devices": [], "xgboost": cpu_xgb}, variant_gpu=False,
                     gpu_given=False, host=NO_GPU).problems


def test_with_the_gpu_given_the_framework_must_compute_on_it() -> None:
    on_gpu = {**TORCH_CUDA, "cuda_available": True, "computed_on": "cuda:0",
              "gpu_name": "NVIDIA A10G"}
    ok = judge({"gpu_devices": ["/dev/nvidia0"], "torch": on_gpu}, variant_gpu=True,
               gpu_given=True, host=GPU)
    assert not ok.problems and ok.detail == ("GPU: ['/dev/nvidia0']; torch 2.10.0+cu128 "
                                             "(CUDA 12.8 build) computes on NVIDIA A10G")
    stuck = judge({"gpu_devices": ["/dev/nvidia0"], "torch": TORCH_CUDA}, variant_gpu=True,
                  gpu_given=True, host=GPU)
    assert any("sees no CUDA device on a GPU host" in p for p in stuck.problems)
    failed = {**XGB_CUDA, "error": "XGBoostError('no CUDA-capable device')"}
    del failed["computed_on"]
    broken = judge({"gpu_devices": ["/dev/nvidia0"], "xgboost": failed}, variant_gpu=True,
                   gpu_given=True, host=GPU)
    assert broken.problems == ("XGBoost failed to compute on the GPU: "
                               "XGBoostError('no CUDA-capable device')",)


def test_an_image_without_a_framework_the_check_knows_is_skipped() -> None:
    verdict = judge({"gpu_devices": [], "import_error": "ModuleNotFoundError('onnxruntime')"},
                    variant_gpu=False, gpu_given=False, host=NO_GPU)
    assert verdict.skip == "device (no onnxruntime, torch or XGBoost in the image)"


# --- summary line -----------------------------------------------------------------------


def _report(*checks: CheckResult, exit_code: int = 0) -> SmokeReport:
    return SmokeReport(image="img:1", model="m", variant="cpu", no_network=False,
                       checks=checks, junit=None, exit_code=exit_code)


def test_summary_names_what_was_skipped() -> None:
    ready = CheckResult("Starts", PASSED, 1.0)
    egress = CheckResult("No connection out, no DNS", SKIPPED, 0.0,
                         label="egress (bridge network)")
    assert _report(ready).summary() == "all checks passed"
    assert _report(ready, egress).summary() == (
        "all checks passed, 1 skipped: egress (bridge network)")
    unlabelled = CheckResult("Some check", SKIPPED, 0.0)
    broken = CheckResult("Sample", FAILED, 0.1, message="HTTP 500")
    assert _report(ready, broken, unlabelled, exit_code=1).summary() == (
        "1 of 3 checks failed, 1 skipped: Some check")
    assert _report(exit_code=5).summary() == "no checks ran"


def test_the_run_spec_carries_the_compose_command(tmp_path: Path) -> None:
    from sagepack.smoke.spec import RunSpec

    spec = RunSpec(root="/p", model="m", variant="cpu", image="i:1", no_network=True,
                   gpu=False, model_dir=None, compose_file="/c.yml", project="sagepackx",
                   run_id="x", deadline_s=10.0, compose_command=("/usr/bin/docker", "compose"))
    assert RunSpec.read(spec.write(tmp_path / "run.json")) == spec


def test_the_results_table_shows_brackets_as_written() -> None:
    import io

    from rich.console import Console

    from sagepack.smoke.report import render

    sample = CheckResult("Sample [json] gives the expected answer", PASSED, 0.1,
                         detail="matches samples/response.json")
    skipped = CheckResult("Validation transform", SKIPPED, 0.0,
                          detail="skipped: the model has no [validation] table")
    out = io.StringIO()
    render(_report(sample, skipped), Console(file=out, width=200, color_system=None))
    text = out.getvalue()
    assert "Sample [json] gives" in text and "no [validation] table" in text
