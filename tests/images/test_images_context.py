"""The build context and the Dockerfile's environment."""

from __future__ import annotations

import tarfile
from dataclasses import replace
from pathlib import Path

import pytest

from sagepack.config import Settings
from sagepack.errors import ImageError
from sagepack.images.context import (
    BuildContext,
    add_model,
    add_serving_runtime,
    image_env,
    render_dockerfile,
)

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = (REPO / "containers/Dockerfile").read_text()


def test_env_marker_becomes_env_lines_with_dollar_escaped() -> None:
    text = render_dockerfile(TEMPLATE, {"B": "two words", "A": "$HOME"})
    assert 'ENV A="\\$HOME" \\\n    B="two words"' in text
    assert "# sagepack:env" not in text.splitlines()


def test_invalid_env_names_are_refused() -> None:
    with pytest.raises(ImageError, match="BAD NAME"):
        render_dockerfile(TEMPLATE, {"BAD NAME": "1"})


def test_template_without_marker_is_refused() -> None:
    with pytest.raises(ImageError, match="sagepack:env"):
        render_dockerfile("FROM scratch\n", {"A": "1"})


def test_env_merges_settings_model_then_variant(project: Settings) -> None:
    model = project.models["tiny"]
    variant = model.variant("cpu")
    model = replace(model, env={"TINY_GREETING": "model", "ONLY_MODEL": "1"})
    env = image_env(model, variant)
    assert env["TINY_GREETING"] == "hello"  # the variant wins
    assert env["ONLY_MODEL"] == "1"
    assert env["SAGEMAKER_PROGRAM"] == "inference.py"
    assert "NVIDIA_VISIBLE_DEVICES" not in env


def test_gpu_variant_env_names_driver_capabilities_and_libraries(project: Settings) -> None:
    model = project.models["tiny"]
    variant = replace(model.variant("cpu"), name="cuda", gpu=True)
    env = image_env(model, variant, ["/opt/venv/lib/python3.11/site-packages/nvidia/cu13/lib"])
    assert env["NVIDIA_VISIBLE_DEVICES"] == "all"
    assert env["NVIDIA_DRIVER_CAPABILITIES"] == "compute,utility"
    assert env["LD_LIBRARY_PATH"].endswith("nvidia/cu13/lib")


def test_context_holds_only_the_serving_runtime_and_an_executable_serve(tmp_path: Path) -> None:
    ctx = BuildContext()
    add_serving_runtime(ctx, REPO / "src/sagepack", REPO / "containers/serve")
    tar_path = tmp_path / "ctx.tar"
    ctx.write(tar_path)
    with tarfile.open(tar_path) as tar:
        members = {m.name: m for m in tar.getmembers()}
    names = sorted(members)
    top = {n.split("/")[2] for n in names if n.startswith("runtime/sagepack/")}
    assert top == {"__init__.py", "errors.py", "problems.py", "py.typed", "serving"}
    assert members["runtime/serve"].mode == 0o755
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    assert all(m.uid == 0 and m.gid == 0 and m.mtime == 0 for m in members.values())
    assert names == sorted(names)


def test_model_is_split_into_code_and_weights(tmp_path: Path) -> None:
    extracted = tmp_path / "model"
    (extracted / "code").mkdir(parents=True)
    (extracted / "code/inference.py").write_text("x = 1\n")
    (extracted / "weights.json").write_text("{}")
    ctx = BuildContext()
    add_model(ctx, extracted)
    assert "model-code/code/inference.py" in ctx.files
    assert "model-weights/weights.json" in ctx.files
    assert not any(n.startswith("model-weights/code") for n in ctx.files)


def test_tags_are_version_and_git_short_sha_per_variant(project: Settings,
                                                        tmp_path: Path) -> None:
    from images_helpers import make_project

    from sagepack.images import image_tags

    tags = image_tags(project, project.models["tiny"], "cpu")
    assert tags[0] == "sagepack-test/tiny:0.1.0-cpu"
    assert len(tags) == 2
    assert tags[1].startswith("sagepack-test/tiny:") and tags[1].endswith("-cpu")
    assert len(tags[1].split(":")[1]) == len("0123456789ab-cpu")
    no_git = make_project(tmp_path / "plain", git=False)
    assert image_tags(no_git, no_git.models["tiny"], "cpu") == ("sagepack-test/tiny:0.1.0-cpu",)
