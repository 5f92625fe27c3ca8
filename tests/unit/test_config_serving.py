"""Serving options of a model's configuration: streamed samples, the asynchronous limits and
multi-model images, with errors that name the file and key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_config import GOOD, make_project

from sagepack import config
from sagepack.errors import ConfigError

SAMPLE = """
[[samples]]
name = "s"
body = "samples/in.json"
content_type = "application/json"
accept = "application/jsonlines"
expected = "samples/out.jsonl"
"""


def _with_samples(root: Path) -> None:
    samples = root / "artifacts" / "m1" / "samples"
    samples.mkdir(exist_ok=True)
    (samples / "in.json").write_text("[[1]]")
    (samples / "out.jsonl").write_text("{}\n")


def _add_model(root: Path, name: str, toml: str) -> None:
    folder = root / "artifacts" / name
    shutil.copytree(root / "artifacts" / "m1", folder)
    (folder / "sagepack.toml").write_text(toml.replace('name = "m1"', f'name = "{name}"'))


def test_serving_options_default_to_the_servers_defaults(tmp_path: Path) -> None:
    root = make_project(tmp_path, GOOD + SAMPLE)
    _with_samples(root)
    model = config.load(root, env={}).models["m1"]
    assert (model.max_request_mb, model.timeout_s, model.multi_model) == (None, None, False)
    assert model.test_models == ()
    assert model.samples[0].stream is False


def test_stream_sample_and_async_limits_are_read(tmp_path: Path) -> None:
    toml = ("max_request_mb = 1024\ntimeout_s = 3600\n" + GOOD
            + SAMPLE + "stream = true\n")
    root = make_project(tmp_path, toml)
    _with_samples(root)
    model = config.load(root, env={}).models["m1"]
    assert (model.max_request_mb, model.timeout_s) == (1024, 3600)
    assert model.samples[0].stream is True


@pytest.mark.parametrize(("line", "key", "message"), [
    ("max_request_mb = 0", "max_request_mb", "expected 1 to 1024, got 0"),
    ("max_request_mb = 2048", "max_request_mb", "expected 1 to 1024, got 2048"),
    ("timeout_s = 3601", "timeout_s", "expected 1 to 3600, got 3601"),
    ('timeout_s = "60"', "timeout_s", "expected int"),
    ('multi_model = "yes"', "multi_model", "expected bool"),
])
def test_bad_serving_options_name_file_and_key(tmp_path: Path, line: str, key: str,
                                               message: str) -> None:
    root = make_project(tmp_path, line + "\n" + GOOD)
    with pytest.raises(ConfigError) as err:
        config.load(root, env={})
    text = str(err.value)
    assert "sagepack.toml" in text and key in text and message in text


def test_bad_stream_flag_names_the_sample(tmp_path: Path) -> None:
    root = make_project(tmp_path, GOOD + SAMPLE + 'stream = "true"\n')
    _with_samples(root)
    with pytest.raises(ConfigError, match=r"samples\[0\]\.stream.*expected bool"):
        config.load(root, env={})


def test_a_multi_model_image_names_its_test_models(tmp_path: Path) -> None:
    mme = 'multi_model = true\ntest_models = ["m1", "m2"]\n' + GOOD
    root = make_project(tmp_path, GOOD)
    _add_model(root, "m2", GOOD)
    _add_model(root, "mm", mme)
    settings = config.load(root, env={})
    assert settings.models["mm"].multi_model
    assert settings.models["mm"].test_models == ("m1", "m2")
    assert not settings.models["m1"].multi_model


def test_a_multi_model_image_cannot_be_baked(tmp_path: Path) -> None:
    mme = 'multi_model = true\nartifact_mode = "baked"\ntest_models = ["a", "b"]\n' + GOOD
    root = make_project(tmp_path, mme)
    with pytest.raises(ConfigError, match="artifact_mode: a multi-model image holds no "
                                          "model: expected 'dynamic', got 'baked'"):
        config.load(root, env={})


@pytest.mark.parametrize(("lines", "message"), [
    ('multi_model = true\ntest_models = ["m2"]', "expected at least 2 names"),
    ("multi_model = true", "expected at least 2 names"),
    ('test_models = ["m2", "m3"]', "only a multi-model image"),
])
def test_test_models_need_a_multi_model_image_and_two_names(tmp_path: Path, lines: str,
                                                            message: str) -> None:
    root = make_project(tmp_path, lines + "\n" + GOOD)
    with pytest.raises(ConfigError, match=f"test_models: .*{message}"):
        config.load(root, env={})


def test_test_models_must_be_single_model_models_of_the_project(tmp_path: Path) -> None:
    root = make_project(tmp_path, GOOD)
    _add_model(root, "mm", 'multi_model = true\ntest_models = ["m1", "nope"]\n' + GOOD)
    _add_model(root, "mx", 'multi_model = true\ntest_models = ["m1", "mm"]\n' + GOOD)
    with pytest.raises(ConfigError) as err:
        config.load(root, env={})
    text = str(err.value)
    assert "'nope': no such model (single-model models: m1)" in text
    assert "'mm': a multi-model image itself" in text


def test_only_a_multi_model_image_may_have_no_handler(tmp_path: Path) -> None:
    root = make_project(tmp_path, GOOD)
    (root / "artifacts" / "m1" / "code" / "inference.py").unlink()
    with pytest.raises(ConfigError, match="handler: path does not exist"):
        config.load(root, env={})
    _add_model(root, "m2", GOOD)
    (root / "artifacts" / "m1" / "sagepack.toml").write_text(
        'multi_model = true\ntest_models = ["m2", "m3"]\n' + GOOD)
    _add_model(root, "m3", GOOD)
    for name in ("m2", "m3"):
        (root / "artifacts" / name / "code" / "inference.py").write_text("")
    assert config.load(root, env={}).models["m1"].multi_model
