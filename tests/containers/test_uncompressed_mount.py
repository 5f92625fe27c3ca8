"""The example image given uncompressed model data: /opt/ml/model holds the listed files
as SageMaker lays out an S3 prefix (the folder ``invoke test``, ``invoke transform`` and
the build's load check all mount, from :mod:`sagepack.containers.model_dir`)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import requests

from sagepack.compare import response_diffs
from sagepack.config import ModelConfig, load
from sagepack.containers.launch import model_container
from sagepack.model_data import pack_files

pytestmark = [pytest.mark.docker]

ROOT = Path(__file__).resolve().parents[2]
LIST = ("import os, sys\n"
        "root = sys.argv[1]\n"
        "print('\\n'.join(sorted(os.path.relpath(os.path.join(d, f), root)\n"
        "      for d, _, files in os.walk(root) for f in files)))")


def test_uncompressed_data_is_mounted_as_its_listed_files(
        iris: ModelConfig, iris_image: str, client: Any, tmp_path: Path) -> None:
    settings = load(ROOT, env={}, dist_dir=str(tmp_path / "dist"))
    model = replace(settings.models["iris"], model_data="uncompressed")
    manifest = pack_files(model, settings.project.dist_for("iris")).manifest
    listed = sorted(m["name"] for m in json.loads(manifest.read_text())["members"])
    sample = next(s for s in model.samples if s.name == "csv")
    with model_container(settings, model, model.variant("cpu"), no_network=True) as running:
        found = running.run_python(LIST, "/opt/ml/model").output.split()
        mounts = running.container.attrs["Mounts"]
        response = requests.post(f"{running.url}/invocations", data=sample.body.read_bytes(),
                                 headers={"Content-Type": "text/csv", "Accept": "text/csv"},
                                 timeout=30)
    assert found == listed and "sagepack.toml" not in found
    assert [(m["Destination"], m["RW"]) for m in mounts] == [("/opt/ml/model", False)]
    assert response.status_code == 200
    assert not response_diffs(response.content, sample.expected.read_bytes(), "text/csv")
    assert [p.name for p in settings.project.dist_for("iris").iterdir()] == ["manifest.json"]
