"""Free TCP ports on the loopback interface, for servers the host starts for itself.

The one home of "pick a port nobody listens on": the serving benchmark's servers and the
local AWS stand-ins (``publish/localstack.py``) take theirs from here. A port found this way
is free when returned, not reserved: start the server on it straight away.
"""

from __future__ import annotations

import socket

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nobody listens on right now on ``host`` (bound and released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
