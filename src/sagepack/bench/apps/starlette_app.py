"""The handler behind Starlette, for ``uvicorn sagepack.bench.apps.starlette_app:app``.

Inference runs in Starlette's thread pool (``run_in_threadpool``), as sagepack runs it on
an inference thread, so the event loop keeps answering ``/ping``. A handler that streams is
answered with Starlette's ``StreamingResponse`` over the handler's own iterator: a sync
generator advances in the thread pool one chunk at a time (``iterate_in_threadpool``), as
sagepack advances it on its inference thread.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from sagepack.bench.apps.common import LoadedModel

loaded = LoadedModel.from_environment()


async def ping(request: Request) -> Response:
    return Response(status_code=200)


async def invocations(request: Request) -> Response:
    body = await request.body()
    result, result_type = await run_in_threadpool(
        loaded.call, body, request.headers.get("content-type"),
        request.headers.get("accept"), request.headers)
    if isinstance(result, bytes):
        return Response(result, media_type=result_type)
    return StreamingResponse(result.source, media_type=result_type)


app = Starlette(routes=[Route("/ping", ping), Route("/invocations", invocations,
                                                     methods=["POST"])])
