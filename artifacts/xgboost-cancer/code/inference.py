"""Breast cancer classifier in the style of AWS's XGBoost container.

The model is the file AWS's container loads, ``xgboost-model`` (XGBoost's own format), and
the contract is that container's: ``text/csv`` rows in (no header, no label column, 30
features), the probability that the tumour is benign out, one per row, as ``text/csv``
(one a line) or ``application/json`` (``{"predictions": [{"score": p}, ...]}``).

The booster predicts on this worker's GPU when there is one (``context.system_properties
["gpu_id"]``, as AWS's containers pass it, and an XGBoost built with CUDA: the ``xgboost``
wheel, not ``xgboost-cpu``), else on the CPU, and the log says which.
"""

import json
import logging
import os
from io import StringIO

import numpy as np
import xgboost as xgb

logger = logging.getLogger(__name__)
FEATURES = 30


class RequestError(ValueError):
    """A request this handler cannot answer; the server answers with ``status_code``."""

    def __init__(self, status_code, message):
        super().__init__(message)
        self.status_code = status_code


def model_fn(model_dir, context=None):
    booster = xgb.Booster()
    # The file has no extension to tell its format: XGBoost reads it from the bytes.
    with open(os.path.join(model_dir, "xgboost-model"), "rb") as f:
        booster.load_model(bytearray(f.read()))
    gpu_id = context.system_properties.get("gpu_id") if context is not None else None
    if gpu_id is not None and xgb.build_info().get("USE_CUDA"):
        device, why = f"cuda:{gpu_id}", f"gpu_id {gpu_id}"
    elif gpu_id is not None:
        device, why = "cpu", f"gpu_id {gpu_id}, but this XGBoost is built without CUDA"
    else:
        device, why = "cpu", "no GPU visible"
    booster.set_param({"device": device, "nthread": 1})
    logger.info("XGBoost %s predicts on %s (%s)", xgb.__version__, device, why)
    return booster


def input_fn(request_body, request_content_type):
    """CSV rows -> a DMatrix, as AWS's XGBoost container reads ``text/csv``."""
    if request_content_type != "text/csv":
        raise RequestError(415, f"content type {request_content_type!r} is not supported: "
                                "send text/csv rows of 30 features")
    text = request_body.decode("utf-8") if isinstance(request_body, bytes) else request_body
    try:
        rows = np.loadtxt(StringIO(text), delimiter=",", ndmin=2, dtype=np.float32)
    except ValueError as exc:
        raise RequestError(400, f"cannot read the CSV body: {exc}") from None
    if rows.shape[1] != FEATURES:
        raise RequestError(400, f"expected rows of {FEATURES} features, got {rows.shape[1]}")
    return xgb.DMatrix(rows)


def predict_fn(input_data, model):
    return model.predict(input_data)


def output_fn(prediction, accept):
    media = [part.split(";")[0].strip() for part in accept.split(",")]
    if "text/csv" in media:
        return "".join(f"{float(p):.7g}\n" for p in prediction), "text/csv"
    if "application/json" in media:
        scores = [{"score": round(float(p), 7)} for p in prediction]
        return json.dumps({"predictions": scores}), "application/json"
    raise RequestError(406, f"Accept {accept!r} is not supported: text/csv or application/json")
