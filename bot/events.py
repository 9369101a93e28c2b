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
never names a subscriber; automation rules subscribe to the same events
(:mod:`bot.automation.engine`).
Events come in the order things happen: a new ticket's own setup (routing's
assignment, its Cc followers, a partner's tags) is published before its
:class:`TicketOpened`.

Events carry ids and frozen values (a ladder :class:`~bot.sla.policy.Level` is
one), not rows, so they can be kept, compared and sent elsewhere; a subscriber
reads the rows it needs from the unit's session (rows of the change are already
in it: no extra query).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.model import Actor
from bot.sla.policy import Level


@dataclass(frozen=True, slots=True)
class PlacedChange:
    """One thing a rule set on a new ticket (``field`` from ``before`` to ``after``), or, with
    ``error``, why the rule was skipped; ``dry_run``: what it would have set."""

    action: str
    field: str | None = None
    before: object = None
    after: object = None
    error: str | None = None
    dry_run: bool = False


@dataclass(frozen=True, slots=True)
class TicketOpened:
    """A new ticket with its first comment; ``acknowledge`` is False for robots and partners."""

    ticket_id: int
    comment_id: int
    acknowledge: bool
    # What the "ticket created" automation rules did when placing it (bot.policies.new_ticket),
    # for the rules' own later actions and their log: ``(rule id, changes)`` in the order run.
    placed_by: tuple[tuple[int, tuple[PlacedChange, ...]], ...] = ()


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
    previous_id: int | None = None


@dataclass(frozen=True, slots=True)
class TicketChanged:
    """Something a ticket's card shows changed: its priority, its category (and with it
    perhaps its team), its team, or its SLA state or escalation level (the sweep's, ``actor``
    system)."""

    ticket_id: int
    what: Literal["priority", "category", "team", "sla"]
    actor: Actor
    # As the ticket shows them: a priority, a category's path, a team's name, an SLA status.
    before: str | None = None
    after: str | None = None


@dataclass(frozen=True, slots=True)
class TagsChanged:
    ticket_id: int
    before: tuple[str, ...]
    after: tuple[str, ...]
    actor: Actor


@dataclass(frozen=True, slots=True)
class FieldChanged:
    """A custom field's value changed (``None``: not set); the card does not show fields."""

    ticket_id: int
    key: str
    before: object
    after: object
    actor: Actor


@dataclass(frozen=True, slots=True)
class FollowersAdded:
    """People copied on a new ticket follow it (they hear of agents' replies)."""

    ticket_id: int
    person_ids: tuple[int, ...]
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
    # The source's status before the merge closed it.
    before: str


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
    | FieldChanged
    | FollowersAdded
    | Escalated
    | SlaLevelReached
    | Merged
    | AutoClosed
    | TicketExpired
)
