"""The handler convention: find, import and check ``inference.py``, then run its functions.

A handler module defines ``model_fn(model_dir)`` and either any of ``input_fn(body,
content_type)``, ``predict_fn(data, model)``, ``output_fn(prediction, accept)``, or
``transform_fn(model, body, content_type, accept)`` alone. Each may take a trailing
``context`` argument (:class:`~sagepack.serving.context.Context`). Omitted functions fall
back to the default codecs and to ``model.predict(data)`` (or ``model(data)``).

``body`` is ``bytes``, except that JSON and CSV bodies arrive as a ``str`` that also has
``.decode()`` (:class:`TextBody`), so scripts written for AWS's scikit-learn container
(``StringIO(body)``) and for its PyTorch container (``body.decode()``) both run.
``content_type`` is the request's media type without parameters, in lower case. ``accept``
is the Accept header, with a missing Accept or ``*/*`` replaced by the default response
type and a single media range stripped of its parameters. ``output_fn`` and
``transform_fn`` return the body (bytes or str) or ``(body, content_type)``.

A response is streamed when ``predict_fn`` (or the model), ``output_fn`` or ``transform_fn``
returns an iterator or async iterator (a generator, sync or async) instead: each chunk it
yields (bytes or str) is sent as it comes, with the content type of ``(stream,
content_type)``, else the Accept type (see :mod:`.streaming`). A stream from ``predict_fn``
skips the default encoder.

Every problem with the module (it does not exist, does not import, lacks ``model_fn``, mixes
``transform_fn`` with the others, has functions of the wrong arity) is a
:class:`~sagepack.errors.HandlerError` naming the file and the function.
"""

from __future__ import annotations

import csv
import importlib.util
import inspect
import json
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from sagepack.errors import HandlerError, InferenceError
from sagepack.serving import codecs
from sagepack.serving.context import Context

# Bodies handed to input_fn/transform_fn as text, as AWS's scikit-learn container does.
_TEXT_TYPES = frozenset({"application/json", "text/csv"})
# Exceptions that, raised by input_fn, mean the body does not parse.
_MALFORMED = (UnicodeDecodeError, json.JSONDecodeError, csv.Error, RecursionError)


@dataclass(frozen=True)
class Function:
    """One handler function and whether it takes the trailing context argument."""

    name: str
    fn: Callable[..., Any]
    takes_context: bool

    def __call__(self, context: Context, *args: Any) -> Any:
        try:
            if self.takes_context:
                return self.fn(*args, context)
            return self.fn(*args)
        except InferenceError:
            raise
        except Exception as exc:  # the one boundary between handler code and HTTP statuses
            raise handler_failure(self.name, exc) from exc


def handler_failure(stage: str, exc: BaseException) -> InferenceError:
    """The HTTP error for an exception raised by handler code.

    An exception carrying an integer ``status_code`` from 400 to 599 (as AWS's toolkit
    errors do) keeps it. A body that ``input_fn`` could not decode (UnicodeDecodeError,
    json.JSONDecodeError, csv.Error, or nesting too deep to parse) is the client's fault: 400. Any
    other exception is a 500 naming the function and the exception.
    """
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and not isinstance(status, bool) and 400 <= status <= 599:
        return InferenceError(status, str(getattr(exc, "message", "") or exc) or type(exc).__name__)
    if stage == "input_fn" and isinstance(exc, _MALFORMED):
        return InferenceError(400, f"malformed request body: input_fn raised "
                                   f"{type(exc).__name__}: {exc}")
    return InferenceError(500, f"{stage} raised {type(exc).__name__}: {exc}")


@dataclass(frozen=True)
class Handler:
    """A checked handler module."""

    path: Path
    model_fn: Function
    input_fn: Function | None = None
    predict_fn: Function | None = None
    output_fn: Function | None = None
    transform_fn: Function | None = None

    @classmethod
    def load(cls, path: Path, module_name: str | None = None) -> Handler:
        """Import the handler file at ``path`` (its folder goes on ``sys.path``) and check it.

        The module is registered in ``sys.modules`` as ``module_name`` (default: the file's
        stem): multi-model serving gives each model's handler a name of its own.
        """
        if not path.is_file():
            hint = f"; files in {path.parent}: {', '.join(sorted(f.name for f in path.parent.iterdir()))}" \
                if path.parent.is_dir() else f" ({path.parent} does not exist)"
            raise HandlerError(f"handler {path} does not exist{hint}; put inference.py in the "
                               "model's code/ folder or set SAGEMAKER_PROGRAM")
        folder = str(path.parent)
        if folder not in sys.path:
            sys.path.insert(0, folder)
        name = module_name or path.stem
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:  # pragma: no cover - a .py file always has one
            raise HandlerError(f"handler {path} cannot be imported")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # whatever the import raised, the handler is unusable
            sys.modules.pop(name, None)
            raise HandlerError(f"importing handler {path} failed: {type(exc).__name__}: {exc}") from exc
        return cls.from_module(module, path)

    @classmethod
    def from_module(cls, module: ModuleType | object, path: Path) -> Handler:
        """Check the functions of an imported module (or any object with those attributes)."""
        def bind(name: str, arity: int, names: str) -> Function | None:
            fn = getattr(module, name, None)
            if fn is None:
                return None
            if not callable(fn):
                raise HandlerError(f"handler {path}: {name} is a {type(fn).__name__}, not a function")
            return Function(name, fn, _takes_context(fn, name, arity, names, path))

        model_fn = bind("model_fn", 1, "model_dir")
        transform_fn = bind("transform_fn", 4, "model, body, content_type, accept")
        stages = {
            "input_fn": bind("input_fn", 2, "body, content_type"),
            "predict_fn": bind("predict_fn", 2, "data, model"),
            "output_fn": bind("output_fn", 2, "prediction, accept"),
        }
        if model_fn is None:
            raise HandlerError(f"handler {path} defines no model_fn(model_dir): it must, to load "
                               "the model from the model directory")
        mixed = [name for name, fn in stages.items() if fn is not None]
        if transform_fn is not None and mixed:
            raise HandlerError(f"handler {path} defines transform_fn together with "
                               f"{', '.join(mixed)}: define transform_fn alone, or only "
                               "input_fn/predict_fn/output_fn")
        return cls(path, model_fn, stages["input_fn"], stages["predict_fn"], stages["output_fn"],
                   transform_fn)

    @property
    def negotiates(self) -> bool:
        """True when the default encoder picks the response type (no output_fn/transform_fn)."""
        return self.output_fn is None and self.transform_fn is None

    @property
    def decodes(self) -> bool:
        """True when the default decoder reads the body (no input_fn/transform_fn)."""
        return self.input_fn is None and self.transform_fn is None

    def load_model(self, model_dir: Path, gpu_id: int | None = None) -> Any:
        """Call ``model_fn`` and check that the model can predict without a ``predict_fn``."""
        context = Context(model_dir=model_dir, gpu_id=gpu_id)
        try:
            model = self.model_fn(context, str(model_dir))
        except InferenceError as exc:
            raise HandlerError(f"model_fn of {self.path} failed: {exc.message}") from exc
        if (self.predict_fn is None and self.transform_fn is None
                and not callable(getattr(model, "predict", None)) and not callable(model)):
            raise HandlerError(
                f"handler {self.path} defines no predict_fn (nor transform_fn) and the model "
                f"model_fn returned ({type(model).__name__}) has no predict() and is not callable")
        return model

    def invoke(self, model: Any, body: bytes, context: Context, accept: str,
               default_type: str, text_bodies: bool = True) -> tuple[bytes | Stream, str]:
        """Run one request through the handler; ``accept`` is negotiated or handler-bound.

        ``default_type`` labels a body that output_fn/transform_fn returned without a type
        when ``accept`` names several. With ``text_bodies``, JSON and CSV bodies reach
        input_fn/transform_fn as :class:`TextBody` (see there).

        Returns the response body (or the :class:`Stream` to send) and its content type.
        Raises InferenceError.
        """
        raw: bytes | str = body
        if text_bodies and context.content_type in _TEXT_TYPES and not self.decodes:
            raw = TextBody.of(body)
        if self.transform_fn is not None:
            result = self.transform_fn(context, model, raw, context.content_type, accept)
            return _response(result, accept, default_type, "transform_fn")
        if self.input_fn is not None:
            data = self.input_fn(context, raw, context.content_type)
        else:
            data = codecs.decode(body, context.content_type, context)
        if self.predict_fn is not None:
            prediction = self.predict_fn(context, data, model)
        else:
            prediction = _default_predict(model, data)
        if self.output_fn is None and is_stream(prediction):
            return Stream(prediction, "predict_fn" if self.predict_fn else "model.predict"), accept
        if self.output_fn is not None:
            result = self.output_fn(context, prediction, accept)
            return _response(result, accept, default_type, "output_fn")
        return codecs.encode(prediction, accept, context), accept


@dataclass(frozen=True)
class Stream:
    """A response the handler produces chunk by chunk: ``source`` is an iterator or an async
    iterator of bytes or str; ``stage`` names the function that returned it."""

    source: Iterator[Any] | AsyncIterator[Any]
    stage: str

    @property
    def is_async(self) -> bool:
        return isinstance(self.source, AsyncIterator)


def is_stream(value: object) -> bool:
    """True for what a handler returns to stream: an iterator or async iterator (lists,
    arrays and other iterables that are not iterators are ordinary results)."""
    return isinstance(value, Iterator | AsyncIterator)


class TextBody(str):
    """A UTF-8 request body as ``str`` that also answers ``.decode()``.

    AWS's scikit-learn container hands JSON and CSV bodies to ``input_fn`` as ``str``
    (scripts wrap them in ``StringIO``); its PyTorch container hands ``bytes`` (scripts call
    ``.decode()`` or ``json.loads``). This type serves both. ``SAGEPACK_TEXT_BODIES=false``
    passes ``bytes`` instead; a body that is not UTF-8 is passed as ``bytes`` anyway.
    """

    __slots__ = ()

    @classmethod
    def of(cls, body: bytes) -> TextBody | bytes:
        try:
            return cls(body.decode("utf-8"))
        except UnicodeDecodeError:
            return body

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        """The text itself (it was decoded from UTF-8 already)."""
        return str(self)


def _default_predict(model: Any, data: Any) -> Any:
    predict = getattr(model, "predict", None)
    try:
        return predict(data) if callable(predict) else model(data)
    except InferenceError:
        raise
    except Exception as exc:  # the model is handler code too
        raise handler_failure("model.predict", exc) from exc


def _response(result: Any, accept: str, default_type: str,
              stage: str) -> tuple[bytes | Stream, str]:
    content_type: str | None = None
    if isinstance(result, tuple) and len(result) == 2:
        result, content_type = result
    body: bytes | Stream
    if is_stream(result):
        body = Stream(result, stage)
    elif isinstance(result, str):
        body = result.encode("utf-8")
    elif isinstance(result, bytes | bytearray | memoryview):
        body = bytes(result)
    else:
        raise InferenceError(500, f"{stage} returned {type(result).__name__}; return bytes, str, "
                                  "an iterator of them (a stream) or (body, content_type)")
    if not content_type:
        content_type = accept if "*" not in accept and "," not in accept else default_type
    return body, str(content_type)


def _takes_context(fn: Callable[..., Any], name: str, arity: int, names: str, path: Path) -> bool:
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins without a signature: call without context
        return False
    params = signature.parameters.values()
    if any(param.kind is inspect.Parameter.VAR_POSITIONAL for param in params):
        return False
    positional = [param for param in params if param.kind in
                  (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    required = [param for param in positional if param.default is inspect.Parameter.empty]
    if len(positional) == arity + 1:
        return True
    if len(required) <= arity <= len(positional):
        return False
    raise HandlerError(f"handler {path}: {name}{signature} must take ({names}) and optionally "
                       "a trailing context argument")
