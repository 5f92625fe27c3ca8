"""Log set-up: start-up lines and one access line per request, on stdout."""

from __future__ import annotations

import logging
import os
import sys
import time

#: One line per request: method, path, status, bytes, duration, inference id.
access_logger = logging.getLogger("sagepack.access")
#: Start-up, shutdown, handler tracebacks.
logger = logging.getLogger("sagepack.serving")

_FORMAT = "%(asctime)s [%(process)d] %(levelname)s %(message)s"


class AccessLog:
    """The access log's writer: lines in the log's format (``_FORMAT``), each written to
    stdout with one ``os.write``, so lines from concurrent workers never interleave.

    It skips the ``logging`` machinery (a record, a formatter and a flush per line, about a
    quarter of a small request's CPU time); the ``sagepack.access`` logger's level still
    decides whether lines are written (``SAGEPACK_LOG_LEVEL`` above INFO silences them).
    """

    def __init__(self, fd: int = 1) -> None:
        self._fd = fd
        self._second = -1
        self._stamp = ""

    @property
    def enabled(self) -> bool:
        return access_logger.isEnabledFor(logging.INFO)

    def line(self, message: str) -> bytes:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        millis = int((now - second) * 1000)
        return f"{self._stamp},{millis:03d} [{os.getpid()}] INFO {message}\n".encode(
            "utf-8", "backslashreplace")

    def write(self, message: str) -> None:
        data = memoryview(self.line(message))
        try:
            while data:
                data = data[os.write(self._fd, data):]
        except OSError:  # stdout closed or broken: the request itself is unaffected
            pass


def setup_logging(level: str = "INFO") -> None:
    """Send every log record to stdout, one line each, flushed per line."""
    stream = sys.stdout
    if hasattr(stream, "reconfigure"):
        stream.reconfigure(line_buffering=True)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(_FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
    # uvicorn's own start/stop chatter is noise next to ours; keep its warnings.
    logging.getLogger("uvicorn.error").setLevel(max(logging.WARNING, root.level))
