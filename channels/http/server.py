"""How uvicorn serves the HTTP port: time-outs and a connection limit against slow clients.

uvicorn's HTTP/1.1 protocol (h11) has no time-out on reading a request's head:
a client sending one header line every few seconds, or nothing at all after
connecting, holds its connection for good, and a few hundred such clients hold
the server. :class:`HeaderTimeoutProtocol` closes a connection whose request
head is not complete within ``header_timeout_seconds`` of the connection
opening or of the first byte of the next request on a kept-alive connection.
Bodies are bounded by size (limits.py); a slow body is left to the reverse proxy
in front (README, "Running behind a reverse proxy").

A response that refuses a body still arriving (a 413, a 401 before the body)
closes the connection. Closing a socket with unread data makes the kernel send
a reset, which can destroy our answer before the client reads it: the client
sees "connection reset" instead of the 413. So such a connection is closed the
way RFC 9112 (section 9.6) asks: our side is shut down after the answer, what
the client still sends is read and dropped for at most ``LINGER_SECONDS`` or
``LINGER_BYTES``, then the connection is closed.
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

LINGER_SECONDS = 2.0
LINGER_BYTES = 16 * 1024 * 1024


class _LingeringTransport:
    """The connection's transport, whose ``close`` lets the client read our answer first.

    uvicorn closes through the transport it was given, in several places; wrapping it
    is the one place all of them pass."""

    def __init__(self, inner: asyncio.Transport, protocol: HeaderTimeoutProtocol) -> None:
        self._inner = inner
        self._protocol = protocol
        self._closing = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def is_closing(self) -> bool:
        return self._closing or self._inner.is_closing()

    def close(self) -> None:
        if self._closing or self._inner.is_closing():
            self._inner.close()
            return
        self._closing = True
        if self._protocol.conn.their_state is h11.SEND_BODY and self._inner.can_write_eof():
            self._protocol.linger(self._inner)
        else:
            self._inner.close()


class HeaderTimeoutProtocol(H11Protocol):
    """uvicorn's h11 protocol, closing connections slow to send a request's head."""

    header_timeout: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head_timer: asyncio.TimerHandle | None = None
        self.linger_timer: asyncio.TimerHandle | None = None
        self.lingering: asyncio.Transport | None = None
        self.dropped = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        wrapped = _LingeringTransport(transport, self)  # type: ignore[arg-type]
        super().connection_made(wrapped)  # type: ignore[arg-type]
        self._start_head_timer()

    def linger(self, transport: asyncio.Transport) -> None:
        """Send what is buffered, then our FIN; drop what the client still sends, for a while."""
        self.lingering = transport
        transport.write_eof()
        transport.resume_reading()  # uvicorn may have paused it while the body waited
        self.linger_timer = self.loop.call_later(LINGER_SECONDS, transport.close)

    def data_received(self, data: bytes) -> None:
        if self.lingering is not None:
            self.dropped += len(data)
            if self.dropped > LINGER_BYTES:
                self.lingering.close()
            return
        if self.conn.their_state is h11.IDLE:
            self._start_head_timer()  # the first bytes of a next request (keep-alive)
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._stop_head_timer()

    def eof_received(self) -> None:
        if self.lingering is not None:  # the client is done sending: nothing left to drop
            self.lingering.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        if self.linger_timer is not None:
            self.linger_timer.cancel()
            self.linger_timer = None
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
