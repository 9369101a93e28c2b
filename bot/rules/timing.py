"""When a time rule is due for a ticket.

A time rule fires once per *episode*: the value of its ``since`` instant. When that
instant moves (a new reply, another status change) a new episode begins and the
wait starts again; the caller remembers which episodes have fired.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

from bot.rules.model import Trigger


def episode_start(trigger: Trigger, anchors: Mapping[str, datetime | None]) -> datetime | None:
    """The instant the wait counts from, in UTC; None while the ticket has none (no agent
    reply yet, not resolved), and then the rule has nothing to wait for."""
    if trigger.on != "time" or trigger.since is None:
        raise ValueError(f"only time triggers have episodes, not {trigger.on}")
    start = anchors.get(trigger.since)
    if start is None:
        return None
    if start.tzinfo is None:
        raise ValueError(
            f"time rules need aware datetimes, got naive {start.isoformat()} for {trigger.since}"
        )
    # One instant, one episode, whatever offset the caller's datetime carries.
    return start.astimezone(UTC)


def due_at(
    trigger: Trigger, start: datetime, add_business: Callable[[datetime, float], datetime] | None
) -> datetime:
    """``start`` plus the wait: on the wall clock, or in business hours of the ticket's SLA
    calendar (through ``add_business``) when the rule asks for them."""
    if not trigger.business_hours:
        return start + timedelta(seconds=trigger.seconds)
    if add_business is None:
        raise ValueError("a time rule counted in business hours needs the ticket's calendar (add_business)")
    return add_business(start, float(trigger.seconds))
