"""Log set-up: start-up lines and one access line per request, on stdout."""

from __future__ import annotations

import logging
import sys

#: One line per request: method, path, status, bytes, duration, inference id.
access_logger = logging.getLogger("sagepack.access")
#: Start-up, shutdown, handler tracebacks.
logger = logging.getLogger("sagepack.serving")

_FORMAT = "%(asctime)s [%(process)d] %(levelname)s %(message)s"


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
