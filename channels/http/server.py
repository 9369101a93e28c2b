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

One client may hold at most ``max_connections_per_client`` connections
(:class:`ClientConnections`): one more is answered 503 at once, without waiting
for its request, and closed the same way, so a client reconnecting in a loop
cannot take every one of the ``max_connections`` from everyone else. Trusted
proxies are not counted: behind one, every client comes from its address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from bot.config.settings import HttpSettings, IPNetwork

logger = logging.getLogger(__name__)

LINGER_SECONDS = 2.0
LINGER_BYTES = 16 * 1024 * 1024
# At shutdown, what still runs this long after the listening sockets closed is cancelled:
# an event stream (a web desk page's live updates) never ends by itself.
SHUTDOWN_GRACE_SECONDS = 5


def _busy_response() -> bytes:
    body = json.dumps({"error": {"message": "too many connections from your address", "field": None}})
    head = (
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nretry-after: 5\r\nconnection: close\r\n\r\n"
    )
    return (head + body).encode()


BUSY = _busy_response()


class ClientConnections:
    """The connections each client holds open on one server, against ``cap``.

    A client is an IPv4 address or an IPv6 /64 (what one host or one customer line
    usually holds whole); a peer in ``exempt`` (a trusted proxy) is not counted. Used
    from the server's event loop only."""

    def __init__(self, cap: int, exempt: Sequence[IPNetwork] = ()) -> None:
        self.cap = cap
        self.exempt = tuple(exempt)
        self.open: Counter[str] = Counter()

    def key(self, peer: str | None) -> str | None:
        """Whom a connection from ``peer`` counts against; None: nobody (a trusted proxy)."""
        if peer is None:
            return None  # not an IP connection (a Unix socket)
        try:
            ip = ipaddress.ip_address(peer.split("%", 1)[0])
        except ValueError:
            return None
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if any(ip in network for network in self.exempt):
            return None
        if isinstance(ip, ipaddress.IPv6Address):
            return str(ipaddress.IPv6Network((ip, 64), strict=False))
        return str(ip)

    def take(self, key: str) -> bool:
        """Count one more connection of ``key``'s, unless it holds ``cap`` already."""
        if self.open[key] >= self.cap:
            return False
        self.open[key] += 1
        return True

    def release(self, key: str) -> None:
        self.open[key] -= 1
        if self.open[key] <= 0:
            del self.open[key]


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
    clients: ClientConnections = ClientConnections(50)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head_timer: asyncio.TimerHandle | None = None
        self.linger_timer: asyncio.TimerHandle | None = None
        self.lingering: asyncio.Transport | None = None
        self.dropped = 0
        self.counted_as: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        wrapped = _LingeringTransport(transport, self)  # type: ignore[arg-type]
        super().connection_made(wrapped)  # type: ignore[arg-type]
        key = self.clients.key(self.client[0] if self.client else None)
        if key is not None and not self.clients.take(key):
            self._refuse(transport, key)  # type: ignore[arg-type]
            return
        self.counted_as = key
        self._start_head_timer()

    def _refuse(self, transport: asyncio.Transport, key: str) -> None:
        """503 before the request arrives, then close: the connection never holds a slot."""
        logger.debug("HTTP connection from %s refused: %d open already", key, self.clients.cap)
        self.connections.discard(self)  # not counted against max_connections either
        transport.write(BUSY)
        self.linger(transport)

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
        if self.counted_as is not None:
            self.clients.release(self.counted_as)
            self.counted_as = None
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


def protocol(http: HttpSettings) -> type[HeaderTimeoutProtocol]:
    """The protocol class uvicorn instantiates per connection: this server's time-out, and
    one count of connections per client shared by all of its connections."""
    attributes = {
        "header_timeout": float(http.header_timeout_seconds),
        "clients": ClientConnections(http.max_connections_per_client, http.proxy_networks()),
    }
    return type("HeaderTimeoutProtocol", (HeaderTimeoutProtocol,), attributes)


def uvicorn_config(app: Any, http: HttpSettings) -> uvicorn.Config:
    """What ``supportbot serve`` runs (and the HTTP tests, so they test the same server)."""
    proxies = [str(network) for network in http.proxy_networks()]
    return uvicorn.Config(
        app,
        host=http.host,
        port=http.port,
        http=protocol(http),
        timeout_keep_alive=http.keep_alive_seconds,
        # uvicorn counts the connection asking among the ones open: one more serves max_connections.
        limit_concurrency=http.max_connections + 1,
        # X-Forwarded-For only from these peers (given, so uvicorn never reads FORWARDED_ALLOW_IPS):
        # the client is then the last address in it that is not one of them.
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies,
        log_config=None,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
    )
