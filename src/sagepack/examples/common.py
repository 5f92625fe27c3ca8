"""What every bundled example's generator shares: writing its files, and answering its
samples with the model's own handler, run on the host as the image's server runs it.

The expected responses are computed by :class:`sagepack.serving.handler.Handler`, the code
that serves the handler inside the image: the handler's own ``input_fn``/``output_fn``, or
the default codecs with the same Accept negotiation as the server.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from sagepack.errors import SagepackError
from sagepack.files import atomic_write


def need(module: str, install: str, example: str) -> ModuleType:
    """Import ``module`` or say which install regenerating ``example`` needs."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise SagepackError(f"regenerating the {example} example needs {module} on this "
                            f"machine ({exc}): {install}") from exc


def load_module(path: Path, name: str) -> ModuleType:
    """Import the Python file ``path`` as module ``name`` (a handler's classes, say)."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SagepackError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def csv_rows(rows: list[list[float]]) -> str:
    """Rows as CSV text, one row a line, numbers as Python writes them."""
    return "".join(",".join(repr(float(v)) if isinstance(v, float) else str(v) for v in row)
                   + "\n" for row in rows)


@dataclass
class Writer:
    """Writes the example's files under ``root`` (each through a temporary name), in order."""

    root: Path
    written: list[Path] = field(default_factory=list)

    def put(self, rel: str, data: bytes | str) -> None:
        atomic_write(self.root / rel, data)
        self.written.append(self.root / rel)


class Answerer:
    """The model folder's handler and model, loaded once on the host, answering requests."""

    def __init__(self, model_root: Path, handler: str = "code/inference.py") -> None:
        from sagepack.serving.handler import Handler

        self.model_dir = model_root
        self.handler = Handler.load(model_root / handler,
                                    module_name=f"sagepack_example_{model_root.name}")
        self.model: Any = self.handler.load_model(model_root)

    def answer(self, body: bytes | str, content_type: str, accept: str) -> bytes:
        """The response body the image's server sends for this request."""
        from sagepack.serving import codecs
        from sagepack.serving.context import Context
        from sagepack.serving.handler import Stream

        raw = body.encode("utf-8") if isinstance(body, str) else body
        if self.handler.negotiates:
            chosen = codecs.negotiate(accept, accept)
            if chosen is None:
                raise SagepackError(f"the default codecs cannot answer Accept {accept!r}")
        else:
            chosen = codecs.accept_for_handler(accept, accept)
        context = Context(self.model_dir, codecs.media_type(content_type), chosen, {})
        result, _ = self.handler.invoke(self.model, raw, context, chosen, chosen)
        if isinstance(result, Stream):
            raise SagepackError("the example's handler streams: record its answers with "
                                "`invoke test --record` instead")
        return result


def write_model_and_samples(model_root: Path, model_file: str, model_bytes: bytes,
                            rows: list[list[float]], batch_repeat: int = 3) -> list[Path]:
    """Write the model, JSON and CSV requests of ``rows`` with the handler's answers to each,
    and a batch transform input (``rows`` ``batch_repeat`` times) with its expected output;
    the paths written."""
    out = Writer(model_root)
    out.put(model_file, model_bytes)
    requests = {
        "request.json": ("application/json", json.dumps(rows) + "\n"),
        "request.csv": ("text/csv", csv_rows(rows)),
    }
    model = Answerer(model_root)
    for name, (ctype, body) in requests.items():
        out.put(f"samples/{name}", body)
        out.put(f"samples/response.{name.rsplit('.', 1)[1]}", model.answer(body, ctype, ctype))
    batch = csv_rows(rows * batch_repeat)
    out.put("samples/transform/input/batch.csv", batch)
    out.put("samples/transform/expected/batch.csv.out",
            model.answer(batch, "text/csv", "text/csv"))
    return out.written
