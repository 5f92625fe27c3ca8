"""One worker process: load, wait for the supervisor's verdict, serve until told to stop.

The worker runs uvicorn (uvloop, httptools) on the socket the supervisor bound, talks to
the supervisor over its channel (:mod:`.readiness`): a heartbeat each second, the verdict
on loading, and on a multi-model endpoint the loads and unloads every worker carries out
(:mod:`.models_api`), read as soon as they arrive. See :mod:`.server` for the process model.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import socket
import sys
from types import FrameType

# Imported here, in the supervisor, so that forked workers start without importing them.
import uvicorn
import uvicorn.loops.uvloop
import uvicorn.protocols.http.httptools_impl
import uvloop  # noqa: F401

from sagepack.serving import readiness, streaming
from sagepack.serving.app import ServingApp
from sagepack.serving.logs import logger
from sagepack.serving.settings import Settings

#: Exit code of a worker that asks to be replaced (hung handler threads).
EXIT_RECYCLE = 75
BACKLOG = 2048


def _exit_now(_signum: int, _frame: FrameType | None) -> None:
    """SIGTERM before uvicorn took over (or re-raised after it finished): exit cleanly."""
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
    os._exit(0)


def run_worker(settings: Settings, sock: socket.socket, channel: socket.socket, slot: int,
               models: list[dict[str, object]] | None = None) -> int:
    """One worker process: load the model (multi-model: the ``models`` the others serve),
    wait for the supervisor's verdict, serve until told to stop; returns the exit code."""
    signal.signal(signal.SIGTERM, _exit_now)
    signal.signal(signal.SIGINT, _exit_now)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    channel.setblocking(False)
    supervisor = os.getppid()
    app = ServingApp(settings, log_load=False, gpu_id=settings.gpu_id(slot), models=models or ())
    later: list[tuple[bytes, bytes]] = []
    if not readiness.load_and_wait(app, channel, supervisor, later):
        logger.error("worker %d: the supervisor is gone; stopping", slot)
        return 0
    if app.models is not None:
        app.models.link = lambda kind, content: readiness.send_json(channel, kind, content)

    def dispatch(messages: list[tuple[bytes, bytes]]) -> None:
        for kind, payload in messages:
            if kind == readiness.BROKEN:
                app.break_down(payload.decode(errors="replace"))
            elif app.models is not None and kind in (readiness.DONE, readiness.COMMAND):
                app.models.on_message(kind, payload)

    def on_channel() -> None:
        messages, closed = readiness.receive(channel)
        dispatch(messages)
        if closed:
            asyncio.get_running_loop().remove_reader(channel.fileno())
            orphaned()

    async def heartbeat() -> None:
        readiness.send(channel, readiness.HEARTBEAT)  # a full channel drops a beat: fine
        messages, closed = readiness.receive(channel)
        dispatch(messages)
        if closed or os.getppid() != supervisor:
            orphaned()

    config = uvicorn.Config(
        app, loop="uvloop", http="httptools", ws="none", lifespan="off", interface="asgi3",
        log_config=None, access_log=False, server_header=False, proxy_headers=False,
        timeout_keep_alive=65, timeout_graceful_shutdown=math.ceil(settings.shutdown_grace_s),
        callback_notify=heartbeat, timeout_notify=0, backlog=BACKLOG,
    )
    server = uvicorn.Server(config)
    exit_code = 0

    def wedged() -> None:
        nonlocal exit_code
        logger.error("worker %d: %d handler calls hang; finishing requests and handing over to a "
                     "new worker", slot, app.pool.hung)
        exit_code = EXIT_RECYCLE
        server.should_exit = True

    def orphaned() -> None:
        if not server.should_exit:
            logger.error("worker %d: the supervisor is gone; stopping", slot)
            server.should_exit = True

    async def main() -> None:
        if app.models is not None:  # multi-model messages must not wait for a heartbeat
            asyncio.get_running_loop().add_reader(channel.fileno(), on_channel)
            dispatch(later)
        await server.serve(sockets=[sock])

    app.on_wedged = wedged
    streaming.quiet_aborts()
    with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
        runner.run(main())
    app.pool.shutdown()
    return exit_code

