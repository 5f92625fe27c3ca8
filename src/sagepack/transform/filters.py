"""SageMaker batch transform data processing: ``InputFilter``, ``JoinSource``, ``OutputFilter``.

As documented in "Associate Prediction Results with Input Records":

* A CSV record is taken as a JSON array of its fields (RFC 4180), so only index paths
  apply: ``InputFilter "$[1:]"`` drops the first column. Fields stay the strings they were.
* ``JoinSource=Input`` on CSV appends the prediction's fields to the *original* input row:
  record ``1,2,3`` with prediction ``1`` gives ``1,2,3,1``.
* ``JoinSource=Input`` on JSON puts the prediction under ``SageMakerOutput`` in the input
  object; an input that is not an object becomes ``{"SageMakerInput": ..., "SageMakerOutput":
  ...}``.
* ``OutputFilter`` selects from the joined record (or from the prediction alone without a
  join): ``"$[0,-1]"`` keeps an id column and the prediction.

To join, the response to a request of n records must hold n predictions: n lines, or for
JSON a single array of n items. A request of one record takes the whole response.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from sagepack.errors import TransformError
from sagepack.transform.jsonpath import JsonPath, JsonPathError
from sagepack.transform.params import JobParameters

__all__ = ["DataProcessor", "ProcessingError"]


class ProcessingError(TransformError):
    """A record or a response does not fit the data processing asked for."""


class DataProcessor:
    """Applies a job's filters and join to records and responses."""

    def __init__(self, params: JobParameters) -> None:
        fmt = params.data_format
        if fmt is None:
            raise TransformError(
                f"data processing needs a CSV or JSON content type, got {params.content_type!r}"
            )
        self.format: str = fmt
        self.input_filter: JsonPath = params.input_filter
        self.output_filter: JsonPath = params.output_filter
        self.join: bool = params.join_source == "Input"

    @property
    def per_record_output(self) -> bool:
        """Whether responses must be split into one prediction per record."""
        return self.join or not self.output_filter.is_identity

    # --- input side ----------------------------------------------------------------

    def filter_input(self, record: bytes) -> bytes:
        """The part of ``record`` the model receives."""
        if self.input_filter.is_identity:
            return record
        value = self._select(self.input_filter, self._parse(record, "input record"))
        return self._dump(value)

    # --- output side ---------------------------------------------------------------

    def split_response(self, body: bytes, count: int) -> list[bytes]:
        """One prediction per record from the response to ``count`` records."""
        if count == 1:
            return [_strip_newline(body)]
        lines = _strip_newline(body).split(b"\n")
        lines = [line.removesuffix(b"\r") for line in lines]
        if len(lines) == count:
            return lines
        if self.format == "json" and len(lines) == 1:
            try:
                items = json.loads(lines[0])
            except ValueError:
                items = None
            if isinstance(items, list) and len(items) == count:
                return [self._dump(item) for item in items]
        raise ProcessingError(
            f"the response holds {len(lines)} line(s) for {count} records; joining and "
            "filtering outputs needs one prediction per record (one line each"
            + (", or a JSON array" if self.format == "json" else "")
            + ")"
        )

    def finish(self, record: bytes, prediction: bytes) -> bytes:
        """The output for one record: joined with its input and filtered as asked."""
        if self.format == "csv":
            output: Any = _csv_row(prediction, "prediction")
            if self.join:
                output = _csv_row(record, "input record") + output
        else:
            output = _json_or_string(prediction)
            if self.join:
                original = self._parse(record, "input record")
                if isinstance(original, dict):
                    output = {**original, "SageMakerOutput": output}
                else:
                    output = {"SageMakerInput": original, "SageMakerOutput": output}
        return self._dump(self._select(self.output_filter, output))

    # --- helpers -------------------------------------------------------------------

    def _parse(self, raw: bytes, what: str) -> Any:
        if self.format == "csv":
            return _csv_row(raw, what)
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise ProcessingError(f"{what} is not valid JSON ({exc})") from exc

    def _dump(self, value: Any) -> bytes:
        if self.format == "csv":
            row = value if isinstance(value, list) else [value]
            buf = io.StringIO()
            csv.writer(buf, lineterminator="").writerow(
                [_csv_field(v) for v in row]
            )
            return buf.getvalue().encode()
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()

    @staticmethod
    def _select(path: JsonPath, value: Any) -> Any:
        try:
            return path.apply(value)
        except JsonPathError as exc:
            raise ProcessingError(str(exc)) from exc


def _strip_newline(body: bytes) -> bytes:
    return body.removesuffix(b"\n").removesuffix(b"\r")


def _csv_row(raw: bytes, what: str) -> list[str]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProcessingError(f"{what} is not UTF-8 text ({exc})") from exc
    rows = list(csv.reader(io.StringIO(text.rstrip("\r\n")), strict=True))
    if len(rows) > 1:
        raise ProcessingError(f"{what} holds {len(rows)} CSV rows, expected one")
    return rows[0] if rows else []


def _csv_field(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def _json_or_string(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", errors="replace")
