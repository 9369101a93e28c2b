"""How many messages are held as suspended mail, for the agents' navigation: shared for
half a minute by everyone in this process.

The number only says whether there is mail to look at; counting it on every queue page
would cost the busiest page a query for nothing. What this process releases or deletes
makes the next page count again at once; mail held meanwhile shows within ``MAX_AGE``.
"""

from __future__ import annotations

import threading
import time

from bot.desk.facade import Desk
from bot.model import Actor

MAX_AGE = 30.0


class HeldCount:
    """Called from the desk's worker threads: the kept number has a lock of its own."""

    def __init__(self, desk: Desk, max_age: float = MAX_AGE) -> None:
        self.desk = desk
        self.max_age = max_age
        self._lock = threading.Lock()
        self._kept: tuple[float, int] | None = None

    def total(self, actor: Actor) -> int:
        """Messages held; for staff pages only (the desk checks the actor when it counts)."""
        with self._lock:
            kept = self._kept
        if kept is not None and time.monotonic() - kept[0] < self.max_age:
            return kept[1]
        return self.keep(self.desk.suspended_counts(actor))

    def keep(self, counts: dict[str, int]) -> int:
        """Counts a page read anyway (the list of held mail): kept for the next pages."""
        total = sum(counts.values())
        with self._lock:
            self._kept = (time.monotonic(), total)
        return total

    def forget(self) -> None:
        """Something was released or deleted here: the next page counts again."""
        with self._lock:
            self._kept = None
