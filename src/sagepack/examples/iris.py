"""The iris example: a scikit-learn classifier converted to ONNX, served with onnxruntime.

Writes ``model.onnx``, ``labels.json``, the samples (JSON, CSV, JSON Lines) and their
expected responses, answered by the model's own handler. Needs the ``dev`` extra
(scikit-learn, skl2onnx, onnxruntime).
"""

from __future__ import annotations

import json
from pathlib import Path

from sagepack.examples.common import Answerer, Writer, csv_rows, need

NAME = "iris"
INSTALL = "pip install -e '.[dev]' (scikit-learn, skl2onnx, onnxruntime)"

# A stable sample of iris rows (one per class and a few borderline ones).
SAMPLE_ROWS = [
    [5.1, 3.5, 1.4, 0.2],
    [6.2, 2.9, 4.3, 1.3],
    [7.7, 3.0, 6.1, 2.3],
    [6.0, 2.7, 5.1, 1.6],
    [4.9, 3.1, 1.5, 0.1],
]


def check_tools() -> None:
    """Raise, naming the install, when the host lacks what training needs."""
    for module in ("sklearn", "skl2onnx", "onnxruntime"):
        need(module, INSTALL, NAME)


def train_onnx() -> tuple[bytes, list[str]]:
    """Train the classifier and return its ONNX bytes and class names."""
    check_tools()
    import numpy as np
    from skl2onnx import to_onnx
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    iris = load_iris()
    features = iris.data.astype(np.float32)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500, random_state=0))
    model.fit(features, iris.target)
    onnx_model = to_onnx(model, features[:1], target_opset=17,
                         options={id(model): {"zipmap": False}})
    onnx_model.producer_version = ""  # keep the bytes independent of the converter's build
    return onnx_model.SerializeToString(), [str(n) for n in iris.target_names]


def generate(model_root: Path) -> list[Path]:
    """(Re)write the example's model, labels, samples and expected responses."""
    onnx_bytes, labels = train_onnx()
    out = Writer(model_root)
    out.put("model.onnx", onnx_bytes)
    out.put("labels.json", json.dumps(labels) + "\n")

    requests = {
        "request.json": ("application/json", json.dumps({"instances": SAMPLE_ROWS}) + "\n"),
        "request.csv": ("text/csv", csv_rows(SAMPLE_ROWS)),
        "request.jsonl": ("application/jsonlines",
                          "".join(json.dumps({"features": r}) + "\n" for r in SAMPLE_ROWS)),
    }
    model = Answerer(model_root)
    for name, (ctype, body) in requests.items():
        out.put(f"samples/{name}", body)
        suffix = name.rsplit(".", 1)[1]
        out.put(f"samples/response.{suffix}", model.answer(body, ctype, ctype))

    # The validation transform: a CSV file, split by line, answered line by line.
    rows = csv_rows(SAMPLE_ROWS * 4)
    out.put("samples/transform/input/batch.csv", rows)
    out.put("samples/transform/expected/batch.csv.out", model.answer(rows, "text/csv", "text/csv"))
    return out.written
