"""The handler behind Starlette, for ``uvicorn sagepack.bench.apps.starlette_app:app``.

Inference runs in Starlette's thread pool (``run_in_threadpool``), as sagepack runs it on
an inference thread, so the event loop keeps answering ``/ping``.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sagepack.bench.apps.common import LoadedModel

loaded = LoadedModel.from_environment()


async def ping(request: Request) -> Response:
    return Response(status_code=200)


async def invocations(request: Request) -> Response:
    body = await request.body()
    result, result_type = await run_in_threadpool(
        loaded.invoke, body, request.headers.get("content-type"),
        request.headers.get("accept"), request.headers)
    return Response(result, media_type=result_type)


app = Starlette(routes=[Route("/ping", ping), Route("/invocations", invocations,
                                                     methods=["POST"])])
