"""Who may log in to our SMTP server, and how hard guessing is made.

A login exists only for an upstream relay that authenticates to us. Guessing
its password is slowed on three levels: every failed attempt is answered
later than the one before (the delay doubles), a connection is dropped after
a few failures, and an address that keeps failing over new connections is
refused AUTH for a while. The sleep and the clock are injected so tests can
record the delays instead of waiting them out.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import time
from collections import deque
from collections.abc import Awaitable, Callable

from bot.config import SmtpSettings

# How long failures from one address are remembered.
PEER_WINDOW_SECONDS = 15 * 60
# Addresses remembered at once; past it the oldest are forgotten (a flood must not grow memory).
MAX_PEERS = 10_000


class LoginGuard:
    """The configured login, and the failures seen; shared by every connection of one server."""

    def __init__(
        self,
        user: str,
        password: str,
        settings: SmtpSettings,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._login = (user.encode(), password.encode())
        self.max_failures = settings.auth_max_failures
        self.max_failures_per_peer = settings.auth_max_failures_per_peer
        self.delay_seconds = settings.auth_failure_delay_ms / 1000
        self.cleartext_on_loopback = settings.allow_cleartext_auth_on_loopback
        self.sleep = sleep
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}

    def matches(self, login: bytes, password: bytes) -> bool:
        """Constant time in the secret; both parts are compared whatever the first gives."""
        user_ok = hmac.compare_digest(login, self._login[0])
        password_ok = hmac.compare_digest(password, self._login[1])
        return user_ok and password_ok

    def delay(self, failures: int) -> float:
        """How long to wait before answering the ``failures``-th failure on a connection."""
        return self.delay_seconds * float(2 ** max(0, failures - 1))

    def failed(self, peer: str) -> None:
        if peer not in self._failures and len(self._failures) >= MAX_PEERS:
            del self._failures[next(iter(self._failures))]
        self._failures.setdefault(peer, deque()).append(self.clock())

    def blocked(self, peer: str) -> bool:
        """True while ``peer`` has failed too often within the window."""
        times = self._failures.get(peer)
        if not times:
            return False
        horizon = self.clock() - PEER_WINDOW_SECONDS
        while times and times[0] < horizon:
            times.popleft()
        if not times:
            del self._failures[peer]
            return False
        return len(times) >= self.max_failures_per_peer

    def cleartext_allowed(self, peer: str) -> bool:
        return self.cleartext_on_loopback and is_loopback(peer)


def is_loopback(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback
