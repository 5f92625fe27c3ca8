"""``invoke new``: a trained model becomes a model folder that sagepack reads and serves."""

from __future__ import annotations

import ast
import asyncio
import json
import tarfile
import zipfile
from pathlib import Path

import httpx
import joblib
import numpy as np
import pytest
import sklearn
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sagepack import config
from sagepack.errors import ScaffoldError
from sagepack.scaffold import new_model
from sagepack.serving.app import READY, ServingApp
from sagepack.serving.settings import Settings as ServingSettings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path) -> config.ProjectConfig:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "p"\n[tool.sagepack]\n')
    return config.load_project_only(tmp_path, env={})


@pytest.fixture(scope="module")
def iris_pipeline(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """A folder holding a fitted scikit-learn pipeline, saved as AWS's examples save it."""
    folder = tmp_path_factory.mktemp("trained")
    x, y = load_iris(return_X_y=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300)).fit(x, y)
    joblib.dump(model, folder / "model.joblib")
    return folder, model


def _serve(folder: Path, body: str, content_type: str, accept: str) -> httpx.Response:
    """POST one request to the model folder's handler, served in process as in the image."""
    settings = ServingSettings.from_environ({"SAGEPACK_MODEL_DIR": str(folder),
                                             "SAGEMAKER_MODEL_SERVER_WORKERS": "1"})
    app = ServingApp(settings)
    app.load()
    try:
        assert app.state == READY, app.failure

        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://m") as client:
                return await client.post("/invocations", content=body, headers={
                    "content-type": content_type, "accept": accept})
        return asyncio.run(asyncio.wait_for(go(), 30))
    finally:
        app.pool.shutdown()


def _loaded(project: config.ProjectConfig, name: str) -> config.ModelConfig:
    """The new folder as every sagepack command reads it (validation included)."""
    return config.load(project.root, env={}).models[name]


def test_a_scikit_learn_folder_becomes_a_model_that_serves_its_sample(
        project: config.ProjectConfig, iris_pipeline: tuple[Path, object]) -> None:
    folder, fitted = iris_pipeline
    made = new_model(project, "flowers", folder)
    model = _loaded(project, "flowers")
    assert made.folder == project.artifacts_dir / "flowers" == model.root
    assert made.guess.title == "scikit-learn" and made.guess.model_file == "model.joblib"
    assert set(made.written) == {"code/inference.py", "requirements/cpu.in",
                                 "samples/request.csv", "sagepack.toml"}
    requirements = (model.root / "requirements/cpu.in").read_text()
    assert f"scikit-learn=={sklearn.__version__}" in requirements  # the pickle's version
    assert "joblib" in requirements and "numpy" in requirements
    [sample] = model.samples
    assert sample.expected is None and sample.content_type == "text/csv"
    body = sample.body.read_text()
    assert body.strip().split(",") == ["0.0"] * 4  # n_features_in_ of the pickle
    response = _serve(model.root, body, sample.content_type, sample.accept)
    assert response.status_code == 200, response.text
    assert response.json() == fitted.predict(np.zeros((1, 4))).tolist()  # type: ignore[attr-defined]
    assert any("4 input features" in line and f"saved with scikit-learn {sklearn.__version__}"
               in line for line in made.lines())
    assert "invoke lock --model flowers" in "\n".join(made.lines())


def test_one_onnx_file_gets_an_onnxruntime_handler(project: config.ProjectConfig) -> None:
    import onnxruntime as ort

    source = ROOT / "artifacts/iris/model.onnx"
    made = new_model(project, "onnx-one", source)
    model = _loaded(project, "onnx-one")
    assert made.copied == ("model.onnx",)
    assert "onnxruntime" in (model.root / "requirements/cpu.in").read_text()
    body = model.samples[0].body.read_text()
    assert body.count(",") == 3  # the graph's input is rows of 4
    response = _serve(model.root, body, "text/csv", "application/json")
    assert response.status_code == 200, response.text
    session = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"])
    labels = session.run(None, {"X": np.zeros((1, 4), dtype=np.float32)})[0]
    assert response.json() == labels.tolist()


def test_a_training_jobs_archive_keeps_its_handler_and_says_when_a_pin_disagrees(
        project: config.ProjectConfig, iris_pipeline: tuple[Path, object],
        tmp_path: Path) -> None:
    folder, _ = iris_pipeline
    handler = ("import os\nimport joblib\nimport pandas\n\n\ndef model_fn(model_dir):\n"
               "    return joblib.load(os.path.join(model_dir, 'model.joblib'))\n")
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder / "model.joblib", "model.joblib")
        for name, text in (("code/inference.py", handler),
                           ("code/requirements.txt", "scikit-learn==1.0.2\npandas\n")):
            file = tmp_path / name.replace("/", "-")
            file.write_text(text)
            tar.add(file, name)
    made = new_model(project, "from-s3", archive)
    model = _loaded(project, "from-s3")
    assert (model.root / "code/inference.py").read_text() == handler
    assert "code/inference.py" not in made.written
    lines = (model.root / "requirements/cpu.in").read_text().splitlines()
    assert "scikit-learn==1.0.2" in lines and "pandas" in lines  # as the model declared them
    [warning] = made.warnings
    assert "scikit-learn==1.0.2" in warning and f"scikit-learn {sklearn.__version__}" in warning
    assert any("imports joblib, pandas" in reason for reason in made.guess.reasons)


def test_an_xgboost_json_model_is_pinned_to_the_version_that_saved_it(
        project: config.ProjectConfig, tmp_path: Path) -> None:
    # The layout Booster.save_model("model.json") writes (only the keys read here).
    saved = {"learner": {"learner_model_param": {"num_feature": "7", "num_class": "0"},
                         "objective": {"name": "binary:logistic"}}, "version": [2, 1, 4]}
    (tmp_path / "trained").mkdir()
    (tmp_path / "trained/model.json").write_text(json.dumps(saved))
    (tmp_path / "trained/labels.json").write_text('["no", "yes"]')
    made = new_model(project, "boost", tmp_path / "trained")
    model = _loaded(project, "boost")
    assert made.guess.title == "XGBoost" and made.guess.model_file == "model.json"
    assert "xgboost-cpu==2.1.4" in (model.root / "requirements/cpu.in").read_text()
    assert model.samples[0].body.read_text().count(",") == 6
    handler = (model.root / "code/inference.py").read_text()
    assert "booster.load_model" in handler and "MODEL_FILE = 'model.json'" in handler
    ast.parse(handler)


def _torch_like_zip(path: Path, names: dict[str, bytes]) -> Path:
    """A zip with the member layout torch.save / torch.jit.save write (torch is not needed
    to read it, nor installed here)."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in names.items():
            zf.writestr(f"{path.stem}/{name}", data)
    return path


@pytest.mark.parametrize(("members", "flavour", "loads_with"), [
    ({"data.pkl": b"\x80\x02c__torch__\nNet\n", "code/__torch__/net.py": b"",
      "constants.pkl": b""}, "torchscript", "torch.jit.load"),
    ({"data.pkl": b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01ctorch._utils\n"
                  b"_rebuild_tensor_v2\n"}, "state_dict", "model.load_state_dict(state)"),
])
def test_pytorch_files_get_the_loader_their_kind_needs(
        project: config.ProjectConfig, tmp_path: Path, members: dict[str, bytes],
        flavour: str, loads_with: str) -> None:
    source = _torch_like_zip(tmp_path / "model.pt", members)
    made = new_model(project, f"torch-{flavour.replace('_', '-')}", source)
    model = _loaded(project, made.folder.name)
    assert made.guess.flavour == flavour
    handler = (model.root / "code/inference.py").read_text()
    assert loads_with in handler and 'system_properties.get("gpu_id")' in handler
    ast.parse(handler)
    assert "torch" in (model.root / "requirements/cpu.in").read_text()
    [index] = model.variant("cpu").indexes.indexes  # PyTorch's CPU wheels, not PyPI's CUDA ones
    assert (index.name, index.url) == ("pytorch-cpu", "https://download.pytorch.org/whl/cpu/")


def test_an_unknown_file_gets_a_template_that_says_what_to_fill_in(
        project: config.ProjectConfig, tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(b"\x00" * 16)
    made = new_model(project, "mystery", tmp_path / "weights.bin")
    model = _loaded(project, "mystery")
    assert made.guess.framework == "generic" and made.guess.model_file is None
    handler = (model.root / "code/inference.py").read_text()
    assert handler.count("TODO") >= 2
    settings = ServingSettings.from_environ({"SAGEPACK_MODEL_DIR": str(model.root),
                                             "SAGEMAKER_MODEL_SERVER_WORKERS": "1"})
    app = ServingApp(settings)
    app.load()
    try:
        assert app.state != READY
        assert "still the template" in str(app.failure) and "weights.bin" in str(app.failure)
    finally:
        app.pool.shutdown()


def test_an_existing_folder_is_refused_by_name_and_replaced_only_with_force(
        project: config.ProjectConfig, iris_pipeline: tuple[Path, object],
        tmp_path: Path) -> None:
    folder, _ = iris_pipeline
    new_model(project, "taken", folder)
    (tmp_path / "other.onnx").write_bytes((ROOT / "artifacts/iris/model.onnx").read_bytes())
    with pytest.raises(ScaffoldError, match=r"artifacts/taken already exists.*--force"):
        new_model(project, "taken", tmp_path / "other.onnx")
    assert (project.artifacts_dir / "taken/model.joblib").is_file()  # untouched
    new_model(project, "taken", tmp_path / "other.onnx", force=True)
    assert sorted(p.name for p in (project.artifacts_dir / "taken").iterdir()) == [
        "code", "other.onnx", "requirements", "sagepack.toml", "samples"]
    assert [p.name for p in project.artifacts_dir.iterdir()] == ["taken"]  # no staging left


def test_bad_names_and_sources_are_refused_and_leave_nothing(
        project: config.ProjectConfig, iris_pipeline: tuple[Path, object],
        tmp_path: Path) -> None:
    folder, _ = iris_pipeline
    with pytest.raises(ScaffoldError, match="cannot name a model 'My Model'"):
        new_model(project, "My Model", folder)
    with pytest.raises(ScaffoldError, match="no such file or folder"):
        new_model(project, "gone", tmp_path / "nope")
    iris = ROOT / "artifacts/iris"
    with pytest.raises(ScaffoldError, match=r"already holds a sagepack\.toml"):
        new_model(project, "copy", iris)
    assert not project.artifacts_dir.exists() or list(project.artifacts_dir.iterdir()) == []


@pytest.mark.slow
def test_the_new_folder_locks_with_the_pickles_scikit_learn(
        project: config.ProjectConfig, iris_pipeline: tuple[Path, object]) -> None:
    from sagepack.images.lock import SERVING_IN, lock, read_lock

    (project.root / SERVING_IN).parent.mkdir(parents=True)
    (project.root / SERVING_IN).write_text((ROOT / SERVING_IN).read_text())
    new_model(project, "flowers", iris_pipeline[0])
    path = lock(_loaded(project, "flowers"), "cpu", project_root=project.root)
    versions = {r.key: r.version for r in read_lock(path)}
    assert versions["scikit-learn"] == sklearn.__version__
    assert {"joblib", "numpy", "uvicorn"} <= set(versions)
