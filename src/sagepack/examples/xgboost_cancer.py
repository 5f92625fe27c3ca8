"""The xgboost-cancer example: an XGBoost booster on scikit-learn's breast cancer data,
saved as AWS's XGBoost container expects it (``xgboost-model``, XGBoost's own UBJSON
format) and served in that container's style (CSV in, probabilities out).

Trained with the ``hist`` method on one thread with a fixed seed, so the same XGBoost gives
the same bytes. Needs the ``dev`` extra (scikit-learn for the data, xgboost-cpu).
"""

from __future__ import annotations

from pathlib import Path

from sagepack.examples.common import Answerer, Writer, csv_rows, need

NAME = "xgboost-cancer"
INSTALL = "pip install -e '.[dev]' (scikit-learn, xgboost-cpu)"
MODEL_FILE = "xgboost-model"
PARAMS = {"objective": "binary:logistic", "eval_metric": "logloss", "max_depth": 3,
          "eta": 0.3, "tree_method": "hist", "nthread": 1, "seed": 0}
ROUNDS = 20
# Rows of the data set: malignant and benign tumours, and two the model is less sure of.
SAMPLE_INDEX = [0, 19, 40, 73, 135, 568]


def check_tools() -> None:
    for module in ("sklearn", "xgboost"):
        need(module, INSTALL, NAME)


def train() -> tuple[bytes, list[list[float]]]:
    """The booster's bytes (UBJSON) and the sample rows."""
    import xgboost as xgb
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    booster = xgb.train(PARAMS, xgb.DMatrix(data.data, label=data.target), ROUNDS)
    rows = [[float(v) for v in data.data[i]] for i in SAMPLE_INDEX]
    return bytes(booster.save_raw("ubj")), rows


def generate(model_root: Path) -> list[Path]:
    """(Re)write ``xgboost-model``, the samples and their expected responses."""
    model_bytes, rows = train()
    out = Writer(model_root)
    out.put(MODEL_FILE, model_bytes)
    body = csv_rows(rows)
    out.put("samples/request.csv", body)
    model = Answerer(model_root)
    out.put("samples/response.csv", model.answer(body, "text/csv", "text/csv"))
    out.put("samples/response.json", model.answer(body, "text/csv", "application/json"))
    batch = csv_rows(rows * 4)
    out.put("samples/transform/input/batch.csv", batch)
    out.put("samples/transform/expected/batch.csv.out",
            model.answer(batch, "text/csv", "text/csv"))
    return out.written
