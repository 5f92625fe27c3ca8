"""Talking HTTP to a container that has no network at all.

A container started with ``network_mode="none"`` has only a loopback interface: nothing can
connect to it and it cannot connect out, which is what Marketplace's network isolation
means. To reach its server anyway, the host listens on ``127.0.0.1`` and relays every
accepted connection through ``docker exec`` of a small program, run by the image's own
Python, that connects to the server on the container's loopback. Bytes pass unchanged, so
HTTP clients on the host (requests, the transform emulator) work as with a published port.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any

from docker.errors import DockerException
from docker.utils.socket import STDOUT, frames_iter

# Runs inside the container: stdin -> server, server -> stdout, until the server closes.
RELAY_PROGRAM = r"""
import os, socket, sys, threading
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
except OSError as exc:
    sys.stderr.write("relay: %s\n" % exc)
    sys.exit(3)
s.settimeout(None)
def upstream():
    try:
        while True:
            data = os.read(0, 65536)
            if not data:
                break
            s.sendall(data)
    except OSError:
        pass
    try:
        s.shutdown(socket.SHUT_WR)
    except OSError:
        pass
threading.Thread(target=upstream, daemon=True).start()
while True:
    try:
        data = s.recv(65536)
    except OSError:
        break
    if not data:
        break
    view = memoryview(data)
    while view:
        view = view[os.write(1, view):]
"""

_CHUNK = 65536


class ExecRelay:
    """A listener on ``127.0.0.1:<port>`` forwarding to ``target_port`` in a container."""

    def __init__(self, api: Any, container_id: str, python: str, target_port: int) -> None:
        self._api = api
        self._container_id = container_id
        self._argv = [python, "-c", RELAY_PROGRAM, str(target_port)]
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._open: set[Any] = set()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True,
                                        name=f"relay-{container_id[:12]}")
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        """Stop listening and cut every relayed connection."""
        self._closed.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            pending = list(self._open)
            self._open.clear()
        for sock in pending:
            with contextlib.suppress(OSError):
                sock.close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ExecRelay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- internals -----------------------------------------------------------------

    def _track(self, *socks: Any) -> None:
        with self._lock:
            self._open.update(socks)

    def _untrack(self, *socks: Any) -> None:
        with self._lock:
            self._open.difference_update(socks)
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.close()

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        self._track(conn)
        try:
            exec_id = self._api.exec_create(self._container_id, self._argv, stdin=True,
                                            stdout=True, stderr=False, tty=False)["Id"]
            raw = self._api.exec_start(exec_id, socket=True)
        except DockerException:
            # The container is gone or not running: the client sees a closed connection.
            self._untrack(conn)
            return
        sock: socket.socket = getattr(raw, "_sock", raw)
        self._track(raw, sock)
        upstream = threading.Thread(target=self._upstream, args=(conn, sock), daemon=True)
        upstream.start()
        try:
            for stream, data in frames_iter(raw, tty=False):
                if stream == STDOUT and data:
                    conn.sendall(data)
        except (OSError, ValueError):  # ValueError: the stream was closed by close()
            pass
        finally:
            self._untrack(conn, raw, sock)

    @staticmethod
    def _upstream(conn: socket.socket, sock: socket.socket) -> None:
        try:
            while data := conn.recv(_CHUNK):
                sock.sendall(data)
        except (OSError, ValueError):
            return
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)
