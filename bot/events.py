"""What happened to a ticket, as typed facts: the core records them, subscribers react.

A change (:mod:`bot.tickets.changes`, :mod:`bot.tickets.classify`, the SLA sweep, a partner's
update) publishes one event on its unit of work
(:meth:`bot.unit.Unit.publish`) after it has changed the rows and written its
audit row. Subscribers run at once, inside the same transaction: what they
queue (emails, Slack cards, webhooks, a partner's update) commits or rolls back
with the change, so nothing is lost and a retry sends nothing twice.

Who subscribes is decided in one place each: the core's notifications in
:func:`bot.notify.subscriptions.subscribe` (wired by the desk), ticket sharing
in :func:`bot.sharing.sync.subscribe` (wired by the sharing facade). The core
never names a subscriber; automation rules subscribe to the same events.

Events carry ids and plain values, not rows, so they can be kept, compared
and sent elsewhere; a subscriber reads the rows it needs from the unit's
session (rows of the change are already in it: no extra query).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.model import Actor
from bot.sla.policy import Level


@dataclass(frozen=True, slots=True)
class TicketOpened:
    """A new ticket with its first comment; ``acknowledge`` is False for robots and partners."""

    ticket_id: int
    comment_id: int
    acknowledge: bool


@dataclass(frozen=True, slots=True)
class CommentAdded:
    """A comment that people may hear of (a robot's kept mail is stored but not published)."""

    ticket_id: int
    comment_id: int


@dataclass(frozen=True, slots=True)
class StatusChanged:
    """``announce=False``: the requester is told by another event (:class:`AutoClosed`)."""

    ticket_id: int
    before: str
    after: str
    event_id: int
    actor: Actor
    announce: bool = True


@dataclass(frozen=True, slots=True)
class Assigned:
    """``announce=False``: the assignee already hears of the new ticket itself."""

    ticket_id: int
    assignee_id: int | None
    event_id: int
    actor: Actor
    announce: bool = True


@dataclass(frozen=True, slots=True)
class TicketChanged:
    """Something a ticket's card shows changed: ``what`` is ``priority``, ``category`` or ``sla``."""

    ticket_id: int
    what: str
    actor: Actor


@dataclass(frozen=True, slots=True)
class TagsChanged:
    ticket_id: int
    before: tuple[str, ...]
    after: tuple[str, ...]
    actor: Actor


@dataclass(frozen=True, slots=True)
class Escalated:
    """A person asked for attention now (the ladder's levels are :class:`SlaLevelReached`)."""

    ticket_id: int
    event_id: int
    actor: Actor
    reason: str


@dataclass(frozen=True, slots=True)
class SlaLevelReached:
    """A level of the escalation ladder fired, once per ticket and level."""

    ticket_id: int
    level: Level
    threshold: str


@dataclass(frozen=True, slots=True)
class Merged:
    """``source`` was closed into ``target``; its comments, files and mail threads moved there."""

    source_id: int
    target_id: int
    actor: Actor


@dataclass(frozen=True, slots=True)
class AutoClosed:
    """A resolved ticket closed by the clock (its :class:`StatusChanged` is not announced)."""

    ticket_id: int
    event_id: int


@dataclass(frozen=True, slots=True)
class TicketExpired:
    """An unresolved ticket grew older than ``ticket_expiration_days``; flagged once."""

    ticket_id: int


Event = (
    TicketOpened
    | CommentAdded
    | StatusChanged
    | Assigned
    | TicketChanged
    | TagsChanged
    | Escalated
    | SlaLevelReached
    | Merged
    | AutoClosed
    | TicketExpired
)
