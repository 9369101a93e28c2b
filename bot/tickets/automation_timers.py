"""When a ticket must next be looked at for time-based automation rules.

Like the SLA's next check, the instant is kept on the ticket
(``automation_check_at``, indexed) and worked out again on every change, so the
sweep reads only the tickets with a rule due and its cost follows them, not the
tickets open. A rule counts for a ticket only while the conditions the row can
answer hold (a "waiting_customer for 3 days" rule sets no timer on an open
ticket); what the row cannot answer is left for the sweep to decide.

An episode whose time has passed keeps the ticket due: the sweep decides it,
then looks only forward (:func:`next_check` with ``after``). A later change
brings it back once, as the change may have made its conditions hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.rules.conditions import matches
from bot.rules.model import Rule
from bot.rules.timing import due_at, episode_start
from bot.sla import calendar as sla
from bot.store import tables as t
from bot.tickets.facts import NotKnown, TicketFacts, anchors
from bot.unit import Unit


def next_check(
    unit: Unit, ticket: t.Ticket, *, after: datetime | None = None, tags: Sequence[str] | None = None
) -> datetime | None:
    """The earliest instant a time-based rule may fire for ``ticket`` (only those later than
    ``after``, when given); None when none can. ``tags``: those of a ticket being opened,
    not on it yet."""
    timed = unit.rules.automations.timed
    if not timed:
        return None
    facts = TicketFacts(unit, ticket, row_only=True, tags=tags)
    earliest: datetime | None = None
    ticket_anchors = anchors(ticket)
    for rule in timed:
        due = due_of(rule, ticket_anchors, facts)
        if due is None or (after is not None and due <= after):
            continue
        if earliest is not None and due >= earliest:
            continue
        if not _may_hold(rule, facts):
            continue
        earliest = due
    return earliest


def due_of(rule: Rule, ticket_anchors: dict[str, datetime | None], facts: TicketFacts) -> datetime | None:
    """When ``rule``'s current episode for the ticket comes due; None if it has none now."""
    start = episode_start(rule.trigger, ticket_anchors)
    if start is None:
        return None
    if not rule.trigger.business_hours:
        return due_at(rule.trigger, start, None)
    calendar = facts.calendar()
    return due_at(rule.trigger, start, lambda when, seconds: sla.add_business_time(when, seconds, calendar))


def episode_of(rule: Rule, ticket: t.Ticket) -> datetime | None:
    return episode_start(rule.trigger, anchors(ticket))


def _may_hold(rule: Rule, facts: TicketFacts) -> bool:
    try:
        return matches(rule.conditions, facts)
    except NotKnown:
        return True
