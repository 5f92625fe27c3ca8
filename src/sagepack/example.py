"""The bundled example model: an iris classifier in ONNX, trained reproducibly.

``invoke example`` regenerates ``artifacts/iris/`` from the iris data that scikit-learn
ships (no download): ``model.onnx``, ``labels.json``, and the expected responses of every
sample, computed by running the model's own handler. Needs the ``dev`` extra
(scikit-learn, skl2onnx, onnxruntime).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

from sagepack.errors import SagepackError
from sagepack.files import atomic_write

# A stable sample of iris rows (one per class and a few borderline ones).
SAMPLE_ROWS = [
    [5.1, 3.5, 1.4, 0.2],
    [6.2, 2.9, 4.3, 1.3],
    [7.7, 3.0, 6.1, 2.3],
    [6.0, 2.7, 5.1, 1.6],
    [4.9, 3.1, 1.5, 0.1],
]


def train_onnx() -> tuple[bytes, list[str]]:
    """Train the classifier and return its ONNX bytes and class names."""
    try:
        from skl2onnx import to_onnx
        from sklearn.datasets import load_iris
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
    except ImportError as exc:
        raise SagepackError(f"regenerating the example needs the dev extra: {exc}") from exc
    import numpy as np

    iris = load_iris()
    features = iris.data.astype(np.float32)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500, random_state=0))
    model.fit(features, iris.target)
    onnx_model = to_onnx(model, features[:1], target_opset=17,
                         options={id(model): {"zipmap": False}})
    onnx_model.producer_version = ""  # keep the bytes independent of the converter's build
    return onnx_model.SerializeToString(), [str(n) for n in iris.target_names]


def _load_handler(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("sagepack_example_handler", path)
    if spec is None or spec.loader is None:
        raise SagepackError(f"cannot import handler {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _respond(handler: ModuleType, model: Any, body: bytes, content_type: str,
             accept: str) -> bytes:
    data = handler.input_fn(body, content_type)
    out = handler.output_fn(handler.predict_fn(data, model), accept)
    payload = out[0] if isinstance(out, tuple) else out
    return payload.encode("utf-8") if isinstance(payload, str) else bytes(payload)


def generate(model_root: Path) -> list[Path]:
    """(Re)write the example's model, labels, samples and expected responses."""
    onnx_bytes, labels = train_onnx()
    written: list[Path] = []

    def put(rel: str, data: bytes | str) -> None:
        atomic_write(model_root / rel, data)
        written.append(model_root / rel)

    put("model.onnx", onnx_bytes)
    put("labels.json", json.dumps(labels) + "\n")

    requests = {
        "request.json": ("application/json",
                         json.dumps({"instances": SAMPLE_ROWS}) + "\n"),
        "request.csv": ("text/csv", "".join(",".join(str(v) for v in r) + "\n"
                                            for r in SAMPLE_ROWS)),
        "request.jsonl": ("application/jsonlines",
                          "".join(json.dumps({"features": r}) + "\n" for r in SAMPLE_ROWS)),
    }
    handler = _load_handler(model_root / "code" / "inference.py")
    model = handler.model_fn(str(model_root))
    for name, (ctype, body) in requests.items():
        put(f"samples/{name}", body)
        stem = name.rsplit(".", 1)
        put(f"samples/response.{stem[1]}", _respond(handler, model, body.encode(), ctype, ctype))

    # The validation transform: a CSV file, split by line, answered line by line.
    rows = "".join(",".join(str(v) for v in r) + "\n" for r in SAMPLE_ROWS * 4)
    put("samples/transform/input/batch.csv", rows)
    put("samples/transform/expected/batch.csv.out",
        _respond(handler, model, rows.encode(), "text/csv", "text/csv"))
    return written
