"""What every baseline app shares: loading the handler, and one request through it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from sagepack.serving.context import Context
from sagepack.serving.handler import Handler, Stream

MODEL_DIR_VARIABLE = "SAGEPACK_BENCH_MODEL_DIR"
DEFAULT_TYPE = "application/json"


class LoadedModel:
    """The handler of ``<model_dir>/code/inference.py`` and the model its model_fn made."""

    def __init__(self, model_dir: Path) -> None:
        self.model_dir = model_dir
        self.handler = Handler.load(model_dir / "code" / "inference.py")
        self.model = self.handler.load_model(model_dir)

    @classmethod
    def from_environment(cls) -> LoadedModel:
        try:
            return cls(Path(os.environ[MODEL_DIR_VARIABLE]))
        except KeyError:
            raise SystemExit(f"{MODEL_DIR_VARIABLE} must name the model folder") from None

    def call(self, body: bytes, content_type: str | None, accept: str | None,
             headers: Mapping[str, str]) -> tuple[bytes | Stream, str]:
        """(response body or the stream to send, its content type) for one request, as
        sagepack computes them."""
        media = (content_type or DEFAULT_TYPE).split(";")[0].strip().lower()
        wanted = accept if accept not in (None, "", "*/*") else DEFAULT_TYPE
        context = Context(self.model_dir, media, wanted, dict(headers))
        return self.handler.invoke(self.model, body, context, str(wanted), DEFAULT_TYPE)

    def invoke(self, body: bytes, content_type: str | None, accept: str | None,
               headers: Mapping[str, str]) -> tuple[bytes, str]:
        """(response body, its content type): :meth:`call` for a handler that does not
        stream (TypeError if it does)."""
        answer, media_type = self.call(body, content_type, accept, headers)
        if not isinstance(answer, bytes):
            raise TypeError("this server answers with one body, not a stream")
        return answer, media_type
