"""The ASGI application: ``/ping``, ``/invocations`` and ``/execution-parameters``.

No framework: three routes do not need one, and every microsecond counts. Handler code runs
in an :class:`~sagepack.serving.pool.InferencePool`, so the event loop always answers
``/ping``. A handler that returns an iterator streams its response (:mod:`.streaming`).
Every error is a JSON body ``{"status": ..., "error": ..., "message": ...}``
(plus ``"traceback"`` when ``SAGEPACK_DEBUG`` is true). A response over SageMaker's 6 MB
real-time limit is still sent, with a warning in the log naming its size and the inference
id (``X-Amzn-SageMaker-Inference-Id``, else the server's request id ``<pid>-<n>``), so the
user sees why the platform failed it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sagepack.errors import HandlerError, InferenceError
from sagepack.serving import codecs, streaming
from sagepack.serving import parameters as p
from sagepack.serving.body import Disconnected, read_body
from sagepack.serving.context import Context
from sagepack.serving.handler import Handler, Stream
from sagepack.serving.loading import LoadWarning, capture_warnings
from sagepack.serving.logs import AccessLog, logger
from sagepack.serving.pool import CallTimeout, InferencePool
from sagepack.serving.replies import (
    JSON_HEADER,
    Receive,
    Scope,
    Send,
    header_value,
    send_body,
    send_error,
)
from sagepack.serving.settings import Settings

if TYPE_CHECKING:
    from sagepack.serving.models_api import ModelsApi

LOADING, READY, FAILED = "loading", "ready", "failed"
#: What an invocation runs with: the handler, the model, the model's directory.
Target = tuple[Handler, Any, Path]
#: Finds the target of an invocation (given when it started); raises InferenceError.
Resolve = Callable[[float], Awaitable[Target]]


class ServingApp:
    """One worker's application: its handler, its model, its inference pool.

    With ``log_load`` (the default) the app logs the warnings and the failure of loading
    itself; the server's workers pass False and leave that to the supervisor, which logs
    each once for all workers.
    """

    def __init__(self, settings: Settings, handler: Handler | None = None,
                 log_load: bool = True, gpu_id: int | None = None,
                 models: Sequence[Mapping[str, object]] = ()) -> None:
        self.settings = settings
        #: This worker's GPU (``context.system_properties["gpu_id"]``), None on CPU.
        self.gpu_id = gpu_id
        self.handler = handler
        self.model: Any = None
        self.state = LOADING
        self.failure = ""
        #: The traceback of the failure, as text ("" when it loaded).
        self.failure_detail = ""
        #: Warnings raised while the handler and the model loaded.
        self.warnings: tuple[LoadWarning, ...] = ()
        self.log_load = log_load
        self._access = AccessLog()
        self._requests = 0
        self.pool = InferencePool(settings.threads, settings.max_hung_threads)
        #: Called (on the loop) when hung handler calls have used up the worker.
        self.on_wedged: Callable[[], None] | None = None
        self._loading: concurrent.futures.Future[None] | None = None
        self._limit = settings.max_body_bytes
        self._execution_parameters = json.dumps(settings.execution_parameters()).encode()
        #: Multi-model endpoints: the ``/models`` routes; ``models`` are those to load at
        #: start (a worker forked after others loaded them).
        self.models: ModelsApi | None = None
        if settings.multi_model:
            from sagepack.serving.models_api import ModelsApi

            self.models = ModelsApi(self, models)

    # --- model loading --------------------------------------------------------------------

    def start_loading(self) -> concurrent.futures.Future[None]:
        """Load the handler and the model on the inference thread; returns when it's done."""
        if self._loading is None:
            self._loading = self.pool.submit_blocking(self._load)
        return self._loading

    def load(self) -> None:
        """Load the handler and the model, waiting for it; the state says how it went."""
        self.start_loading().result()

    def _load(self) -> None:
        started = time.perf_counter()
        with capture_warnings(self.settings.handler_path.stem) as caught:
            try:
                if self.models is not None:
                    self.models.load_at_start()
                else:
                    handler = self.handler or Handler.load(self.settings.handler_path)
                    self.handler = handler
                    self.model = handler.load_model(self.settings.model_dir, self.gpu_id)
            except HandlerError as exc:
                failure: tuple[str, BaseException] | None = (str(exc), exc.__cause__ or exc)
            except (Exception, SystemExit) as exc:  # noqa: BLE001 - reported on /ping and in the log
                failure = (f"loading the model failed: {type(exc).__name__}: {exc}", exc)
            else:
                failure = None
        self.warnings = tuple(caught)
        if self.log_load:
            for warning in self.warnings:
                logger.warning("%s%s", p.LOAD_WARNING_LOG, warning)
        if failure is not None:
            self._failed(*failure)
            return
        self.state = READY
        if self.models is None:
            logger.info("model loaded from %s by %s in %.0f ms", self.settings.model_dir,
                        self.settings.handler_path, (time.perf_counter() - started) * 1000)

    def _failed(self, reason: str, cause: BaseException) -> None:
        self.failure = reason
        self.failure_detail = "".join(traceback.format_exception(cause))
        self.state = FAILED
        if self.log_load:
            logger.error("model not loaded: %s", reason, exc_info=cause)

    def break_down(self, reason: str) -> None:
        """Answer 503 with ``reason`` from now on (another worker's model did not load)."""
        self.failure = reason
        self.state = FAILED

    # --- ASGI -------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.start_loading()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.pool.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        path: str = scope["path"]
        method: str = scope["method"]
        inference_id = ""
        outcome: streaming.Outcome | None = None
        if self.models is not None and (path == p.MODELS or path.startswith(p.MODELS + "/")):
            status, size, inference_id, outcome = await self.models.handle(scope, receive, send)
        elif path == p.INVOCATIONS and self.models is not None:
            status, size = await send_error(
                send, 404, f"this is a multi-model endpoint: invoke a model with POST "
                           f"{p.MODELS}/<model_name>{p.INVOKE_SUFFIX}")
        elif path == p.INVOCATIONS:
            if method == "POST":
                status, size, inference_id, outcome = await self.invocations(scope, receive,
                                                                             send)
            else:
                status, size = await send_error(send, 405, f"{path} takes POST, not {method}",
                                            allow=b"POST")
        elif path == p.PING:
            if method in {"GET", "HEAD"}:
                status, size = await self._ping(send, head=method == "HEAD")
            else:
                status, size = await send_error(send, 405, f"{path} takes GET, not {method}",
                                            allow=b"GET, HEAD")
        elif path == p.EXECUTION_PARAMETERS:
            if method in {"GET", "HEAD"}:
                status, size = 200, await send_body(send, 200, self._execution_parameters,
                                                    [JSON_HEADER])
            else:
                status, size = await send_error(send, 405, f"{path} takes GET, not {method}",
                                            allow=b"GET, HEAD")
        else:
            routes = (f"{p.MODELS} (multi-model)" if self.models is not None
                      else f"POST {p.INVOCATIONS}")
            status, size = await send_error(
                send, 404, f"no route {path}: the server answers GET {p.PING}, {routes} "
                           f"and GET {p.EXECUTION_PARAMETERS}")
        if self.settings.access_log and self._access.enabled:
            self._access.write(
                f'"{method} {path}" {status} {size}B '
                f"{(time.perf_counter() - started) * 1000:.1f}ms"
                f"{f' inference-id={inference_id}' if inference_id else ''}"
                f"{f' stream {outcome.chunks} chunks' if outcome else ''}")
        if outcome is not None and outcome.aborted:
            raise streaming.StreamAborted(f"request {inference_id or '-'}: stream cut")

    async def _ping(self, send: Send, head: bool) -> tuple[int, int]:
        if self.state == READY:
            return 200, await send_body(send, 200, b"", [])
        reason = ({"status": LOADING, "message": "the model is loading"} if self.state == LOADING
                  else {"status": FAILED, "message": self.failure})
        body = b"" if head else json.dumps(reason).encode()
        return 503, await send_body(send, 503, body, [JSON_HEADER])

    async def invocations(self, scope: Scope, receive: Receive, send: Send,
                           resolve: Resolve | None = None,
                           ) -> tuple[int, int, str, streaming.Outcome | None]:
        """One invocation: read, decode, predict, encode, answer (or stream). ``resolve``
        finds the handler and model (default: this worker's single model)."""
        started = time.monotonic()
        headers = {key.decode("latin-1").lower(): value.decode("latin-1")
                   for key, value in scope["headers"]}
        inference_id = headers.get(p.INFERENCE_ID_HEADER, "")
        self._requests += 1
        try:
            try:
                body = await read_body(headers, receive, self._limit)
            except Disconnected:  # the client went away
                return 499, 0, inference_id, None
            handler, model, model_dir = await (resolve or self._ready)(started)
            settings = self.settings
            content_type = codecs.media_type(headers.get("content-type")
                                             or settings.default_content_type)
            if handler.decodes and content_type not in codecs.SUPPORTED:
                raise InferenceError(415, f"unsupported Content-Type {content_type!r}: the "
                                     f"default input_fn reads {', '.join(codecs.SUPPORTED)}")
            raw_accept = headers.get("accept")
            accept: str | None
            if handler.negotiates:
                accept = codecs.negotiate(raw_accept, settings.default_accept)
                if accept is None:
                    raise InferenceError(406, f"unsupported Accept {raw_accept!r}: the default "
                                         f"output_fn writes {', '.join(codecs.SUPPORTED)}")
            else:
                accept = codecs.accept_for_handler(raw_accept, settings.default_accept)
            context = Context(model_dir, content_type, accept, headers, gpu_id=self.gpu_id)
            remaining = settings.timeout_s - (time.monotonic() - started)
            result, result_type = await self.pool.run(
                max(remaining, 0.0), handler.invoke, model, body, context, accept,
                settings.default_accept, settings.text_bodies)
            del body  # an asynchronous payload may be large: do not hold it while streaming
            del handler, model  # an unloaded model is freed once its last request ends
            extra = [(b"content-type", header_value(result_type))]
            extra += [(key.encode("latin-1"), header_value(value))
                      for key, value in context.response_headers.items()]
            if isinstance(result, Stream):
                outcome = await streaming.respond(
                    result, send, receive, self.pool, timeout_s=settings.timeout_s,
                    first_timeout_s=max(settings.timeout_s - (time.monotonic() - started), 0.0),
                    headers=extra, label=self._label(inference_id), on_stuck=self._stuck)
                return outcome.status, outcome.size, inference_id, outcome
        except Disconnected:  # the client left before the stream's first chunk
            return 499, 0, inference_id, None
        except InferenceError as exc:
            return (*await self._fail(send, exc), inference_id, None)
        except CallTimeout:
            return (*await self._timed_out(send), inference_id, None)
        except Exception as exc:  # noqa: BLE001 - last resort: answer 500, keep serving
            error = InferenceError(500, f"{type(exc).__name__}: {exc}")
            error.__cause__ = exc
            return (*await self._fail(send, error), inference_id, None)
        if (len(result) > p.REALTIME_MAX_RESPONSE_BYTES and not self.settings.batch
                and self.settings.max_request_mb is None):
            logger.warning("response of %d bytes to request %s exceeds SageMaker's real-time "
                           "limit of %d bytes: the endpoint will fail it", len(result),
                           self._label(inference_id), p.REALTIME_MAX_RESPONSE_BYTES)
        return 200, await send_body(send, 200, result, extra), inference_id, None

    def _label(self, inference_id: str) -> str:
        """The inference id, else the server's request id ``<pid>-<n>``."""
        return inference_id or f"{os.getpid()}-{self._requests}"

    def _stuck(self) -> None:
        """A handler call outlived the timeout: replace the worker if too many hang."""
        if self.pool.wedged and self.on_wedged is not None:
            self.on_wedged()

    async def _ready(self, started: float) -> Target:
        """The handler and model, once loaded; waits (within the timeout) while it loads."""
        if self.state == LOADING:
            loading = self.start_loading()
            remaining = self.settings.timeout_s - (time.monotonic() - started)
            try:
                await asyncio.wait_for(asyncio.wrap_future(loading), max(remaining, 0.001))
            except TimeoutError as exc:
                raise InferenceError(503, "the model is still loading") from exc
        if self.state == FAILED or self.handler is None:
            raise InferenceError(503, f"the model is not loaded: {self.failure}")
        return self.handler, self.model, self.settings.model_dir

    async def _fail(self, send: Send, error: InferenceError) -> tuple[int, int]:
        cause = error.__cause__
        # A 503 of a model that did not load is logged once, when it failed, not per request.
        if error.status_code >= 500 and not (error.status_code == 503 and cause is None):
            logger.error("%d: %s", error.status_code, error.message,
                         exc_info=cause if cause is not None else None)
        trace = None
        if self.settings.debug and cause is not None:
            trace = "".join(traceback.format_exception(cause))
        return await send_error(send, error.status_code, error.message, trace=trace)

    async def _timed_out(self, send: Send) -> tuple[int, int]:
        pool = self.pool
        logger.error("an invocation outlived %s=%g s; its thread is abandoned (%d hung, limit %d)",
                     p.MODEL_SERVER_TIMEOUT, self.settings.timeout_s, pool.hung, pool.max_hung)
        self._stuck()
        return await send_error(send, 504, f"the handler took longer than {p.MODEL_SERVER_TIMEOUT}="
                                       f"{self.settings.timeout_s:g} s")

