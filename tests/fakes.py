"""Small hand-written doubles at the process boundary: the clock and a channel's sender."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from bot.messages import Outbound
from bot.notify.outbox import PermanentDeliveryError, TransientDeliveryError


class FakeClock:
    """A clock tests move by hand; never sleeps."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, **delta: float) -> datetime:
        with self._lock:
            self._now += timedelta(**delta)
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = when


class RecordingSender:
    """Records what it was asked to send; can fail the first ``failures`` calls."""

    def __init__(
        self, *, failures: int = 0, permanent: bool = False, retry_after: float | None = None
    ) -> None:
        self.sent: list[Outbound] = []
        self.calls = 0
        self.failures = failures
        self.permanent = permanent
        self.retry_after = retry_after

    def send(self, outbound: Outbound) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            if self.permanent:
                raise PermanentDeliveryError("recipient rejected")
            raise TransientDeliveryError("relay unavailable", retry_after=self.retry_after)
        self.sent.append(outbound)
