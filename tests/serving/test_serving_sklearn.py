"""Scripts written for AWS's scikit-learn container run unchanged."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import joblib
import numpy as np
import pytest
from serving_helpers import invoke, request, write_model
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from sagepack.serving.app import READY, ServingApp
from sagepack.serving.settings import Settings

# The entry-point script of AWS's scikit-learn examples: training under __main__, and the
# model_fn that SageMaker's scikit-learn container calls to serve the trained model.
AWS_TRAIN_PY = '''
import argparse
import os

import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--output-data-dir", type=str, default=os.environ.get("SM_OUTPUT_DATA_DIR"))
    parser.add_argument("--model-dir", type=str, default=os.environ.get("SM_MODEL_DIR"))
    parser.add_argument("--train", type=str, default=os.environ.get("SM_CHANNEL_TRAIN"))
    args = parser.parse_args()

    train_data = np.loadtxt(os.path.join(args.train, "iris.csv"), delimiter=",")
    train_y = train_data[:, 0]
    train_X = train_data[:, 1:]
    clf = LogisticRegression(max_iter=200).fit(train_X, train_y)
    joblib.dump(clf, os.path.join(args.model_dir, "model.joblib"))


def model_fn(model_dir):
    """Deserialized and return fitted model

    Note that this should have the same name as the serialized model in the main method
    """
    clf = joblib.load(os.path.join(model_dir, "model.joblib"))
    return clf
'''

# The full form AWS documents for scikit-learn: input_fn, predict_fn, output_fn.
AWS_INFERENCE_PY = '''
import json
import os
from io import StringIO

import joblib
import numpy as np


def model_fn(model_dir):
    clf = joblib.load(os.path.join(model_dir, "model.joblib"))
    return clf


def input_fn(request_body, request_content_type):
    if request_content_type == "application/json":
        data = json.loads(request_body)
        return np.array(data["instances"])
    if request_content_type == "text/csv":
        return np.loadtxt(StringIO(request_body), delimiter=",", ndmin=2)
    raise ValueError("Unsupported content type: {}".format(request_content_type))


def predict_fn(input_data, model):
    prediction = model.predict(input_data)
    pred_prob = model.predict_proba(input_data)
    return {"predictions": prediction.tolist(), "probabilities": pred_prob.tolist()}


def output_fn(prediction, content_type):
    if content_type == "application/json":
        return json.dumps(prediction)
    raise ValueError("Unsupported accept: {}".format(content_type))
'''


@pytest.fixture(scope="module")
def iris_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sklearn-model")
    iris = load_iris()
    clf = LogisticRegression(max_iter=200).fit(iris.data, iris.target)
    joblib.dump(clf, root / "model.joblib")
    return root


def serve_script(model_dir: Path, source: str, program: str) -> ServingApp:
    write_model(model_dir, source, name=program)
    settings = Settings.from_environ({"SAGEPACK_MODEL_DIR": str(model_dir),
                                      "SAGEMAKER_PROGRAM": program,
                                      "SAGEMAKER_MODEL_SERVER_WORKERS": "1"})
    app = ServingApp(settings)
    app.load()
    return app


def test_aws_training_script_serves_with_default_codecs(iris_model: Path) -> None:
    app = serve_script(iris_model, AWS_TRAIN_PY, "train.py")
    try:
        assert app.state == READY, app.failure
        assert request(app, "GET", "/ping").status_code == 200
        csv_rows = "5.1,3.5,1.4,0.2\n6.2,2.9,4.3,1.3\n7.7,3.0,6.1,2.3\n"
        response = invoke(app, csv_rows, "text/csv", accept="text/csv")
        assert response.status_code == 200
        assert response.text == "0\n1\n2\n"
        as_json = invoke(app, json.dumps([[5.1, 3.5, 1.4, 0.2]]))
        assert as_json.json() == [0]
        wrong = invoke(app, "[[1, 2]]")
        assert wrong.status_code == 500
        assert "model.predict raised ValueError" in wrong.json()["message"]
    finally:
        app.pool.shutdown()


def test_aws_inference_script_with_all_functions(iris_model: Path) -> None:
    app = serve_script(iris_model, AWS_INFERENCE_PY, "inference.py")
    try:
        body = json.dumps({"instances": [[5.1, 3.5, 1.4, 0.2], [7.7, 3.0, 6.1, 2.3]]})
        response = invoke(app, body, "application/json; charset=utf-8",
                          accept="application/json")
        assert response.status_code == 200
        result = response.json()
        assert result["predictions"] == [0, 2]
        assert np.allclose(np.sum(result["probabilities"], axis=1), 1.0)
        as_csv = invoke(app, "5.1,3.5,1.4,0.2\n7.7,3.0,6.1,2.3\n", "text/csv",
                        accept="application/json")
        assert as_csv.json()["predictions"] == [0, 2]
        refused = invoke(app, "1,2,3,4", "application/x-npy")
        assert refused.status_code == 500
        assert refused.json()["message"] \
            == "input_fn raised ValueError: Unsupported content type: application/x-npy"
    finally:
        app.pool.shutdown()


def test_example_model_if_present(make_app: Callable[..., ServingApp]) -> None:
    iris = Path(__file__).resolve().parents[2] / "artifacts" / "iris"
    if not (iris / "code" / "inference.py").is_file():
        pytest.skip("artifacts/iris is not there")
    settings = Settings.from_environ({"SAGEPACK_MODEL_DIR": str(iris)})
    app = ServingApp(settings)
    app.load()
    try:
        assert app.state == READY, app.failure
        rows = (iris / "samples" / "request.csv").read_text()
        response = invoke(app, rows, "text/csv", accept="text/csv")
        assert response.status_code == 200
        assert len(response.text.splitlines()) == len([r for r in rows.splitlines() if r])
    finally:
        app.pool.shutdown()
