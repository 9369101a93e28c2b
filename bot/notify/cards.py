"""The support channel's card and thread for each change: every ticket, whatever channel it
came from, has one card in Slack's support channel, kept current, with its conversation
in the card's thread. Subscribers to :mod:`bot.events` (wired in
:mod:`bot.notify.subscriptions`); what is queued is :mod:`bot.notify.slack`'s."""

from __future__ import annotations

from bot import events as ev
from bot.notify import slack
from bot.notify.contexts import comment_of, ticket_of
from bot.unit import Unit


def ticket_opened(unit: Unit, event: ev.TicketOpened) -> None:
    ticket, first = ticket_of(unit, event.ticket_id), comment_of(unit, event.comment_id)
    slack.card_posted(unit, ticket)
    if first.body.strip() != ticket.subject.strip():  # a subject-only request: the card says it all
        slack.comment_in_thread(unit, ticket, first)


def comment_added(unit: Unit, event: ev.CommentAdded) -> None:
    slack.comment_in_thread(unit, ticket_of(unit, event.ticket_id), comment_of(unit, event.comment_id))


def ticket_changed(unit: Unit, event: ev.TicketChanged) -> None:
    """Priority, category, team, SLA state or level: all on the card."""
    slack.card_changed(unit, ticket_of(unit, event.ticket_id))


def status_changed(unit: Unit, event: ev.StatusChanged) -> None:
    """An unannounced change (auto-close) updates the card through its own event."""
    if event.announce:
        slack.card_changed(unit, ticket_of(unit, event.ticket_id))


def assigned(unit: Unit, event: ev.Assigned) -> None:
    """An unannounced assignment is a new ticket's, whose card is posted with it."""
    if event.announce:
        slack.card_changed(unit, ticket_of(unit, event.ticket_id))


def merged(unit: Unit, event: ev.Merged) -> None:
    slack.card_changed(unit, ticket_of(unit, event.source_id))
    slack.card_changed(unit, ticket_of(unit, event.target_id))


def escalated(unit: Unit, event: ev.Escalated) -> None:
    """Agents see it in the ticket's thread."""
    ticket = ticket_of(unit, event.ticket_id)
    extra = {"reason": event.reason, "by": {"label": event.actor.label}}
    slack.thread_notice(unit, ticket, "escalated", f"slack:escalated:{event.event_id}", extra)


def sla_level(unit: Unit, reached: ev.SlaLevelReached) -> None:
    """Agents see every level in the ticket's thread (unless the desk turned that kind of
    notice off), whoever else it reaches."""
    level = reached.level
    kind = level.kind
    if not getattr(unit.settings.notifications, kind):
        return
    ticket = ticket_of(unit, reached.ticket_id)
    extra = {"level": {"number": level.number, "threshold": reached.threshold}}
    slack.thread_notice(unit, ticket, kind, f"slack:{kind}:{ticket.id}:{level.number}", extra)


def auto_closed(unit: Unit, event: ev.AutoClosed) -> None:
    slack.card_changed(unit, ticket_of(unit, event.ticket_id))
