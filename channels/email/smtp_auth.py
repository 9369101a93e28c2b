"""Who may log in to our SMTP server, and how hard guessing is made.

A login exists only for an upstream relay that authenticates to us. Guessing
its password is slowed on three levels: every failed attempt is answered
later than the one before (the delay doubles), a connection is dropped after
a few failures, and an address that keeps failing over new connections is
refused AUTH for a while. The sleep and the clock are injected so tests can
record the delays instead of waiting them out.

"An address" is a peer's network, not its exact address: an IPv6 host owns a
whole /64 and can rotate through it, so IPv6 peers are counted by /64 (an
IPv4-mapped one as its IPv4 address). Each password check is counted as a
failure *before* it is made, in the same step as the block check, and
withdrawn when it succeeds, so parallel connections cannot all slip in under
the limit; and only a few logins per peer may be under way at once. All of it
lives in this process: several processes sharing one database each grant the
allowance.
"""

from __future__ import annotations

import asyncio
import enum
import hmac
import ipaddress
import time
from collections import deque
from collections.abc import Awaitable, Callable

from bot.config.channels import SmtpSettings

# How long failures from one address are remembered.
PEER_WINDOW_SECONDS = 15 * 60
# Addresses remembered at once; past it the oldest are forgotten (a flood must not grow memory).
MAX_PEERS = 10_000
# Logins under way at once from one peer (from AUTH to its answer, the failure delay included);
# a relay's logins succeed at once, so only a guesser waits on its delays long enough to meet it.
MAX_IN_FLIGHT_PER_PEER = 2


class Verdict(enum.Enum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    BLOCKED = "blocked"


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
        self._in_flight: dict[str, int] = {}

    def matches(self, login: bytes, password: bytes) -> bool:
        """Constant time in the secret; both parts are compared whatever the first gives."""
        user_ok = hmac.compare_digest(login, self._login[0])
        password_ok = hmac.compare_digest(password, self._login[1])
        return user_ok and password_ok

    def delay(self, failures: int) -> float:
        """How long to wait before answering the ``failures``-th failure on a connection."""
        return self.delay_seconds * float(2 ** max(0, failures - 1))

    def start(self, peer: str) -> bool:
        """Count a login under way from ``peer``; False (nothing counted) when it has too many already."""
        key = peer_key(peer)
        if self._in_flight.get(key, 0) >= MAX_IN_FLIGHT_PER_PEER:
            return False
        self._in_flight[key] = self._in_flight.get(key, 0) + 1
        return True

    def finish(self, peer: str) -> None:
        """The login :meth:`start` counted has been answered."""
        key = peer_key(peer)
        left = self._in_flight.get(key, 0) - 1
        if left > 0:
            self._in_flight[key] = left
        else:
            self._in_flight.pop(key, None)

    def attempt(self, peer: str, login: bytes, password: bytes) -> Verdict:
        """Check a password from ``peer``, unless its network is blocked at this very moment.

        The attempt is recorded as a failure before the password is compared and
        withdrawn only if it matches: whatever runs in between, every guess is
        counted against the limit before it is answered.
        """
        key = peer_key(peer)
        if self.blocked(key):
            return Verdict.BLOCKED
        stamp = self._record(key)
        if self.matches(login, password):
            self._withdraw(key, stamp)
            return Verdict.ACCEPTED
        return Verdict.REJECTED

    def blocked(self, peer: str) -> bool:
        """True while ``peer``'s network has failed too often within the window."""
        key = peer_key(peer)
        times = self._failures.get(key)
        if not times:
            return False
        horizon = self.clock() - PEER_WINDOW_SECONDS
        while times and times[0] < horizon:
            times.popleft()
        if not times:
            del self._failures[key]
            return False
        return len(times) >= self.max_failures_per_peer

    def _record(self, key: str) -> float:
        if key not in self._failures and len(self._failures) >= MAX_PEERS:
            del self._failures[next(iter(self._failures))]
        stamp = self.clock()
        self._failures.setdefault(key, deque()).append(stamp)
        return stamp

    def _withdraw(self, key: str, stamp: float) -> None:
        times = self._failures.get(key)
        if times is None:
            return
        try:
            times.remove(stamp)
        except ValueError:
            return  # aged out meanwhile
        if not times:
            del self._failures[key]

    def cleartext_allowed(self, peer: str) -> bool:
        return self.cleartext_on_loopback and is_loopback(peer)


def peer_key(host: str) -> str:
    """What failures are counted by: an IPv4 address, or an IPv6 address's /64 network.

    An IPv4-mapped IPv6 address (``::ffff:192.0.2.7``) is that IPv4 address;
    anything that is no IP address (a Unix socket's name) is itself.
    """
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def is_loopback(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback
