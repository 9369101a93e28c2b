"""How refused API requests without a valid token are put on record without flooding it.

Anyone can send requests without a token, as fast as they like; an audit row
for each would let them fill the log and drown the rows that matter. So each
is counted (``supportbot_api_unauthenticated_denials_total`` on ``/metrics``),
and only a few per source address and minute become audit rows, each saying
how many from that address were left out since the one before it. A global
cap per minute bounds the rows when the addresses vary too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import Counter

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Admission:
    recorded: bool
    # Denials from the same source not recorded since its last recorded one.
    left_out: int = 0


@dataclass(slots=True)
class _Window:
    start: float
    recorded: int = 0
    left_out: int = 0


class AuditRate:
    """At most ``per_source`` rows per source and ``total`` rows overall per window.

    ``clock`` gives monotonic seconds (injected so a test moves time by hand). At most
    ``max_sources`` addresses are tracked: past that, expired ones are forgotten, and a new
    address finds no room until a window ends (its denials are only counted).
    """

    def __init__(
        self,
        *,
        per_source: int = 5,
        total: int = 60,
        window_seconds: float = 60.0,
        max_sources: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_source = per_source
        self.total = total
        self.window_seconds = window_seconds
        self.max_sources = max_sources
        self.clock = clock
        self._sources: dict[str, _Window] = {}
        self._all = _Window(clock())
        self._warned = False

    def admit(self, source: str) -> Admission:
        now = self.clock()
        if now - self._all.start >= self.window_seconds:
            self._all = _Window(now)
            self._warned = False
        window = self._window(source, now)
        if window is None or window.recorded >= self.per_source or self._all.recorded >= self.total:
            if window is not None:
                window.left_out += 1
            self._all.left_out += 1
            if not self._warned:
                self._warned = True
                logger.warning(
                    "unauthenticated API requests refused faster than %d a minute from one address "
                    "or %d in all: the rest of this minute's are only counted",
                    self.per_source,
                    self.total,
                )
            return Admission(False)
        left_out, window.left_out = window.left_out, 0
        window.recorded += 1
        self._all.recorded += 1
        return Admission(True, left_out)

    def _window(self, source: str, now: float) -> _Window | None:
        window = self._sources.get(source)
        if window is not None and now - window.start >= self.window_seconds:
            window.start, window.recorded = now, 0  # left_out carries over into the next row
        if window is None:
            if len(self._sources) >= self.max_sources:
                self._forget_expired(now)
            if len(self._sources) >= self.max_sources:
                return None
            window = self._sources[source] = _Window(now)
        return window

    def _forget_expired(self, now: float) -> None:
        for source, window in list(self._sources.items()):
            if now - window.start >= self.window_seconds:
                del self._sources[source]  # its left-out ones stay counted on /metrics


class Denials:
    """The counters and the audit rate of one API application (``/metrics`` shows the counters)."""

    def __init__(self, rate: AuditRate | None = None) -> None:
        self.rate = rate or AuditRate()
        # Not registered globally: each application (a test's, the server's) has its own.
        self.unauthenticated = Counter(
            "supportbot_api_unauthenticated_denials",
            "API requests refused for a missing or wrong token, by status",
            ["status"],
            registry=None,
        )
        self.not_audited = Counter(
            "supportbot_api_denials_not_audited",
            "Refused API requests without a valid token left out of the audit log by its rate limit",
            registry=None,
        )

    def unauthenticated_denial(self, source: str, status: int) -> Admission:
        self.unauthenticated.labels(status=str(status)).inc()
        admission = self.rate.admit(source)
        if not admission.recorded:
            self.not_audited.inc()
        return admission
