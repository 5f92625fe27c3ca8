"""A scikit-learn pickle made by another version than the image's: the build's
``model-loads`` check and ``invoke test`` both warn, naming both versions.

The pickle is the sklearn-wine example's, dumped again with scikit-learn's recorded version
set to an older release: the ``_sklearn_version`` field is what that release writes, and it
is all scikit-learn compares when it loads a pickle.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import joblib
import pytest
import sklearn.base

from sagepack.archive import pack
from sagepack.checks import PASSED
from sagepack.config import Settings, load
from sagepack.images.docker_client import docker_client
from sagepack.images.load_check import check_model_load
from sagepack.smoke import run_image_tests

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
MODEL = "sklearn-wine"
OLDER = "1.6.1"


@pytest.fixture
def older_pickle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A copy of the project whose sklearn-wine pickle records scikit-learn 1.6.1."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(ROOT / "artifacts" / MODEL, tmp_path / "artifacts" / MODEL)
    path = tmp_path / "artifacts" / MODEL / "model.joblib"
    estimator = joblib.load(path)
    monkeypatch.setattr(sklearn.base, "__version__", OLDER)
    joblib.dump(estimator, path)
    monkeypatch.undo()
    assert OLDER.encode() in path.read_bytes()
    return load(tmp_path, env={})


def test_an_older_pickle_warns_at_build_and_in_invoke_test_naming_both_versions(
        older_pickle: Settings, example_image: Callable[..., str], tmp_path: Path) -> None:
    image = example_image("cpu", MODEL)
    model = older_pickle.models[MODEL]
    archive = pack(model, older_pickle.project.dist_for(MODEL), progress=False).archive
    in_image = _image_sklearn(image)
    assert in_image != OLDER

    client = docker_client()
    try:
        loads = check_model_load(client, image, archive=archive, baked=False)
    finally:
        client.close()
    assert loads.outcome == PASSED, loads.detail  # a warning, not a failure
    assert "InconsistentVersionWarning" in loads.detail, loads.detail
    assert f"from version {OLDER} when using version {in_image}" in loads.detail

    report = run_image_tests(older_pickle, model, model.variant("cpu"), no_network=True,
                             junit=tmp_path / "ready.xml", image=image,
                             pytest_args=("-k", "test_ready"))
    ready = next(c for c in report.checks if c.name.startswith("Starts with `serve`"))
    assert ready.outcome == PASSED, ready.message
    assert "model_fn warned: sklearn.exceptions.InconsistentVersionWarning" in ready.detail
    assert f"from version {OLDER} when using version {in_image}" in ready.detail


def _image_sklearn(image: str) -> str:
    """The scikit-learn version installed in ``image``."""
    from sagepack.images.checks import run_in_image

    client = docker_client()
    try:
        status, out = run_in_image(client, image, ["python", "-c",
                                                   "import sklearn; print(sklearn.__version__)"])
    finally:
        client.close()
    assert status == 0, out
    return out.strip().splitlines()[-1]
