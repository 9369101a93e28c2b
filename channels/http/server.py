"""How uvicorn serves the HTTP port: time-outs and a connection limit against slow clients.

uvicorn's HTTP/1.1 protocol (h11) has no time-out on reading a request's head:
a client sending one header line every few seconds, or nothing at all after
connecting, holds its connection for good, and a few hundred such clients hold
the server. :class:`HeaderTimeoutProtocol` closes a connection whose request
head is not complete within ``header_timeout_seconds`` of the connection
opening or of the first byte of the next request on a kept-alive connection.
Bodies are bounded by size (limits.py); a slow body is left to the reverse proxy
in front (README, "Running behind a reverse proxy").
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from bot.config import HttpSettings

logger = logging.getLogger(__name__)


class HeaderTimeoutProtocol(H11Protocol):
    """uvicorn's h11 protocol, closing connections slow to send a request's head."""

    header_timeout: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._start_head_timer()

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE:
            self._start_head_timer()  # the first bytes of a next request (keep-alive)
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._stop_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def _start_head_timer(self) -> None:
        if self.head_timer is None:
            self.head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _stop_head_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _head_timed_out(self) -> None:
        self.head_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        logger.info(
            "HTTP connection from %s closed: no complete request head within %s s",
            self.client[0] if self.client else "unknown",
            self.header_timeout,
        )
        self.transport.close()


def protocol(header_timeout: float) -> type[HeaderTimeoutProtocol]:
    """The protocol class uvicorn instantiates per connection, with this time-out."""
    return type("HeaderTimeoutProtocol", (HeaderTimeoutProtocol,), {"header_timeout": float(header_timeout)})


def uvicorn_config(app: Any, http: HttpSettings) -> uvicorn.Config:
    """What ``supportbot serve`` runs (and the HTTP tests, so they test the same server)."""
    return uvicorn.Config(
        app,
        host=http.host,
        port=http.port,
        http=protocol(http.header_timeout_seconds),
        timeout_keep_alive=http.keep_alive_seconds,
        # uvicorn counts the connection asking among the ones open: one more serves max_connections.
        limit_concurrency=http.max_connections + 1,
        # X-Forwarded-For only from a proxy on this host (uvicorn would read FORWARDED_ALLOW_IPS).
        forwarded_allow_ips="127.0.0.1,::1",
        log_config=None,
        access_log=False,
        lifespan="off",
    )
