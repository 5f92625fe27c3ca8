"""A linear scorer that streams its answer: one JSON line per input row, sent as it is
computed (HTTP/1.1 chunked, for ``InvokeEndpointWithResponseStream``).

Requests: ``application/json`` (``{"instances": [[x1, x2, x3], ...]}`` or a bare list of
rows) or ``application/jsonlines`` (one row, or ``{"features": [...]}``, per line).
Response: ``application/jsonlines``, ``{"row": i, "score": s}`` per row, where ``s`` is the
dot product of the row with ``weights.json``'s weights plus its bias.
"""

from __future__ import annotations

import json
import os

import numpy as np

try:  # answer 4xx through sagepack's error type when running under sagepack
    from sagepack.errors import InferenceError
except ImportError:  # pragma: no cover - running under another server
    InferenceError = None  # type: ignore[assignment,misc]


class BadRequest(ValueError):
    """Raised for input that cannot be read; the server answers its ``status_code``."""

    def __init__(self, message, status_code=400):
        super().__init__(message)
        self.status_code = status_code


def _bad(message, status_code=400):
    if InferenceError is not None:
        return InferenceError(status_code, message)
    return BadRequest(message, status_code)


def model_fn(model_dir):
    with open(os.path.join(model_dir, "weights.json"), encoding="utf-8") as fh:
        spec = json.load(fh)
    return {"weights": np.asarray(spec["weights"], dtype=np.float64),
            "bias": float(spec["bias"])}


def _rows(rows, width):
    try:
        array = np.asarray(rows, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise _bad(f"rows must be numbers: {exc}") from None
    if array.ndim == 1:
        array = array.reshape(1, -1)
    if array.ndim != 2 or array.shape[1] != width or array.shape[0] == 0:
        raise _bad(f"expected rows of {width} numbers, got shape {list(array.shape)}")
    return array


def input_fn(body, content_type):
    media = content_type.split(";")[0].strip().lower()
    text = body.decode("utf-8") if isinstance(body, (bytes, bytearray)) else str(body)
    try:
        if media == "application/json":
            data = json.loads(text)
            if isinstance(data, dict):
                data = data.get("instances")
            return data
        if media == "application/jsonlines":
            rows = []
            for line in text.splitlines():
                if line.strip():
                    item = json.loads(line)
                    rows.append(item["features"] if isinstance(item, dict) else item)
            return rows
    except (ValueError, KeyError, TypeError) as exc:
        raise _bad(f"cannot read the {media} body: {exc}") from None
    raise _bad(f"unsupported content type {content_type!r}: application/json or "
               "application/jsonlines", 415)


def predict_fn(data, model):
    rows = _rows(data, len(model["weights"]))

    def lines():  # one chunk per row, each sent as soon as it is scored
        for index, row in enumerate(rows):
            score = float(row @ model["weights"] + model["bias"])
            yield json.dumps({"row": index, "score": round(score, 6)}) + "\n"
    return lines()


def output_fn(prediction, accept):
    media = accept.split(";")[0].strip().lower()
    if media not in ("application/jsonlines", "*/*", ""):
        raise _bad(f"unsupported Accept {accept!r}: application/jsonlines", 406)
    return prediction, "application/jsonlines"
