"""The HTTP server ``supportbot serve`` runs, in a thread of the test: uvicorn as
``channels.http.server.uvicorn_config`` configures it, on a free loopback port."""

from __future__ import annotations

import socket
import threading
from dataclasses import replace
from typing import Any

import uvicorn

from bot.config.settings import HttpSettings
from channels.http.server import uvicorn_config
from tests.ports import free_port
from tests.waiting import wait_until


class LiveServer:
    def __init__(self, app: Any, http: HttpSettings | None = None, *, port: int | None = None) -> None:
        self.port = port or free_port()
        settings = replace(http or HttpSettings(), host="127.0.0.1", port=self.port)
        self.server = uvicorn.Server(uvicorn_config(app, settings))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        wait_until(lambda: self.server.started, seconds=10, what="the HTTP server started", interval=0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    def connect(self, timeout: float = 10.0, source: str | None = None) -> socket.socket:
        """``source``: the client's address, another one of 127.0.0.0/8 (all loopback on Linux)."""
        bound = (source, 0) if source else None
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout, source_address=bound)
