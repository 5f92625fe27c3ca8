"""Default codecs (used when the handler has no ``input_fn`` / ``output_fn``) and Accept
negotiation.

Request types: ``application/json`` (a number or nested list of numbers; several JSON
documents on separate lines are many records), ``text/csv`` (numbers, one record a line),
``application/jsonlines`` (one JSON document a line) and ``application/x-npy``. Each
decodes to a numpy array. Response types: the same four. A body that does not parse is a
400 naming the problem; an unknown Content-Type is a 415; an Accept with none of the four
is a 406.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from sagepack.errors import InferenceError
from sagepack.serving import parameters as p
from sagepack.serving.context import Context

#: Media types the default codecs read and write.
SUPPORTED: tuple[str, ...] = (p.JSON, p.CSV, p.JSONLINES, p.NPY)
_ALIASES = {alias: p.JSONLINES for alias in p.JSONLINES_ALIASES} | {"application/npy": p.NPY}
_NUMERIC_KINDS = frozenset("biuf")


def media_type(header: str) -> str:
    """The bare media type of a Content-Type or Accept value: no parameters, lower case."""
    bare = header.split(";", 1)[0].strip().lower()
    return _ALIASES.get(bare, bare)


def negotiate(accept: str | None, default: str, supported: Sequence[str] = SUPPORTED) -> str | None:
    """The response type to use for ``accept``, or None when none is acceptable (406).

    A missing Accept or ``*/*`` gives ``default``; ``q`` values and parameters such as
    ``; charset=utf-8`` are understood; at equal ``q`` a concrete type beats a wildcard.
    """
    if accept is None or not accept.strip():
        return default if default in supported else supported[0]
    best: str | None = None
    best_rank = (-1.0, -1)
    for part in accept.split(","):
        pieces = part.split(";")
        wanted = media_type(pieces[0])
        if not wanted:
            continue
        q = 1.0
        for param in pieces[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
                if math.isnan(q):
                    q = 0.0
        if q <= 0:
            continue
        candidate: str | None
        if wanted in {"*/*", "*"}:
            candidate, specificity = (default if default in supported else supported[0]), 0
        elif wanted.endswith("/*"):
            prefix = wanted[:-1]
            options = [t for t in (default, *supported) if t in supported and t.startswith(prefix)]
            candidate, specificity = (options[0] if options else None), 1
        else:
            candidate, specificity = (wanted if wanted in supported else None), 2
        if candidate is not None and (q, specificity) > best_rank:
            best, best_rank = candidate, (q, specificity)
    return best


def accept_for_handler(accept: str | None, default: str) -> str:
    """What a handler's own ``output_fn`` receives as ``accept``.

    A missing Accept or ``*/*`` becomes ``default``; a single media range loses its
    parameters; a list of ranges is passed as sent.
    """
    if accept is None or not accept.strip():
        return default
    if "," in accept:
        return accept.strip()
    bare = media_type(accept)
    return default if bare in {"*/*", "*"} else bare


def decode(body: bytes, content_type: str, context: Context) -> np.ndarray[Any, Any]:
    """Decode a request body of bare media type ``content_type`` into a numpy array."""
    if content_type == p.JSON:
        return _decode_json(body, context)
    if content_type == p.CSV:
        return _decode_csv(body, context)
    if content_type == p.JSONLINES:
        records = _json_records(_text(body, content_type), content_type)
        context.multi_record = True
        return _numbers(records, content_type)
    if content_type == p.NPY:
        return _decode_npy(body)
    raise InferenceError(
        415,
        f"unsupported Content-Type {content_type!r}: the default input_fn reads "
        + ", ".join(SUPPORTED) + "; define input_fn in the handler for other types",
    )


def encode(prediction: object, accept: str, context: Context) -> bytes:
    """Encode ``prediction`` as the (negotiated, supported) media type ``accept``."""
    try:
        if accept == p.JSON:
            if context.multi_record:
                return _lines(json.dumps(_plain(item)) for item in _records(prediction))
            return json.dumps(_plain(prediction)).encode()
        if accept == p.JSONLINES:
            return _lines(json.dumps(_plain(item)) for item in _records(prediction))
        if accept == p.CSV:
            return _encode_csv(prediction)
        if accept == p.NPY:
            buffer = io.BytesIO()
            np.save(buffer, np.asarray(prediction), allow_pickle=False)
            return buffer.getvalue()
    except (TypeError, ValueError) as exc:
        raise InferenceError(
            500, f"the prediction ({type(prediction).__name__}) cannot be encoded as {accept}: {exc}"
        ) from exc
    raise InferenceError(406, f"unsupported Accept {accept!r}; supported: {', '.join(SUPPORTED)}")


# --- decoding -----------------------------------------------------------------------------


def _text(body: bytes, content_type: str) -> str:
    if not body.strip():
        raise InferenceError(400, f"empty body for Content-Type {content_type}")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InferenceError(400, f"{content_type} body is not valid UTF-8: {exc}") from exc


def _loads(text: str, content_type: str, where: str = "") -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InferenceError(400, f"malformed {content_type} body{where}: {exc}") from exc
    except RecursionError as exc:
        raise InferenceError(400, f"{content_type} body{where} is nested too deeply") from exc


def _json_records(text: str, content_type: str) -> list[Any]:
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            records.append(_loads(line, content_type, f" (line {number})"))
    if not records:
        raise InferenceError(400, f"empty body for Content-Type {content_type}")
    return records


def _decode_json(body: bytes, context: Context) -> np.ndarray[Any, Any]:
    text = _text(body, p.JSON)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg != "Extra data" or "\n" not in text.strip():
            raise InferenceError(400, f"malformed {p.JSON} body: {exc}") from exc
        # Batch transform with SplitType=Line sends many JSON documents, one a line.
        context.multi_record = True
        return _numbers(_json_records(text, p.JSON), p.JSON)
    except RecursionError as exc:
        raise InferenceError(400, f"{p.JSON} body is nested too deeply") from exc
    return _numbers(value, p.JSON)


def _numbers(value: Any, content_type: str) -> np.ndarray[Any, Any]:
    hint = ("the default input_fn takes a number or a (nested) list of numbers; "
            "define input_fn in the handler for other input")
    if isinstance(value, dict | str) or value is None:
        raise InferenceError(400, f"{content_type} body holds a {type(value).__name__}: {hint}")
    try:
        array = np.asarray(value)
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise InferenceError(400, f"{content_type} body is not a rectangular array of numbers: "
                             f"{exc}") from exc
    if array.dtype.kind not in _NUMERIC_KINDS:
        raise InferenceError(400, f"{content_type} body is not made only of numbers: {hint}")
    return array


def _decode_csv(body: bytes, context: Context) -> np.ndarray[Any, Any]:
    text = _text(body, p.CSV)
    rows: list[list[float]] = []
    try:
        for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
            if not row or all(not cell.strip() for cell in row):
                continue
            try:
                rows.append([float(cell) for cell in row])
            except ValueError as exc:
                raise InferenceError(400, f"malformed text/csv body (line {number}): {exc}") from exc
            if len(rows[-1]) != len(rows[0]):
                raise InferenceError(
                    400, f"malformed text/csv body: line {number} has {len(rows[-1])} values, "
                         f"the first line {len(rows[0])}")
    except csv.Error as exc:
        raise InferenceError(400, f"malformed text/csv body: {exc}") from exc
    if not rows:
        raise InferenceError(400, "empty body for Content-Type text/csv")
    context.multi_record = len(rows) > 1
    return np.array(rows, dtype=np.float64)


def _decode_npy(body: bytes) -> np.ndarray[Any, Any]:
    stream = io.BytesIO(body)
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, _fortran, dtype = np.lib.format.read_array_header_1_0(stream)
        else:
            shape, _fortran, dtype = np.lib.format.read_array_header_2_0(stream)
        if dtype.hasobject:
            raise ValueError("object arrays are not accepted")
        expected = math.prod(shape) * dtype.itemsize
        if expected != len(body) - stream.tell():
            raise ValueError(f"header says {expected} data bytes, body has "
                             f"{len(body) - stream.tell()}")
        stream.seek(0)
        array = np.load(stream, allow_pickle=False)
    except (ValueError, OSError, EOFError, TypeError, SyntaxError, OverflowError) as exc:
        raise InferenceError(400, f"malformed application/x-npy body: {exc}") from exc
    if not isinstance(array, np.ndarray):  # pragma: no cover - np.load of .npy gives arrays
        raise InferenceError(400, "application/x-npy body is not one array")
    return array


# --- encoding -----------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _records(prediction: object) -> Iterable[Any]:
    if isinstance(prediction, np.ndarray):
        return [prediction] if prediction.ndim == 0 else list(prediction)
    if isinstance(prediction, list | tuple):
        return prediction
    return [prediction]


def _lines(lines: Iterable[str]) -> bytes:
    return "".join(line + "\n" for line in lines).encode()


def _encode_csv(prediction: object) -> bytes:
    array = np.asarray(_plain(prediction) if not isinstance(prediction, np.ndarray) else prediction)
    if array.ndim > 2:
        raise ValueError(f"text/csv holds at most 2 dimensions, the prediction has {array.ndim}")
    rows = array.reshape(1, 1) if array.ndim == 0 else array.reshape(-1, 1) if array.ndim == 1 else array
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows.tolist())
    return buffer.getvalue().encode()
