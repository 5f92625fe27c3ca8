"""Multi-model endpoints, a worker's side: the ``/models`` routes of SageMaker's contract.

=============================  ========================================================
``POST /models``               ``{"model_name": ..., "url": ...}``: load the model in
                               ``url`` (``/opt/ml/models/<name>/model``) with its own
                               ``code/inference.py``. 200 loaded, 409 already loaded (or
                               loading), 507 over the memory budget, 400 bad body, 404
                               ``url`` does not exist, 500 ``model_fn`` failed.
``GET /models``                ``{"models": [{"modelName", "modelUrl"}], "nextPageToken"}``
                               in name order; ``max_results`` (1-1000, default 100) and
                               ``next_page_token`` page it; the token is null on the last
                               page.
``GET /models/<name>``         ``{"modelName", "modelUrl", "handler", "loadedAt",
                               "memoryBytes"}``; 404 not loaded.
``DELETE /models/<name>``      Unload and free it; 404 not loaded, 409 still loading.
``POST /models/<name>/invoke`` Inference, exactly as ``/invocations`` (codecs, errors,
                               limits, timeouts, streaming); 404 not loaded. The
                               ``X-Amzn-SageMaker-Target-Model`` header (the archive's S3
                               key, not the model's name) reaches handlers' context.
=============================  ========================================================

Loads and unloads are decided by the supervisor for every worker at once (see
:mod:`.coordinator`); this module forwards them and carries out the supervisor's commands
on a thread of its own, so neither ``/ping`` nor the other models' invocations wait for a
``model_fn``. Lists and descriptions are answered by the worker itself, from models every
worker has published.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import traceback
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sagepack.errors import HandlerError, InferenceError
from sagepack.serving import coordinator, multimodel, readiness
from sagepack.serving import parameters as p
from sagepack.serving.body import Disconnected, read_body
from sagepack.serving.pool import InferencePool
from sagepack.serving.replies import Receive, Scope, Send, send_error, send_json

if TYPE_CHECKING:
    from sagepack.serving.app import ServingApp, Target
    from sagepack.serving.streaming import Outcome

Result = tuple[int, int, str, "Outcome | None"]
_MAX_LOAD_BODY = 64 * 1024
_MAX_DETAIL = 8000


class ModelsApi:
    """The ``/models`` routes of one worker, and the commands of the supervisor."""

    def __init__(self, app: ServingApp, at_start: Sequence[Mapping[str, object]] = ()) -> None:
        self.app = app
        self.registry = multimodel.Registry(app.settings.program, app.gpu_id)
        #: The thread that loads and frees models (one at a time).
        self.loader = InferencePool(1, max_hung=1 << 30)
        #: Sends a message to the supervisor; set by the worker (None: no supervisor).
        self.link: Callable[[bytes, Mapping[str, object]], bool] | None = None
        self._at_start = list(at_start)
        self._asks: dict[int, asyncio.Future[dict[str, object]]] = {}
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()

    def load_at_start(self) -> None:
        """Load the models every other worker serves (blocking; a worker forked late)."""
        for item in self._at_start:
            name, url = str(item["name"]), str(item["url"])
            self.registry.load(name, url)
            memory_bytes = item.get("memory_bytes", 0)
            self.registry.publish(name, str(item.get("loaded_at", "")),
                                  memory_bytes if isinstance(memory_bytes, int) else 0)
        self._at_start.clear()

    # --- routes --------------------------------------------------------------------------

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> Result:
        """Answer a request under ``/models``."""
        path: str = scope["path"]
        method: str = scope["method"]
        if path == p.MODELS:
            if method == "GET":
                return (*await self._list(scope, send), "", None)
            if method == "POST":
                return (*await self._load(scope, receive, send), "", None)
            return (*await send_error(send, 405, f"{path} takes GET or POST, not {method}",
                                      allow=b"GET, POST"), "", None)
        rest = path[len(p.MODELS) + 1:]
        if rest.endswith(p.INVOKE_SUFFIX) and rest != p.INVOKE_SUFFIX[1:]:
            name = rest[:-len(p.INVOKE_SUFFIX)]
            if method != "POST":
                return (*await send_error(send, 405, f"{path} takes POST, not {method}",
                                          allow=b"POST"), "", None)
            return await self.app.invocations(scope, receive, send, self._resolver(name))
        if not rest or "/" in rest:
            return (*await send_error(send, 404, f"no route {path}: use {p.MODELS}, "
                                      f"{p.MODELS}/<model_name> or {p.MODELS}/<model_name>"
                                      f"{p.INVOKE_SUFFIX}"), "", None)
        if method == "GET":
            entry = self.registry.get(rest)
            if entry is None:
                return (*await send_error(send, 404, _not_loaded(rest)), "", None)
            return (*await send_json(send, 200, entry.describe()), "", None)
        if method == "DELETE":
            return (*await self._answer(send, await self._ask(coordinator.UNLOAD, rest)), "",
                    None)
        return (*await send_error(send, 405, f"{path} takes GET or DELETE, not {method}",
                                  allow=b"GET, DELETE"), "", None)

    def _resolver(self, name: str) -> Callable[[float], Any]:
        async def resolve(_started: float) -> Target:
            entry = self.registry.get(name)
            if entry is None:
                raise InferenceError(404, _not_loaded(name))
            return entry.handler, entry.model, entry.model_dir
        return resolve

    async def _list(self, scope: Scope, send: Send) -> tuple[int, int]:
        query = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"))
        raw = query.get("max_results", [str(p.DEFAULT_MAX_RESULTS)])[-1]
        if not raw.isdigit() or not 1 <= int(raw) <= p.MAX_RESULTS_LIMIT:
            return await send_error(send, 400, f"max_results must be a whole number from 1 to "
                                               f"{p.MAX_RESULTS_LIMIT}, got {raw!r}")
        token = query.get("next_page_token", [""])[-1] or None
        try:
            models, after = self.registry.page(token, int(raw))
        except ValueError as exc:
            return await send_error(send, 400, str(exc))
        return await send_json(send, 200, {"models": [m.listed() for m in models],
                                           "nextPageToken": after})

    async def _load(self, scope: Scope, receive: Receive, send: Send) -> tuple[int, int]:
        headers = {key.decode("latin-1").lower(): value.decode("latin-1")
                   for key, value in scope["headers"]}
        try:
            body = await read_body(headers, receive, _MAX_LOAD_BODY)
        except Disconnected:
            return 499, 0
        except InferenceError as exc:
            return await send_error(send, exc.status_code, exc.message)
        try:
            name, url = self._load_request(body)
        except InferenceError as exc:
            return await send_error(send, exc.status_code, exc.message)
        return await self._answer(send, await self._ask(coordinator.LOAD, name, url))

    def _load_request(self, body: bytes) -> tuple[str, str]:
        """The model's name and url; InferenceError 400 or 404 naming what is wrong."""
        usage = 'POST /models takes a JSON object {"model_name": "...", "url": "/opt/ml/models/...'
        try:
            content = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise InferenceError(400, f"the body is not JSON ({exc}): {usage}"'"}') from exc
        if not isinstance(content, dict):
            raise InferenceError(400, f"the body is a JSON {type(content).__name__}: {usage}"'"}')
        name, url = content.get("model_name"), content.get("url")
        problem = multimodel.name_problem(name)
        if problem is not None:
            raise InferenceError(400, f"{problem}: {usage}" '"}')
        if not isinstance(url, str) or not url:
            raise InferenceError(400, f"url is missing or not a string: {usage}" '"}')
        assert isinstance(name, str)
        folder = Path(url)
        root = self.app.settings.models_dir
        if not folder.is_absolute():
            raise InferenceError(400, f"url {url!r} must be an absolute path")
        if root is not None and not folder.resolve().is_relative_to(root.resolve()):
            raise InferenceError(400, f"url {url!r} is not under {root} ({p.MODELS_DIR})")
        if not folder.exists():
            raise InferenceError(404, f"url {url!r} does not exist")
        if not folder.is_dir():
            raise InferenceError(400, f"url {url!r} is not a directory (the extracted archive)")
        handler = self.registry.handler_path(url)
        if not handler.is_file():
            raise InferenceError(400, f"model {name!r} has no handler {handler}: the archive "
                                      f"must carry code/{self.registry.program} "
                                      f"({p.PROGRAM})")
        return name, url

    async def _ask(self, op: str, name: str, url: str = "") -> dict[str, object]:
        """Ask the supervisor to load or unload; its answer."""
        ident = next(self._ids)
        future: asyncio.Future[dict[str, object]] = asyncio.get_running_loop().create_future()
        self._asks[ident] = future
        if self.link is None or not self.link(readiness.REQUEST,
                                              {"id": ident, "op": op, "name": name, "url": url}):
            self._asks.pop(ident, None)
            return {"status": 503, "message": "no supervisor to coordinate the workers: "
                                              "multi-model serving runs under `serve`"}
        try:
            return await future
        finally:
            self._asks.pop(ident, None)

    @staticmethod
    async def _answer(send: Send, reply: Mapping[str, object]) -> tuple[int, int]:
        status = reply.get("status")
        code = status if isinstance(status, int) else 500
        if code == 200:
            return await send_json(send, 200, reply.get("body") or {})
        return await send_error(send, code, str(reply.get("message", "")))

    # --- the supervisor's messages (on the event loop) -----------------------------------

    def on_message(self, kind: bytes, payload: bytes) -> None:
        """A ``D`` (answer to this worker's request) or ``C`` (command) message."""
        content = readiness.decode(payload)
        if kind == readiness.DONE:
            ident = content.get("id")
            future = self._asks.get(ident) if isinstance(ident, int) else None
            if future is not None and not future.done():
                future.set_result(content)
        elif kind == readiness.COMMAND:
            task = asyncio.ensure_future(self._command(content))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _command(self, content: Mapping[str, object]) -> None:
        do, name, url = content.get("do"), str(content.get("name")), str(content.get("url"))
        answer: dict[str, object] = {"txn": content.get("txn"), "ok": True}
        try:
            if do == coordinator.DO_LOAD:
                await self.loader.submit(self.registry.load, name, url)
            elif do == coordinator.DO_PUBLISH:
                memory_bytes = content.get("memory_bytes")
                self.registry.publish(name, str(content.get("loaded_at", "")),
                                      memory_bytes if isinstance(memory_bytes, int) else 0)
            elif do == coordinator.DO_DISCARD:
                await self.loader.submit(self.registry.discard, name)
            elif do == coordinator.DO_UNLOAD:
                await self._unload(name)
        except HandlerError as exc:
            answer = _failure(answer, f"loading model {name!r} failed: {exc}", exc)
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - the handler's, told to the client
            answer = _failure(answer, f"loading model {name!r} failed: "
                                      f"{type(exc).__name__}: {exc}", exc)
        if not answer["ok"]:
            await self.loader.submit(multimodel.collect)
        if self.link is not None:
            self.link(readiness.ANSWER, answer)

    async def _unload(self, name: str) -> None:
        entry = self.registry.hide(name)
        if entry is None:
            return
        await self.loader.submit(self.registry.release, entry)
        del entry
        await self.loader.submit(multimodel.collect)


def _failure(answer: dict[str, object], message: str, exc: BaseException) -> dict[str, object]:
    cause = exc.__cause__ or exc
    return {**answer, "ok": False, "status": 500, "message": message,
            "detail": "".join(traceback.format_exception(cause))[-_MAX_DETAIL:]}


def _not_loaded(name: str) -> str:
    return f"model {name!r} is not loaded; load it with POST {p.MODELS}"
