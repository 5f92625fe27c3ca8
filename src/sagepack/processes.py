"""Stopping a server started as its own process group, leaving nothing behind."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from typing import Any


def stop_group(process: subprocess.Popen[Any], grace_s: float = 20.0) -> None:
    """SIGTERM the process, wait ``grace_s``, then SIGKILL its whole process group.

    The process must have been started with ``start_new_session=True`` so that the group
    holds it and its children (a server's workers) only.
    """
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
