"""Configuration: files -> frozen dataclasses, with errors that name file and key."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from sagepack import config
from sagepack.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def make_project(tmp_path: Path, model_toml: str, pyproject: str = "") -> Path:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.sagepack]\nregion = "eu-west-1"\n'
        's3_bucket = "bucket"\n' + pyproject)
    model = tmp_path / "artifacts" / "m1"
    (model / "code").mkdir(parents=True)
    (model / "code" / "inference.py").write_text("def model_fn(d):\n    return d\n")
    (model / "requirements").mkdir()
    (model / "requirements" / "cpu.in").write_text("numpy\n")
    (model / "sagepack.toml").write_text(model_toml)
    return tmp_path


GOOD = """
name = "m1"
version = "0.1.0"
content_types = ["text/csv"]
response_types = ["text/csv"]
[variants.cpu]
requirements_in = "requirements/cpu.in"
requirements = "requirements/cpu.txt"
"""


def test_example_project_loads_into_frozen_dataclasses() -> None:
    settings = config.load(ROOT, env={})
    iris = settings.models["iris"]
    assert iris.version == "1.0.0"
    assert set(iris.variants) == {"cpu", "cuda", "graviton"}
    assert iris.variants["cuda"].gpu and not iris.variants["cpu"].gpu
    assert {s.content_type for s in iris.samples} == {
        "application/json", "text/csv", "application/jsonlines"}
    assert iris.validation is not None and iris.validation.split_type == "Line"
    with pytest.raises(dataclasses.FrozenInstanceError):
        iris.version = "2"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.project.region = "x"  # type: ignore[misc]


def test_precedence_flag_over_env_over_file(tmp_path: Path) -> None:
    root = make_project(tmp_path, GOOD)
    assert config.load(root, env={}).project.region == "eu-west-1"
    env = {"SAGEPACK_REGION": "us-west-2", "SAGEPACK_S3_BUCKET": "other"}
    from_env = config.load(root, env=env).project
    assert (from_env.region, from_env.s3_bucket) == ("us-west-2", "other")
    assert config.load(root, env=env, region="ap-south-1").project.region == "ap-south-1"
    assert config.load(root, env=env, region=None).project.region == "us-west-2"


def test_default_when_nothing_given(tmp_path: Path) -> None:
    root = make_project(tmp_path, GOOD)
    (root / "pyproject.toml").write_text('[project]\nname = "x"\n')
    project = config.load(root, env={}).project
    assert project.region == "us-east-1"
    assert project.repository_for("m1") == "sagepack/m1"
    assert project.base_images["cpu"] == config.DEFAULT_BASE_IMAGE


def test_two_errors_are_both_reported_with_file_and_key(tmp_path: Path) -> None:
    bad = GOOD.replace('version = "0.1.0"', "version = 3").replace(
        'name = "m1"', 'name = "m1"\ncolour = "blue"')
    root = make_project(tmp_path, bad)
    with pytest.raises(ConfigError) as info:
        config.load(root, env={})
    message = str(info.value)
    cfg = root / "artifacts" / "m1" / "sagepack.toml"
    assert f"{cfg}: version: expected str, got int 3" in message
    assert f"{cfg}: colour: unknown key" in message
    assert len(info.value.problems) == 2


def test_missing_required_field_and_missing_path(tmp_path: Path) -> None:
    bad = GOOD.replace('content_types = ["text/csv"]\n', "").replace(
        "requirements/cpu.in", "requirements/nope.in")
    root = make_project(tmp_path, bad)
    with pytest.raises(ConfigError) as info:
        config.load(root, env={})
    keys = {p.key for p in info.value.problems}
    assert keys == {"content_types", "variants.cpu.requirements_in"}
    assert "nope.in" in str(info.value)


def test_wrong_type_in_nested_table_names_the_dotted_key(tmp_path: Path) -> None:
    root = make_project(tmp_path, GOOD + "gpu = 'yes'\n")
    with pytest.raises(ConfigError) as info:
        config.load(root, env={})
    assert [p.key for p in info.value.problems] == ["variants.cpu.gpu"]
    assert "expected bool" in str(info.value)


def test_project_table_errors_name_pyproject(tmp_path: Path) -> None:
    root = make_project(tmp_path, GOOD, pyproject='ecr_repository = "fixed"\nregoin = "x"\n')
    with pytest.raises(ConfigError) as info:
        config.load(root, env={})
    problems = {(p.file.name, p.key) for p in info.value.problems}
    assert problems == {("pyproject.toml", "tool.sagepack.ecr_repository"),
                        ("pyproject.toml", "tool.sagepack.regoin")}


def test_invalid_toml_is_reported_with_the_file(tmp_path: Path) -> None:
    root = make_project(tmp_path, "name = \n")
    with pytest.raises(ConfigError, match=r"sagepack\.toml: not valid TOML"):
        config.load(root, env={})


def test_several_models_and_selection(tmp_path: Path) -> None:
    root = make_project(tmp_path, GOOD)
    second = root / "artifacts" / "m2"
    shutil.copytree(root / "artifacts" / "m1", second)
    (second / "sagepack.toml").write_text(GOOD.replace('"m1"', '"m2"'))
    settings = config.load(root, env={})
    assert [m.name for m in settings.select(None)] == ["m1", "m2"]
    assert [m.name for m in settings.select("m2")] == ["m2"]
    with pytest.raises(ConfigError, match="no model named 'm3'"):
        settings.select("m3")
    with pytest.raises(ConfigError, match="no such variant"):
        settings.models["m1"].variant("cuda")


def test_folder_and_name_must_agree(tmp_path: Path) -> None:
    root = make_project(tmp_path, GOOD.replace('name = "m1"', 'name = "other"'))
    with pytest.raises(ConfigError, match="expected the folder's name 'm1'"):
        config.load(root, env={})


def test_a_gpu_variant_reads_its_cuda_target_and_a_cpu_variant_refuses_one(
        tmp_path: Path) -> None:
    iris = config.load(ROOT, env={}).models["iris"]
    target = iris.variants["cuda"].cuda
    assert target is not None and target.cuda == "12"
    assert target.inference_ami.name == "al2-ami-sagemaker-inference-gpu-2"
    assert iris.variants["cpu"].cuda is None
    bad = GOOD + 'cuda = "12"\n[variants.gpu]\nrequirements_in = "requirements/cpu.in"\n' \
        'requirements = "requirements/gpu.txt"\ngpu = true\ncuda = "13"\n' \
        'inference_ami = "al2-ami-sagemaker-inference-gpu-3-1"\n'
    with pytest.raises(ConfigError) as caught:
        config.load(make_project(tmp_path, bad), env={})
    text = str(caught.value)
    assert "variants.cpu.cuda" in text and "only GPU variants" in text
    assert "variants.gpu.inference_ami" in text and "needs driver >= 580" in text


def test_a_gpu_variants_model_package_validation_names_its_transform_ami() -> None:
    from sagepack.publish.model_package import package_request
    from sagepack.publish.plan import PackageTarget

    iris = config.load(ROOT, env={}).models["iris"]

    def resources(variant: str) -> dict[str, object]:
        target = PackageTarget(model=iris, variant=variant, name=f"iris-{variant}", group=None,
                               validation_prefix="v")
        request = package_request(target, image="img", model_data_url="s3://b/m.tar.gz",
                                  validation_input="s3://b/in/", bucket="b",
                                  role_arn="arn:aws:iam::123456789012:role/r")
        profile = request["ValidationSpecification"]["ValidationProfiles"][0]
        return dict(profile["TransformJobDefinition"]["TransformResources"])

    assert resources("cuda")["TransformAmiVersion"] == "al2-ami-sagemaker-batch-gpu-535"
    assert "TransformAmiVersion" not in resources("cpu")


SAMPLE = """
[[samples]]
name = "first"
body = "samples/request.csv"
content_type = "text/csv"
accept = "application/json"
"""


def test_a_sample_without_expected_is_loaded_and_ready_for_the_checks(tmp_path: Path) -> None:
    from sagepack.smoke.preflight import check_config

    root = make_project(tmp_path, GOOD.rstrip("\n") + "\n" + SAMPLE)
    (root / "artifacts/m1/samples").mkdir()
    (root / "artifacts/m1/samples/request.csv").write_text("1,2\n")
    model = config.load(root, env={}).models["m1"]
    [sample] = model.samples
    assert sample.expected is None and sample.index == 0
    check_config(model)  # nothing to compare is no problem: the sample must only answer


def test_an_expected_file_named_but_missing_is_still_an_error(tmp_path: Path) -> None:
    root = make_project(tmp_path, GOOD.rstrip("\n") + "\n" + SAMPLE
                        + 'expected = "samples/response.json"\n')
    (root / "artifacts/m1/samples").mkdir()
    (root / "artifacts/m1/samples/request.csv").write_text("1,2\n")
    with pytest.raises(ConfigError) as info:
        config.load(root, env={})
    [problem] = info.value.problems
    assert problem.key == "samples[0].expected" and "response.json" in problem.message
