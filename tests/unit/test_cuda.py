"""CUDA targets: the AMI and driver tables, a variant's target, and the driver sentence."""

from __future__ import annotations

import pytest

from sagepack.cuda import (
    DEFAULT_TARGET,
    DRIVER_REQUIREMENTS,
    INFERENCE_AMIS,
    REALTIME,
    TRANSFORM,
    TRANSFORM_AMIS,
    CudaTarget,
    TargetProblem,
    driver_problems,
    driver_sentence,
    driver_without_ami,
    parse_target,
    requirement,
)


def test_the_sagemaker_gpu_amis_and_their_drivers() -> None:
    assert {name: ami.driver for name, ami in INFERENCE_AMIS.items()} == {
        "al2-ami-sagemaker-inference-gpu-2": 535,
        "al2-ami-sagemaker-inference-gpu-2-1": 535,
        "al2-ami-sagemaker-inference-gpu-3-1": 550,
        "al2023-ami-sagemaker-inference-gpu-4-1": 580,
    }
    assert {name: ami.driver for name, ami in TRANSFORM_AMIS.items()} == {
        "al2-ami-sagemaker-batch-gpu-470": 470,
        "al2-ami-sagemaker-batch-gpu-535": 535,
    }
    assert not INFERENCE_AMIS["al2-ami-sagemaker-inference-gpu-2"].compat_mounting_disabled
    for name in ("al2-ami-sagemaker-inference-gpu-2-1", "al2-ami-sagemaker-inference-gpu-3-1"):
        assert INFERENCE_AMIS[name].compat_mounting_disabled


def test_the_amis_match_the_botocore_model_this_project_installs() -> None:
    botocore_session = pytest.importorskip("botocore.session")
    model = botocore_session.get_session().get_service_model("sagemaker")
    listed = set(model.shape_for("ProductionVariantInferenceAmiVersion").enum)
    gpu = {name for name in listed if "-gpu-" in name}
    assert gpu == set(INFERENCE_AMIS)
    transform_doc = model.shape_for("TransformResources").members["TransformAmiVersion"]
    for name, ami in TRANSFORM_AMIS.items():
        assert name in transform_doc.documentation
        assert f"NVIDIA driver version: {ami.driver}" in transform_doc.documentation


def test_nvidia_minimum_drivers_per_cuda_major() -> None:
    assert {m: r.shown for m, r in DRIVER_REQUIREMENTS.items()} == {
        11: "450.80.02", 12: "525.60.13", 13: "580"}
    assert all(r.minor_version_compatible for r in DRIVER_REQUIREMENTS.values())
    assert requirement(12).branch == 525
    with pytest.raises(ValueError, match="CUDA 10: no known minimum driver"):
        requirement(10)


def test_without_an_ami_most_families_get_driver_470() -> None:
    assert driver_without_ami("ml.g5.xlarge") == 470
    assert driver_without_ami("ml.g4dn.2xlarge", TRANSFORM) == 470
    assert driver_without_ami("ml.g6.xlarge", REALTIME) == 535
    assert driver_without_ami("ml.p5e.48xlarge") == 550
    assert driver_without_ami("ml.m5.large") is None


def test_the_defaults_target_cuda_12_on_amis_whose_driver_runs_it() -> None:
    assert parse_target({}, gpu=True) == DEFAULT_TARGET
    assert DEFAULT_TARGET.cuda == "12"
    assert DEFAULT_TARGET.inference_ami.name == "al2-ami-sagemaker-inference-gpu-2"
    assert DEFAULT_TARGET.transform_ami.name == "al2-ami-sagemaker-batch-gpu-535"
    for ami in DEFAULT_TARGET.amis:
        assert ami.driver >= requirement(12).branch


def test_a_target_is_read_from_the_variant_table() -> None:
    target = parse_target({"cuda": "12.4", "inference_ami": "al2-ami-sagemaker-inference-gpu-3-1",
                           "transform_ami": "al2-ami-sagemaker-batch-gpu-535",
                           "requirements": "ignored.txt"}, gpu=True)
    assert isinstance(target, CudaTarget)
    assert (target.major, target.minor) == (12, 4)
    assert target.inference_ami.driver == 550
    assert target.accepts(12, 4) and not target.accepts(12, 9) and not target.accepts(13, 4)
    assert parse_target({"cuda": 12}, gpu=True) == DEFAULT_TARGET
    assert DEFAULT_TARGET.accepts(12, 9) and DEFAULT_TARGET.accepts(12, None)


def test_cpu_variants_have_no_target_and_may_not_set_one() -> None:
    assert parse_target({"requirements": "cpu.txt"}, gpu=False) is None
    assert parse_target({"cuda": "12"}, gpu=False) == [
        TargetProblem("cuda", "only GPU variants (gpu = true) take a CUDA target")]


@pytest.mark.parametrize(("values", "key", "message"), [
    ({"cuda": "twelve"}, "cuda", "expected a CUDA major or major.minor such as \"12\""),
    ({"cuda": True}, "cuda", "got True"),
    ({"cuda": "10.2"}, "cuda", "CUDA 10 is not one sagepack knows"),
    ({"inference_ami": "al2-ami-sagemaker-batch-gpu-535"}, "inference_ami",
     "expected one of al2-ami-sagemaker-inference-gpu-2, "),
    ({"transform_ami": 535}, "transform_ami", "got 535"),
])
def test_bad_targets_are_problems_naming_the_key(values: dict[str, object], key: str,
                                                  message: str) -> None:
    problems = parse_target(values, gpu=True)
    assert isinstance(problems, list) and len(problems) == 1
    assert problems[0].key == key
    assert message in problems[0].message


def test_a_target_whose_cuda_needs_a_newer_driver_than_its_amis_is_refused() -> None:
    problems = parse_target({"cuda": "13", "inference_ami": "al2-ami-sagemaker-inference-gpu-3-1"},
                            gpu=True)
    assert isinstance(problems, list)
    assert [p.key for p in problems] == ["inference_ami", "transform_ami"]
    assert problems[0].message.startswith(
        "CUDA 13 runtime needs driver >= 580; al2-ami-sagemaker-inference-gpu-3-1 has 550: "
        "target CUDA 12, or choose an AMI with a newer driver")
    assert "al2023-ami-sagemaker-inference-gpu-4-1 has 580" in problems[0].message
    assert "no SageMaker batch transform AMI has one" in problems[1].message
    ok = parse_target({"cuda": "12", "transform_ami": "al2-ami-sagemaker-batch-gpu-470"},
                      gpu=True)
    assert isinstance(ok, list)
    assert ok[0].message.startswith(
        "CUDA 12 runtime needs driver >= 525.60.13; al2-ami-sagemaker-batch-gpu-470 has 470: "
        "target CUDA 11, or choose an AMI with a newer driver "
        "(al2-ami-sagemaker-batch-gpu-535 has 535)")


def test_the_driver_sentence_of_the_issue() -> None:
    sentence = driver_sentence("CUDA 13.5", requirement(13),
                               INFERENCE_AMIS["al2-ami-sagemaker-inference-gpu-3-1"])
    assert sentence.startswith("CUDA 13.5 runtime needs driver >= 580; "
                               "al2-ami-sagemaker-inference-gpu-3-1 has 550: target CUDA 12, "
                               "or choose an AMI with a newer driver")


def test_driver_problems_name_only_the_amis_too_old() -> None:
    amis = [INFERENCE_AMIS["al2-ami-sagemaker-inference-gpu-3-1"],
            INFERENCE_AMIS["al2023-ami-sagemaker-inference-gpu-4-1"],
            TRANSFORM_AMIS["al2-ami-sagemaker-batch-gpu-535"]]
    problems = driver_problems("CUDA 13.0", 13, amis)
    assert len(problems) == 2
    assert "al2-ami-sagemaker-inference-gpu-3-1 has 550" in problems[0]
    assert "al2-ami-sagemaker-batch-gpu-535 has 535" in problems[1]
    assert driver_problems("CUDA 12.9", 12, amis) == []
