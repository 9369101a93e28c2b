"""One HTTP request to another system from the outbox, for the channels that send over HTTP
(webhooks, ticket sharing): what cannot reach the other side becomes a retry.

The host name is resolved once, as the connection opens: every address it has
must pass the rule (:func:`bot.network.is_public_address`, unless private
targets are allowed), and the socket is opened to an address that was checked.
The HTTP client never resolves the name a second time, so a name that answers
a public address to the check and ``127.0.0.1`` a moment later (DNS rebinding)
reaches nothing inside. TLS still uses the host name, for SNI and certificate
verification, and so does the ``Host`` header.

A client per request: nothing to close at shutdown, and the dispatcher's pace (one
request at a time per thread) gains little from a pool. Redirects are never followed
and the environment's proxies are not used.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterable

import httpcore
import httpx

from bot.network import is_public_address
from bot.notify.outbox import PermanentDeliveryError, TransientDeliveryError

logger = logging.getLogger(__name__)

# host, port -> the addresses to try, in order. The system's resolver in production; a
# test passes its own to play a name whose answer changes between two lookups.
Resolver = Callable[[str, int], list[str]]


def system_resolver(host: str, port: int) -> list[str]:
    """Every address of ``host``, as the system's resolver gives them (a literal gives itself)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class RefusedAddress(Exception):
    """The target's name resolves to an address the rule does not allow: no connection was made."""


class CheckedBackend(httpcore.NetworkBackend):
    """httpcore's network backend, resolving each name once and connecting only to what it checked."""

    def __init__(self, *, allow_private: bool, resolver: Resolver, setting: str) -> None:
        self.allow_private = allow_private
        self.resolver = resolver
        self.setting = setting
        self.inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = self.resolver(host, port)
        except (OSError, UnicodeError) as error:
            raise httpcore.ConnectError(f"cannot resolve {host}: {error}") from None
        if not addresses:
            raise httpcore.ConnectError(f"{host} has no address")
        if not self.allow_private:
            # Every address, not only the first: the system may try them in any order.
            for address in addresses:
                if not is_public_address(address):
                    raise RefusedAddress(f"{host} is {address}, not on the internet ({self.setting} is off)")
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in addresses:
            try:
                return self.inner.connect_tcp(
                    address, port, timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        assert failure is not None
        raise failure

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise RefusedAddress("outgoing requests go over TCP only")

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


class CheckedTransport(httpx.HTTPTransport):
    """httpx's own transport (its error mapping, TLS and HTTP/1.1), over :class:`CheckedBackend`."""

    def __init__(self, *, allow_private: bool, resolver: Resolver, setting: str) -> None:
        super().__init__(trust_env=False)
        # The pool httpx built has the default backend; the same pool over ours, same TLS context.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            network_backend=CheckedBackend(allow_private=allow_private, resolver=resolver, setting=setting),
        )


def request(
    method: str,
    url: str,
    *,
    content: bytes,
    headers: dict[str, str],
    timeout: float,
    allow_private: bool,
    setting: str,
    resolver: Resolver = system_resolver,
) -> httpx.Response:
    """The response, whatever its status; no answer in time or no connection is an outage, and
    a target whose name resolves inside the network (``setting`` off) fails for good."""
    transport = CheckedTransport(allow_private=allow_private, resolver=resolver, setting=setting)
    with httpx.Client(
        timeout=timeout, follow_redirects=False, transport=transport, trust_env=False
    ) as client:
        try:
            return client.request(method, url, content=content, headers=headers)
        except RefusedAddress as error:
            logger.warning("refused to call %s: %s", host(url), error)
            raise PermanentDeliveryError(str(error)) from None
        except httpx.TimeoutException as error:
            raise TransientDeliveryError(
                f"no answer from {host(url)} in {timeout:g} s ({type(error).__name__})", outage=True
            ) from None
        except httpx.TransportError as error:
            raise TransientDeliveryError(
                f"cannot reach {host(url)}: {type(error).__name__}: {error}", outage=True
            ) from None


def host(url: str) -> str:
    """For messages: the host, not the whole URL (which may carry a token in its query)."""
    return httpx.URL(url).host or "?"


def excerpt(response: httpx.Response, limit: int) -> str:
    """The start of the other side's answer, on one line, for the delivery log."""
    text = " ".join(response.text.split())[:limit]
    return f": {text}" if text else ""
