"""The queue tabs' counts: capped, and shared for a few seconds by everyone in this process.

A count is the one part of the queue page whose cost grows with the desk: "All" over a
million tickets is a million index entries. Counting stops at ``CAP`` (the tab says
"10,000+"). A count is reused while the desk's queue stamp (:mod:`bot.read.live`, one
cheap query) has not moved, so it is exact; once it moves, a count younger than
``[web] queue_counts_max_age_seconds`` is still reused, so ten agents refreshing their
queues after every change on a busy desk cost one set of counts every few seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from bot.desk.facade import Desk
from bot.model import Actor
from bot.read.queries import TicketFilter

CAP = 10_000
KEPT = 512


class QueueCounts:
    """Called from the desk's worker threads: the cache has a lock of its own."""

    def __init__(self, desk: Desk, max_age: float) -> None:
        self.desk = desk
        self.max_age = max_age
        self._lock = threading.Lock()
        self._kept: dict[TicketFilter, tuple[float, str | None, int]] = {}

    def counts(self, actor: Actor, filters: Sequence[TicketFilter]) -> list[int]:
        now = time.monotonic()
        stamp = self.desk.change_stamp()
        fresh: dict[TicketFilter, int] = {}
        with self._lock:
            for query in filters:
                kept = self._kept.get(query)
                if kept is not None and (kept[1] == stamp or now - kept[0] < self.max_age):
                    fresh[query] = kept[2]
        missing = [f for f in filters if f not in fresh]
        if missing:
            counted = self.desk.count_tickets(actor, missing, cap=CAP)
            with self._lock:
                if len(self._kept) > KEPT:
                    self._kept.clear()
                for query, count in zip(missing, counted, strict=True):
                    self._kept[query] = (now, stamp, count)
                    fresh[query] = count
        return [fresh[f] for f in filters]


def shown(count: int) -> str:
    """How a tab shows its count: exact up to the cap, then "10,000+"."""
    return f"{CAP:,}+" if count > CAP else f"{count:,}"
