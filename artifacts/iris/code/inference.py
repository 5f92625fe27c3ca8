"""Iris classifier handler in the SageMaker inference convention, running onnxruntime.

Requests: ``application/json`` (``{"instances": [[5.1, 3.5, 1.4, 0.2], ...]}`` or a bare list
of rows), ``text/csv`` (one row of four numbers per line) or ``application/jsonlines`` (one
row, or ``{"features": [...]}``, per line). Responses in the same three types.
"""

from __future__ import annotations

import csv
import io
import json
import os

import numpy as np
import onnxruntime as ort

FEATURES = 4


class BadRequest(ValueError):
    """Raised for input that cannot be read; the server answers 400."""

    status_code = 400


try:  # answer 4xx through sagepack's error type when running under sagepack
    from sagepack.errors import InferenceError
except ImportError:  # pragma: no cover - running under another server
    InferenceError = None  # type: ignore[assignment,misc]


def _bad(message: str) -> Exception:
    if InferenceError is not None:
        return InferenceError(400, message)
    return BadRequest(message)


def model_fn(model_dir):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider")
                 if p in ort.get_available_providers()]
    session = ort.InferenceSession(os.path.join(model_dir, "model.onnx"),
                                   sess_options=options, providers=providers)
    with open(os.path.join(model_dir, "labels.json"), encoding="utf-8") as fh:
        labels = json.load(fh)
    return {"session": session, "labels": labels,
            "input": session.get_inputs()[0].name}


def _rows(rows):
    try:
        array = np.asarray(rows, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise _bad(f"rows must be numbers: {exc}") from None
    if array.ndim == 1:
        array = array.reshape(1, -1)
    if array.ndim != 2 or array.shape[1] != FEATURES:
        raise _bad(f"expected rows of {FEATURES} numbers, got shape {list(array.shape)}")
    return array


def input_fn(body, content_type):
    media = content_type.split(";")[0].strip().lower()
    try:
        text = body.decode("utf-8") if isinstance(body, (bytes, bytearray)) else str(body)
        if media == "application/json":
            data = json.loads(text)
            if isinstance(data, dict):
                data = data.get("instances", data.get("features"))
            return _rows(data)
        if media == "text/csv":
            return _rows([[float(v) for v in row] for row in csv.reader(io.StringIO(text))
                          if row])
        if media == "application/jsonlines":
            rows = []
            for line in text.splitlines():
                if line.strip():
                    item = json.loads(line)
                    rows.append(item.get("features") if isinstance(item, dict) else item)
            return _rows(rows)
    except (ValueError, UnicodeDecodeError) as exc:
        if InferenceError is not None and isinstance(exc, InferenceError):
            raise
        raise _bad(f"cannot read {media} body: {exc}") from None
    if InferenceError is not None:
        raise InferenceError(415, f"unsupported content type {content_type!r}")
    raise ValueError(f"unsupported content type {content_type!r}")


def predict_fn(data, model):
    label_ids, probabilities = model["session"].run(None, {model["input"]: data})
    return [
        {"label": model["labels"][int(i)],
         "probabilities": [round(float(p), 6) for p in probs]}
        for i, probs in zip(label_ids, probabilities)
    ]


def output_fn(prediction, accept):
    media = (accept or "application/json").split(";")[0].strip().lower()
    if media in ("application/json", "*/*"):
        return json.dumps({"predictions": prediction}), "application/json"
    if media == "text/csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        for item in prediction:
            writer.writerow([item["label"], *item["probabilities"]])
        return out.getvalue(), "text/csv"
    if media == "application/jsonlines":
        return "".join(json.dumps(item) + "\n" for item in prediction), "application/jsonlines"
    if InferenceError is not None:
        raise InferenceError(406, f"unsupported Accept {accept!r}")
    raise ValueError(f"unsupported Accept {accept!r}")
