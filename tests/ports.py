"""Free TCP ports on the loopback interface, for servers a test starts."""

from __future__ import annotations

import socket

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A port nobody listens on right now: the kernel picks it, the socket is closed at once.

    Loopback only, so a test never opens a port to the network."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port
